/** The Hono app: routes, JSON 404, and an error handler that turns every failure into {error} without a stack. */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "./admin-auth.ts";
import { errorBody, ServiceError } from "./errors.ts";
import { logEvent } from "./log.ts";
import { adminRoutes } from "./routes/admin.ts";
import { metaRoutes } from "./routes/meta.ts";
import { scoreRoutes } from "./routes/score.ts";

export const app = new Hono<AppEnv>();

app.route("/", scoreRoutes);
app.route("/", metaRoutes);
app.route("/", adminRoutes);

app.notFound((c) => c.json(errorBody("not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), 404));

app.onError((err, c) => {
  if (err instanceof ServiceError) {
    if (err.status >= 500) logEvent("error", "request_failed", { code: err.code, message: err.message, path: c.req.path });
    return c.json(errorBody(err.code, err.message), err.status);
  }
  if (err instanceof HTTPException) return c.json(errorBody("http_error", err.message || "request rejected"), err.status);
  // Unexpected: log the details, answer without them.
  logEvent("error", "unhandled_error", { path: c.req.path, name: err.name, message: err.message, stack: err.stack });
  return c.json(errorBody("internal_error", "the request could not be processed"), 500);
});
