/**
 * The live rollout config from KV (briefly cached per isolate) and the choice of variant for a request: sticky
 * bucketing from shared/rollout.ts, or an admin-forced variant.
 */
import { kvKeys } from "../../shared/kv-keys.ts";
import { assignVariant, bucketOf, parseRolloutConfig, type RolloutConfig, type RolloutVariant } from "../../shared/rollout.ts";
import { ServiceError } from "./errors.ts";
import { errorMessage, logRepeated } from "./log.ts";

export class RolloutSource {
  private cached: { config: RolloutConfig; at: number } | undefined;

  /** The config; throws a 503 ServiceError when it is missing or invalid (nothing can be served without it). */
  async get(kv: KVNamespace, ttlMs: number): Promise<RolloutConfig> {
    if (this.cached && Date.now() - this.cached.at < ttlMs) return this.cached.config;
    const key = kvKeys.rolloutConfig();
    const text = await kv.get(key, "text");
    if (text === null) {
      logRepeated("error", "rollout_missing", key, { key });
      throw new ServiceError(503, "rollout_unavailable", `no rollout config at ${key}`);
    }
    let config: RolloutConfig;
    try {
      config = parseRolloutConfig(JSON.parse(text));
    } catch (e) {
      // Keep serving the last good config when the new one is broken, rather than going down.
      if (this.cached) {
        logRepeated("error", "rollout_corrupt_using_previous", errorMessage(e), { key, reason: errorMessage(e) });
        return this.cached.config;
      }
      logRepeated("error", "rollout_corrupt", errorMessage(e), { key, reason: errorMessage(e) });
      throw new ServiceError(503, "rollout_unavailable", `the rollout config at ${key} is invalid`);
    }
    this.cached = { config, at: Date.now() };
    return config;
  }

  clear(): void {
    this.cached = undefined;
  }
}

export interface VariantChoice {
  variant: RolloutVariant;
  bucket: number;
  forced: boolean;
}

export function chooseVariant(config: RolloutConfig, userId: string, forcedName?: string): VariantChoice {
  const bucket = bucketOf(userId, config.salt);
  if (forcedName !== undefined) {
    const variant = config.variants.find((v) => v.name === forcedName);
    if (!variant) {
      throw new ServiceError(
        400,
        "unknown_variant",
        `variant ${forcedName} is not in the rollout config (${config.variants.map((v) => v.name).join(", ")})`,
      );
    }
    return { variant, bucket, forced: true };
  }
  return { variant: assignVariant(config, userId), bucket, forced: false };
}

export function fallbackVariant(config: RolloutConfig, failed: RolloutVariant): RolloutVariant | undefined {
  if (!config.fallback || config.fallback === failed.name) return undefined;
  return config.variants.find((v) => v.name === config.fallback);
}
