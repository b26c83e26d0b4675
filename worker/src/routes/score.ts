/** POST /v1/score: validate, pick the variant, load its model (or the fallback's), score, log the exposure. */
import { Hono } from "hono";
import type { ModelManifest } from "../../../shared/manifest.ts";
import type { RolloutConfig, RolloutVariant } from "../../../shared/rollout.ts";
import { MODEL_HEADER, OVERRIDE_HEADER, type ScoreResponse, scoreRequestSchema, VARIANT_HEADER } from "../../../shared/score-api.ts";
import type { UserProfile } from "../../../shared/user-profile.ts";
import { type AppEnv, hasAdminToken } from "../admin-auth.ts";
import { settingsOf } from "../env.ts";
import { ServiceError } from "../errors.ts";
import { recordExposure } from "../exposure.ts";
import { countingKv } from "../kv-metrics.ts";
import { errorMessage, logRepeated } from "../log.ts";
import { jsonBodyLimit, parseRequest, readJsonBody } from "../request-body.ts";
import { RequestReads } from "../request-reads.ts";
import { chooseVariant, fallbackVariant, type VariantChoice } from "../rollout.ts";
import { type ScoreResult, scoreCandidates, warmKnowledge } from "../scorer.ts";
import { servicesFor } from "../services.ts";
import { StageTimer } from "../timing.ts";

export const FALLBACK_HEADER = "x-kser-fallback";
/**
 * With an admin token, `x-kser-debug: kv` adds x-kser-kv-reads: this request's KV reads (kv-metrics.ts), as JSON;
 * `x-kser-debug: timing` adds a Server-Timing header with the request's stages (timing.ts); `kv,timing` both.
 */
export const DEBUG_HEADER = "x-kser-debug";
export const KV_READS_HEADER = "x-kser-kv-reads";
export const SERVER_TIMING_HEADER = "server-timing";

export const scoreRoutes = new Hono<AppEnv>();

/** The request's waitUntil, or undefined where there is no execution context (Hono throws on access then). */
function waitUntilOf(c: { executionCtx: { waitUntil(p: Promise<unknown>): void } }): ((p: Promise<unknown>) => void) | undefined {
  try {
    const ctx = c.executionCtx;
    return (p) => ctx.waitUntil(p);
  } catch {
    return undefined;
  }
}

scoreRoutes.post("/v1/score", jsonBodyLimit, async (c) => {
  const timer = new StageTimer();
  const settings = settingsOf(c.env);
  const { models, shards, rollout, profiles } = servicesFor(settings);
  const counted = countingKv(c.env.KSER_KV);
  const kv = counted.kv;
  const reads = new RequestReads();

  const req = parseRequest(scoreRequestSchema(settings.maxCandidates), await readJsonBody(c.req));
  timer.mark("parse");

  const forcedName = c.req.header(OVERRIDE_HEADER);
  if (forcedName !== undefined && !(await hasAdminToken(c))) {
    throw new ServiceError(403, "forbidden", `${OVERRIDE_HEADER} is honoured only with a valid admin bearer token`);
  }

  const config = await rollout.get(kv, settings.rolloutCacheMs);
  const choice = chooseVariant(config, req.userId, forcedName);
  const needsProfile = req.attributes === undefined || req.history === undefined;
  timer.mark("context");

  const attempt = (variant: RolloutVariant): Promise<ScoreResult> => {
    // The profile comes from the set this model's manifest names; read once per attempt, started as early as possible.
    let profileRead: Promise<UserProfile | null> | undefined;
    const readProfile = (m: ModelManifest) =>
      (profileRead ??= needsProfile ? profiles.get(kv, m.profiles, req.userId, settings.profileCacheMs) : Promise.resolve(null));
    return models.use(
      kv,
      variant.modelId,
      reads,
      async (model) => {
        const profile = await readProfile(model.manifest);
        timer.mark("model");
        const input = {
          userId: req.userId,
          attributes: { ...(profile?.attributes ?? {}), ...(req.attributes ?? {}) },
          history: req.history ?? profile?.history ?? [],
          candidates: req.candidates,
        };
        return scoreCandidates(model, kv, reads, shards, input, timer);
      },
      // A cold model: its manifest is enough to start this request's profile and knowledge reads while the
      // sessions are created.
      (manifest) => {
        warmKnowledge(manifest, kv, reads, shards, req.userId, req.candidates);
        readProfile(manifest).catch(() => undefined);
      },
    );
  };
  const { served, result, fellBack } = await scoreWithFallback(config, choice, attempt);
  const text = JSON.stringify(responseBody(req.candidates, served, result));
  timer.mark("respond");
  const waitUntil = waitUntilOf(c);
  recordExposure(
    c.env,
    {
      userId: req.userId,
      variant: served.name,
      assignedVariant: choice.variant.name,
      modelId: served.modelId,
      bucket: choice.bucket,
      candidates: req.candidates.length,
      fallback: fellBack,
      forced: choice.forced,
      knowledge: result.knowledge,
    },
    waitUntil,
  );
  timer.mark("exposure");
  // The other live variants' models load after the response (uncounted KV: not this request's reads).
  waitUntil?.(
    models.prefetch(
      c.env.KSER_KV,
      config.variants.map((v) => v.modelId),
      reads,
    ),
  );
  c.header(VARIANT_HEADER, served.name);
  c.header(MODEL_HEADER, served.modelId);
  if (fellBack) c.header(FALLBACK_HEADER, choice.variant.name);
  const debug = c.req
    .header(DEBUG_HEADER)
    ?.split(",")
    .map((s) => s.trim());
  if (debug && (await hasAdminToken(c))) {
    if (debug.includes("kv")) c.header(KV_READS_HEADER, JSON.stringify(counted.stats));
    if (debug.includes("timing")) c.header(SERVER_TIMING_HEADER, timer.header());
  }
  c.header("content-type", "application/json");
  return c.body(text);
});

/** Scores with the chosen variant, else (unless it was forced) with the rollout's fallback; 503 when neither serves. */
async function scoreWithFallback(
  config: RolloutConfig,
  choice: VariantChoice,
  attempt: (variant: RolloutVariant) => Promise<ScoreResult>,
): Promise<{ served: RolloutVariant; result: ScoreResult; fellBack: boolean }> {
  const served = choice.variant;
  try {
    return { served, result: await attempt(served), fellBack: false };
  } catch (e) {
    // A forced variant is a QA request for that exact model: report its failure instead of hiding it.
    const fallback = choice.forced ? undefined : fallbackVariant(config, served);
    logFailure("variant_failed", served, e, { fallback: fallback?.name ?? null });
    if (!fallback) throw new ServiceError(503, "model_unavailable", `variant ${served.name} (model ${served.modelId}) cannot be served`);
    try {
      return { served: fallback, result: await attempt(fallback), fellBack: true };
    } catch (e2) {
      logFailure("fallback_failed", fallback, e2);
      throw new ServiceError(503, "model_unavailable", `variant ${served.name} and fallback ${fallback.name} cannot be served`);
    }
  }
}

/** One log line per distinct failure of a variant (logRepeated: a broken model fails every request that needs it). */
function logFailure(event: string, variant: RolloutVariant, e: unknown, extra: Record<string, unknown> = {}): void {
  const reason = errorMessage(e);
  logRepeated("error", event, `${variant.name}\u0000${variant.modelId}\u0000${reason}`, {
    variant: variant.name,
    modelId: variant.modelId,
    reason,
    ...extra,
  });
}

function responseBody(candidates: string[], served: RolloutVariant, result: ScoreResult): ScoreResponse {
  const scores = Array.from(result.scores, (s) => Math.fround(s));
  const ranked = candidates.map((itemId, i) => ({ itemId, score: scores[i], i }));
  ranked.sort((a, b) => b.score - a.score || a.i - b.i);
  return {
    scores,
    ranked: ranked.map(({ itemId, score }) => ({ itemId, score })),
    variant: served.name,
    modelId: served.modelId,
    knowledge: result.knowledge,
  };
}
