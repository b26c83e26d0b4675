/** A user's stored profile (attributes, recent history) from KV; a missing or corrupt one counts as empty. */

import { kvKeys } from "../../shared/kv-keys.ts";
import { formatIssues } from "../../shared/manifest.ts";
import { type UserProfile, userProfileSchema } from "../../shared/user-profile.ts";
import { errorMessage, logEvent } from "./log.ts";

export async function loadProfile(kv: KVNamespace, userId: string): Promise<UserProfile | null> {
  const key = kvKeys.userProfile(userId);
  const text = await kv.get(key, "text");
  if (text === null) return null;
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
