/** POST /v1/score: validate, pick the variant, load its model (or the fallback's), score, log the exposure. */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { formatIssues } from "../../../shared/manifest.ts";
import type { RolloutVariant } from "../../../shared/rollout.ts";
import { MODEL_HEADER, OVERRIDE_HEADER, type ScoreResponse, scoreRequestSchema, VARIANT_HEADER } from "../../../shared/score-api.ts";
import { type AppEnv, hasAdminToken } from "../admin-auth.ts";
import { settingsOf } from "../env.ts";
import { ServiceError } from "../errors.ts";
import { recordExposure } from "../exposure.ts";
import { countingKv } from "../kv-metrics.ts";
import { errorMessage, logEvent } from "../log.ts";
import { chooseVariant, fallbackVariant } from "../rollout.ts";
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

scoreRoutes.post(
  "/v1/score",
  (c, next) =>
    bodyLimit({
      maxSize: settingsOf(c.env).maxBodyBytes,
      onError: () => {
        throw new ServiceError(413, "payload_too_large", `request body is over ${settingsOf(c.env).maxBodyBytes} bytes`);
      },
    })(c, next),
  async (c) => {
    const timer = new StageTimer();
    const settings = settingsOf(c.env);
    const { models, shards, rollout, profiles } = servicesFor(settings);
    const counted = countingKv(c.env.KSER_KV);
    const kv = counted.kv;

    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch {
      throw new ServiceError(400, "invalid_json", "request body is not valid JSON");
    }
    const parsed = scoreRequestSchema(settings.maxCandidates).safeParse(body);
    if (!parsed.success) {
      const tooMany = parsed.error.issues.some((i) => i.path[0] === "candidates" && i.code === "too_big");
      throw new ServiceError(400, tooMany ? "too_many_candidates" : "invalid_request", formatIssues(parsed.error.issues));
    }
    const req = parsed.data;
    timer.mark("parse");

    const forcedName = c.req.header(OVERRIDE_HEADER);
    if (forcedName !== undefined && !(await hasAdminToken(c))) {
      throw new ServiceError(403, "forbidden", `${OVERRIDE_HEADER} is honoured only with a valid admin bearer token`);
    }

    const config = await rollout.get(kv, settings.rolloutCacheMs);
    const choice = chooseVariant(config, req.userId, forcedName);
    const needsProfile = req.attributes === undefined || req.history === undefined;
    timer.mark("context");

    const attempt = async (variant: RolloutVariant): Promise<ScoreResult> => {
      const loading = models.get(kv, variant.modelId);
      // A cold model: its manifest is enough to start this request's profile and knowledge reads while the
      // sessions are created. The profile comes from the set this model's manifest names.
      const manifest = models.loadingManifest(variant.modelId);
      manifest?.then((m) => warmKnowledge(m, kv, shards, req.userId, req.candidates)).catch(() => undefined);
      const reading = needsProfile
        ? (manifest ?? loading.then((m) => m.manifest)).then((m) => profiles.get(kv, m.profiles, req.userId, settings.profileCacheMs))
        : Promise.resolve(null);
      reading.catch(() => undefined); // a failed model load is reported through `loading`
      const [model, profile] = await Promise.all([loading, reading]);
      timer.mark("model");
      const input = {
        userId: req.userId,
        attributes: { ...(profile?.attributes ?? {}), ...(req.attributes ?? {}) },
        history: req.history ?? profile?.history ?? [],
        candidates: req.candidates,
      };
      return scoreCandidates(model, kv, shards, input, timer);
    };
    let served = choice.variant;
    let result: ScoreResult;
    let fellBack = false;
    try {
      result = await attempt(served);
    } catch (e) {
      const reason = errorMessage(e);
      // A forced variant is a QA request for that exact model: report its failure instead of hiding it.
      const fallback = choice.forced ? undefined : fallbackVariant(config, served);
      logEvent("error", "variant_failed", { variant: served.name, modelId: served.modelId, reason, fallback: fallback?.name ?? null });
      if (!fallback) throw new ServiceError(503, "model_unavailable", `variant ${served.name} (model ${served.modelId}) cannot be served`);
      try {
        result = await attempt(fallback);
      } catch (e2) {
        logEvent("error", "fallback_failed", { variant: fallback.name, modelId: fallback.modelId, reason: errorMessage(e2) });
        throw new ServiceError(503, "model_unavailable", `variant ${served.name} and fallback ${fallback.name} cannot be served`);
      }
      served = fallback;
      fellBack = true;
    }

    const scores = Array.from(result.scores, (s) => Math.fround(s));
    const ranked = req.candidates.map((itemId, i) => ({ itemId, score: scores[i], i }));
    ranked.sort((a, b) => b.score - a.score || a.i - b.i);
    const response: ScoreResponse = {
      scores,
      ranked: ranked.map(({ itemId, score }) => ({ itemId, score })),
      variant: served.name,
      modelId: served.modelId,
      knowledge: result.knowledge,
    };
    const text = JSON.stringify(response);
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
  },
);
