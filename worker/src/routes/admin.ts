/** Admin routes (bearer ADMIN_TOKEN): the live rollout with bucket ranges, a user's assignment, cache flush. */
import { Hono } from "hono";
import { kvKeys } from "../../../shared/kv-keys.ts";
import { BUCKETS, variantRanges } from "../../../shared/rollout.ts";
import { type AppEnv, requireAdmin } from "../admin-auth.ts";
import { settingsOf } from "../env.ts";
import { ServiceError } from "../errors.ts";
import { logEvent } from "../log.ts";
import { chooseVariant } from "../rollout.ts";
import { flushServices, servicesFor } from "../services.ts";

export const adminRoutes = new Hono<AppEnv>();

adminRoutes.use("/v1/admin/*", requireAdmin);

adminRoutes.get("/v1/admin/rollout", async (c) => {
  const settings = settingsOf(c.env);
  const config = await servicesFor(settings).rollout.get(c.env.KSER_KV, 0);
  const history = await c.env.KSER_KV.get(kvKeys.rolloutHistory(), "json").catch(() => null);
  return c.json({ config, buckets: BUCKETS, ranges: variantRanges(config), historyLength: Array.isArray(history) ? history.length : 0 });
});

adminRoutes.get("/v1/admin/assignment", async (c) => {
  const userId = c.req.query("userId");
  if (!userId) throw new ServiceError(400, "invalid_request", "query parameter userId is required");
  const settings = settingsOf(c.env);
  const config = await servicesFor(settings).rollout.get(c.env.KSER_KV, settings.rolloutCacheMs);
  const { variant, bucket } = chooseVariant(config, userId);
  return c.json({ userId, bucket, variant: variant.name, modelId: variant.modelId });
});

adminRoutes.get("/v1/admin/cache", (c) => {
  const { models, shards } = servicesFor(settingsOf(c.env));
  return c.json({ models: models.loadedIds(), shards: shards.stats() });
});

adminRoutes.post("/v1/admin/cache/flush", async (c) => {
  const flushed = await flushServices();
  logEvent("info", "cache_flushed", flushed);
  return c.json({ flushed });
});
