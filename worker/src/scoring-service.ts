/**
 * Scores one request with the variant the rollout chose, else (unless the variant was forced) with the rollout's
 * fallback; 503 model_unavailable when neither serves. The user's stored profile, read from the profile set the
 * serving model's manifest names, fills in what the request leaves out.
 */
import type { ModelManifest } from "../../shared/manifest.ts";
import type { RolloutConfig, RolloutVariant } from "../../shared/rollout.ts";
import type { ScoreRequest } from "../../shared/score-api.ts";
import type { UserProfile } from "../../shared/user-profile.ts";
import type { Settings } from "./env.ts";
import { ServiceError } from "./errors.ts";
import { errorMessage, logRepeated } from "./log.ts";
import type { RequestReads } from "./request-reads.ts";
import { fallbackVariant, type VariantChoice } from "./rollout.ts";
import { type ScoreResult, scoreCandidates, warmKnowledge } from "./scorer.ts";
import type { Services } from "./services.ts";
import type { StageTimer } from "./timing.ts";

/** What one request scores with: the isolate's services, and its own KV binding, reads and timer. */
export interface RequestScope {
  services: Services;
  settings: Settings;
  kv: KVNamespace;
  reads: RequestReads;
  timer: StageTimer;
}

export interface Scored {
  served: RolloutVariant;
  result: ScoreResult;
  /** The chosen variant failed and the rollout's fallback answered. */
  fellBack: boolean;
}

export async function scoreWithFallback(
  scope: RequestScope,
  config: RolloutConfig,
  choice: VariantChoice,
  request: ScoreRequest,
): Promise<Scored> {
  const served = choice.variant;
  try {
    return { served, result: await scoreWithVariant(scope, served, request), fellBack: false };
  } catch (e) {
    // A forced variant is a QA request for that exact model: report its failure instead of hiding it.
    const fallback = choice.forced ? undefined : fallbackVariant(config, served);
    logFailure("variant_failed", served, e, { fallback: fallback?.name ?? null });
    if (!fallback) throw new ServiceError(503, "model_unavailable", `variant ${served.name} (model ${served.modelId}) cannot be served`);
    try {
      return { served: fallback, result: await scoreWithVariant(scope, fallback, request), fellBack: true };
    } catch (e2) {
      logFailure("fallback_failed", fallback, e2);
      throw new ServiceError(503, "model_unavailable", `variant ${served.name} and fallback ${fallback.name} cannot be served`);
    }
  }
}

/** Scores with one variant's model, loading it when this isolate has not; throws when it cannot be served. */
function scoreWithVariant(scope: RequestScope, variant: RolloutVariant, request: ScoreRequest): Promise<ScoreResult> {
  const { services, settings, kv, reads, timer } = scope;
  const needsProfile = request.attributes === undefined || request.history === undefined;
  // Read once per variant, started as early as the manifest allows.
  let profileRead: Promise<UserProfile | null> | undefined;
  const readProfile = (m: ModelManifest) =>
    (profileRead ??= needsProfile ? services.profiles.get(kv, m.profiles, request.userId, settings.profileCacheMs) : Promise.resolve(null));
  return services.models.use(
    kv,
    variant.modelId,
    reads,
    async (model) => {
      const profile = await readProfile(model.manifest);
      timer.mark("model");
      const input = {
        userId: request.userId,
        attributes: { ...(profile?.attributes ?? {}), ...(request.attributes ?? {}) },
        history: request.history ?? profile?.history ?? [],
        candidates: request.candidates,
      };
      return scoreCandidates(model, kv, reads, services.shards, input, timer);
    },
    // A cold model: its manifest is enough to start this request's profile and knowledge reads while the sessions
    // are created.
    (manifest) => {
      warmKnowledge(manifest, kv, reads, services.shards, request.userId, request.candidates);
      readProfile(manifest).catch(() => undefined);
    },
  );
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
