/** One JSON object per line, so Workers Logs / `wrangler tail` can filter by event and fields. */
export function logEvent(level: "info" | "warn" | "error", event: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ level, event, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** A repeated log line (same event and `key`) is written at most once per this many ms per isolate. */
export const LOG_REPEAT_MS = 10_000;
const lastWritten = new Map<string, { at: number; suppressed: number }>();
const MAX_TRACKED = 1000;

/**
 * logEvent for lines a fault repeats on every request (a corrupt rollout config, a broken model): the first one is
 * written, the same one again only after LOG_REPEAT_MS, with `suppressed` counting those left out in between.
 */
export function logRepeated(
  level: "info" | "warn" | "error",
  event: string,
  key: string,
  fields: Record<string, unknown> = {},
  now = Date.now(),
): void {
  const id = `${event}\u0000${key}`;
  const seen = lastWritten.get(id);
  if (seen && now - seen.at < LOG_REPEAT_MS) {
    seen.suppressed++;
    return;
  }
  if (!seen && lastWritten.size >= MAX_TRACKED) lastWritten.delete(lastWritten.keys().next().value as string);
  lastWritten.set(id, { at: now, suppressed: 0 });
  logEvent(level, event, seen?.suppressed ? { ...fields, suppressed: seen.suppressed } : fields);
}

/** Forgets which lines were written (a cache flush starts over, so the next fault is logged at once). */
export function resetRepeatedLogs(): void {
  lastWritten.clear();
}
