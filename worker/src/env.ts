/** The Worker's bindings and vars (wrangler.toml), and their parsed settings. */
export interface Env extends KserBindings {}

interface KserBindings {
  KSER_KV: KVNamespace;
  /** Optional: exposure events go to the console when it is absent. */
  ANALYTICS?: AnalyticsEngineDataset;
  /** Secret; admin routes and the variant override are disabled without it. */
  ADMIN_TOKEN?: string;
  MAX_CANDIDATES?: string;
  MAX_BODY_BYTES?: string;
  ROLLOUT_CACHE_MS?: string;
  SHARD_CACHE_BYTES?: string;
  PROFILE_CACHE_MS?: string;
}

export interface Settings {
  maxCandidates: number;
  maxBodyBytes: number;
  rolloutCacheMs: number;
  shardCacheBytes: number;
  profileCacheMs: number;
}

function intVar(raw: string | undefined, fallback: number, min: number): number {
  const n = raw === undefined || raw === "" ? Number.NaN : Number(raw);
  return Number.isInteger(n) && n >= min ? n : fallback;
}

/** Vars are strings; a missing or malformed one falls back to its default rather than failing every request. */
export function settingsOf(env: Env): Settings {
  return {
    maxCandidates: intVar(env.MAX_CANDIDATES, 1000, 1),
    maxBodyBytes: intVar(env.MAX_BODY_BYTES, 1_048_576, 1024),
    rolloutCacheMs: intVar(env.ROLLOUT_CACHE_MS, 5000, 0),
    shardCacheBytes: intVar(env.SHARD_CACHE_BYTES, 32 * 1024 * 1024, 0),
    profileCacheMs: intVar(env.PROFILE_CACHE_MS, 10_000, 0),
  };
}

declare global {
  namespace Cloudflare {
    // Lets tests type `env` from "cloudflare:workers" as this Worker's Env.
    interface Env extends KserBindings {}
  }
}
