/**
 * POST /v1/score: validate, pick the variant, score (scoring-service.ts: the model, or the fallback's), answer with
 * the scores and the ranking, log the exposure, then prefetch the rollout's other models in the background.
 */
import { type Context, Hono } from "hono";
import { MODEL_HEADER, OVERRIDE_HEADER, type ScoreResponse, scoreRequestSchema, VARIANT_HEADER } from "../../../shared/score-api.ts";
import { type AppEnv, hasAdminToken } from "../admin-auth.ts";
import { debugHeaders } from "../debug-headers.ts";
import { settingsOf } from "../env.ts";
import { ServiceError } from "../errors.ts";
import { type Exposure, recordExposure } from "../exposure.ts";
import { jsonBodyLimit, parseRequest, readJsonBody } from "../request-body.ts";
import { RequestReads } from "../request-reads.ts";
import { chooseVariant, type VariantChoice } from "../rollout.ts";
import { type Scored, scoreWithFallback } from "../scoring-service.ts";
import { servicesFor } from "../services.ts";

export const FALLBACK_HEADER = "x-kser-fallback";

export const scoreRoutes = new Hono<AppEnv>();

scoreRoutes.post("/v1/score", jsonBodyLimit, debugHeaders, async (c) => {
  const { timer, kv } = c.var;
  const settings = settingsOf(c.env);
  const services = servicesFor(settings);
  const reads = new RequestReads();

  const request = parseRequest(scoreRequestSchema(settings.maxCandidates), await readJsonBody(c.req));
  timer.mark("parse");
  const forcedName = await forcedVariantName(c);
  const config = await services.rollout.get(kv, settings.rolloutCacheMs);
  const choice = chooseVariant(config, request.userId, forcedName);
  timer.mark("context");

  const scored = await scoreWithFallback({ services, settings, kv, reads, timer }, config, choice, request);
  const text = JSON.stringify(responseBody(request.candidates, scored));
  timer.mark("respond");
  const waitUntil = waitUntilOf(c);
  recordExposure(c.env, exposureOf(request, choice, scored), waitUntil);
  timer.mark("exposure");
  // The other live variants' models load after the response (uncounted KV: not this request's reads).
  waitUntil?.(
    services.models.prefetch(
      c.env.KSER_KV,
      config.variants.map((v) => v.modelId),
      reads,
    ),
  );
  c.header(VARIANT_HEADER, scored.served.name);
  c.header(MODEL_HEADER, scored.served.modelId);
  if (scored.fellBack) c.header(FALLBACK_HEADER, choice.variant.name);
  c.header("content-type", "application/json");
  return c.body(text);
});

/** The variant named by the override header, which only an admin may send (403 otherwise); undefined without it. */
async function forcedVariantName<E extends AppEnv>(c: Context<E>): Promise<string | undefined> {
  const name = c.req.header(OVERRIDE_HEADER);
  if (name !== undefined && !(await hasAdminToken(c))) {
    throw new ServiceError(403, "forbidden", `${OVERRIDE_HEADER} is honoured only with a valid admin bearer token`);
  }
  return name;
}

/** The request's waitUntil, or undefined where there is no execution context (Hono throws on access then). */
function waitUntilOf(c: { executionCtx: { waitUntil(p: Promise<unknown>): void } }): ((p: Promise<unknown>) => void) | undefined {
  try {
    const ctx = c.executionCtx;
    return (p) => ctx.waitUntil(p);
  } catch {
    return undefined;
  }
}

function responseBody(candidates: string[], { served, result }: Scored): ScoreResponse {
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

/** The exposure of a scored request: the variant that answered, the one the rollout assigned, the knowledge used. */
function exposureOf(request: { userId: string; candidates: string[] }, choice: VariantChoice, scored: Scored): Exposure {
  return {
    userId: request.userId,
    variant: scored.served.name,
    assignedVariant: choice.variant.name,
    modelId: scored.served.modelId,
    bucket: choice.bucket,
    candidates: request.candidates.length,
    fallback: scored.fellBack,
    forced: choice.forced,
    knowledge: scored.result.knowledge,
  };
}
