/** Admin routes (bearer ADMIN_TOKEN): the live rollout with bucket ranges, a user's assignment, cache flush. */
import { Hono } from "hono";
import { kvKeys } from "../../../shared/kv-keys.ts";
import { BUCKETS, variantRanges } from "../../../shared/rollout.ts";
import { type AppEnv, requireAdmin } from "../admin-auth.ts";
import { settingsOf } from "../env.ts";
import { ServiceError } from "../errors.ts";
import { logEvent } from "../log.ts";
import { chooseVariant } from "../rollout.ts";
import { backboneInputs, runBackbone } from "../scorer.ts";
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

adminRoutes.get("/v1/admin/cache", async (c) => {
  const settings = settingsOf(c.env);
  const { models, shards, profiles } = servicesFor(settings);
  return c.json({
    models: models.loadedIds(),
    loadTimings: await models.loadTimings(),
    shards: shards.stats(),
    profiles: { ...profiles.stats(), ttlMs: settings.profileCacheMs },
  });
});

/**
 * Model-only timing: builds the backbone inputs of a score request once (the same code path as /v1/score), then runs
 * the backbone session `repeats` times back to back; with stage "inputs" it repeats building those inputs instead
 * (encoding, user extractor, shard lookups and item extractor: everything of a score request before the backbone). performance.now/Date.now do not advance during CPU work on
 * Cloudflare (only across I/O), so the caller should time this route from outside with two repeat counts and divide
 * the difference; workerMs is reported for local runs, where the clock does advance.
 */
adminRoutes.post("/v1/admin/bench/backbone", async (c) => {
  const body = (await c.req.json().catch(() => null)) as {
    userId?: unknown;
    candidates?: unknown;
    modelId?: unknown;
    repeats?: unknown;
    stage?: unknown;
  } | null;
  const stage = body?.stage ?? "backbone";
  if (stage !== "backbone" && stage !== "inputs") throw new ServiceError(400, "invalid_request", 'stage must be "backbone" or "inputs"');
  const repeats = Number(body?.repeats ?? 1);
  if (!body || typeof body.userId !== "string" || !Array.isArray(body.candidates) || !body.candidates.every((x) => typeof x === "string")) {
    throw new ServiceError(400, "invalid_request", "body needs userId, candidates (strings), optional modelId and repeats");
  }
  if (!Number.isInteger(repeats) || repeats < 1 || repeats > 1000)
    throw new ServiceError(400, "invalid_request", "repeats must be 1..1000");
  const settings = settingsOf(c.env);
  const { models, shards, rollout, profiles } = servicesFor(settings);
  const kv = c.env.KSER_KV;
  const modelId =
    typeof body.modelId === "string"
      ? body.modelId
      : chooseVariant(await rollout.get(kv, settings.rolloutCacheMs), body.userId).variant.modelId;
  const model = await models.get(kv, modelId);
  const profile = await profiles.get(kv, model.manifest.profiles, body.userId, settings.profileCacheMs);
  const input = {
    userId: body.userId,
    attributes: profile?.attributes ?? {},
    history: profile?.history ?? [],
    candidates: body.candidates as string[],
  };
  const { feeds } = await backboneInputs(model, kv, shards, input);
  const started = Date.now();
  let checksum = 0;
  for (let r = 0; r < repeats; r++) {
    if (stage === "backbone") checksum += (await runBackbone(model, feeds))[0];
    else checksum += (await backboneInputs(model, kv, shards, input)).knowledge.itemsPrecomputed;
  }
  return c.json({ modelId, stage, candidates: input.candidates.length, repeats, workerMs: Date.now() - started, checksum });
});

adminRoutes.post("/v1/admin/cache/flush", async (c) => {
  const flushed = await flushServices();
  logEvent("info", "cache_flushed", flushed);
  return c.json({ flushed });
});
