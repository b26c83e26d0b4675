/** Bearer-token check against the ADMIN_TOKEN secret, for admin routes and the variant override header. */
import type { Context, MiddlewareHandler } from "hono";
import { secretsEqual } from "./crypto-util.ts";
import type { Env } from "./env.ts";
import { errorBody } from "./errors.ts";

export type AppEnv = { Bindings: Env };

/** True only when a secret is configured and the request's bearer token equals it. */
export async function hasAdminToken<E extends AppEnv>(c: Context<E>): Promise<boolean> {
  const expected = c.env.ADMIN_TOKEN;
  if (!expected) return false;
  const match = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "");
  if (!match) return false;
  return secretsEqual(match[1].trim(), expected);
}

export const requireAdmin: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!c.env.ADMIN_TOKEN) return c.json(errorBody("admin_disabled", "admin routes are disabled: the ADMIN_TOKEN secret is not set"), 503);
  if (!(await hasAdminToken(c))) {
    c.header("www-authenticate", 'Bearer realm="kser-admin"');
    return c.json(errorBody("unauthorized", "a valid admin bearer token is required"), 401);
  }
  await next();
};
