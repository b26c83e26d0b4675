/**
 * Users' stored profiles (attributes, recent history) from KV, kept per isolate for a short time. A missing or
 * corrupt profile counts as empty (and is cached as absent too: the KV read costs the same). Profiles are read from
 * the profile set the serving model's manifest names (manifest.profiles.set): a publish in progress writes a new
 * set, never the one a live model reads. A model without a set has no stored profiles.
 *
 * Why a cache: a user's requests come in bursts (a feed page, then the next), and each profile read is a KV round
 * trip on the request's path and a billed read. What it costs: a profile changed in KV is
 * seen up to PROFILE_CACHE_MS later in an isolate that has it. KV itself already serves reads from edge caches
 * that may be up to 60 s old, so the default (10 s) adds little; callers that need the newest history send
 * `history` in the request, which bypasses the stored profile. PROFILE_CACHE_MS = 0 turns the cache off.
 */

import { kvKeys } from "../../shared/kv-keys.ts";
import { formatIssues, type ModelManifest } from "../../shared/manifest.ts";
import { type UserProfile, userProfileSchema } from "../../shared/user-profile.ts";
import { ByteLru } from "./byte-lru.ts";
import { errorMessage, logEvent, logRepeated } from "./log.ts";

/** Bytes of profile JSON kept per isolate: thousands of users' profiles of a few attributes and a short history. */
export const PROFILE_CACHE_BYTES = 4 * 1024 * 1024;

export class ProfileStore {
  private readonly cache = new ByteLru<{ profile: UserProfile | null; at: number }>(PROFILE_CACHE_BYTES);

  /** Requests answered from the cache, and profile reads from KV. */
  private hits = 0;
  private kvReads = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async get(kv: KVNamespace, profiles: ModelManifest["profiles"], userId: string, ttlMs: number): Promise<UserProfile | null> {
    if (!profiles) return null;
    const key = kvKeys.userProfile(profiles.set, userId);
    if (ttlMs > 0) {
      const hit = this.cache.get(key);
      if (hit && this.now() - hit.at < ttlMs) {
        this.hits++;
        return hit.profile;
      }
    }
    this.kvReads++;
    let text: string | null;
    try {
      text = await kv.get(key, "text");
    } catch (e) {
      // A KV failure is not the user's fault: score as for an unknown user, and read again next time.
      logRepeated("warn", "profile_unreadable", errorMessage(e), { key, reason: errorMessage(e) });
      return null;
    }
    const profile = text === null ? null : parseProfile(key, text);
    // Keyed by KV key; the bytes count the key too, so a flood of unknown ids cannot outgrow the budget.
    if (ttlMs > 0) this.cache.set(key, { profile, at: this.now() }, (text?.length ?? 0) + key.length + 64);
    return profile;
  }

  clear(): void {
    this.cache.clear();
  }

  stats() {
    const { entries, bytes, budget } = this.cache.stats();
    return { entries, bytes, budget, hits: this.hits, kvReads: this.kvReads };
  }
}

function parseProfile(key: string, text: string): UserProfile | null {
  try {
    const parsed = userProfileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(formatIssues(parsed.error.issues));
    return parsed.data;
  } catch (e) {
    // A bad profile should not fail scoring: the request is scored as for an unknown user.
    logEvent("warn", "profile_corrupt", { key, reason: errorMessage(e) });
    return null;
  }
}
