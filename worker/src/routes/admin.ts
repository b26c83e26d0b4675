/** Admin routes (bearer ADMIN_TOKEN): the live rollout with bucket ranges, a user's assignment, cache flush. */
import { Hono } from "hono";
import { z } from "zod";
import { idSchema } from "../../../shared/ids.ts";
import { kvKeys } from "../../../shared/kv-keys.ts";
import { identifier } from "../../../shared/manifest.ts";
import { BUCKETS, variantRanges } from "../../../shared/rollout.ts";
import { scoreRequestSchema } from "../../../shared/score-api.ts";
import { type AppEnv, requireAdmin } from "../admin-auth.ts";
import { settingsOf } from "../env.ts";
import { ModelLoadError, ServiceError } from "../errors.ts";
import { logEvent } from "../log.ts";
import type { LoadedModel } from "../model-loader.ts";
import { jsonBodyLimit, parseRequest, readJsonBody } from "../request-body.ts";
import { RequestReads } from "../request-reads.ts";
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
  const userId = parseRequest(z.object({ userId: idSchema }), { userId: c.req.query("userId") }).userId;
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
    loadTimings: models.loadTimings(),
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
/** The score request's userId and candidates (same rules and limits), and what to time. */
const benchRequestSchema = (maxCandidates: number) =>
  z.object({
    userId: idSchema,
    candidates: scoreRequestSchema(maxCandidates).shape.candidates,
    modelId: identifier.optional(),
    repeats: z.number().int().min(1).max(1000).default(1),
    stage: z.enum(["backbone", "inputs"]).default("backbone"),
  });

adminRoutes.post("/v1/admin/bench/backbone", jsonBodyLimit, async (c) => {
  const settings = settingsOf(c.env);
  const body = parseRequest(benchRequestSchema(settings.maxCandidates), await readJsonBody(c.req));
  const { models, shards, rollout, profiles } = servicesFor(settings);
  const kv = c.env.KSER_KV;
  const reads = new RequestReads();
  const modelId = body.modelId ?? chooseVariant(await rollout.get(kv, settings.rolloutCacheMs), body.userId).variant.modelId;
  const timed = async (model: LoadedModel) => {
    const profile = await profiles.get(kv, model.manifest.profiles, body.userId, settings.profileCacheMs);
    const input = {
      userId: body.userId,
      attributes: profile?.attributes ?? {},
      history: profile?.history ?? [],
      candidates: body.candidates,
    };
    const { feeds } = await backboneInputs(model, kv, reads, shards, input);
    const started = Date.now();
    let checksum = 0;
    for (let r = 0; r < body.repeats; r++) {
      if (body.stage === "backbone") checksum += (await runBackbone(model, feeds))[0];
      else checksum += (await backboneInputs(model, kv, reads, shards, input)).knowledge.itemsPrecomputed;
    }
    return { workerMs: Date.now() - started, checksum };
  };
  let result: { workerMs: number; checksum: number };
  try {
    result = await models.use(kv, modelId, reads, timed);
  } catch (e) {
    if (!(e instanceof ModelLoadError)) throw e;
    if (e.kind === "missing") throw new ServiceError(404, "unknown_model", `no model ${modelId} is published (${e.reason})`);
    throw new ServiceError(503, "model_unavailable", e.message);
  }
  const { stage, repeats } = body;
  return c.json({ modelId, stage, candidates: body.candidates.length, repeats, ...result });
});

adminRoutes.post("/v1/admin/cache/flush", async (c) => {
  const flushed = flushServices();
  logEvent("info", "cache_flushed", flushed);
  return c.json({ flushed });
});
