/** Workers KV's limits on keys and values (cloudflare-platform.md §2), checked before anything is written. */
export const MAX_KEY_BYTES = 512;
export const MAX_VALUE_BYTES = 25 * 1024 * 1024;

const encoder = new TextEncoder();

/** Why a key is not a valid KV key, or null. */
export function keyProblem(key: string): string | null {
  if (key.length === 0 || key === "." || key === "..") return "empty, '.' or '..'";
  if (encoder.encode(key).length > MAX_KEY_BYTES) return `longer than ${MAX_KEY_BYTES} bytes`;
  return null;
}
