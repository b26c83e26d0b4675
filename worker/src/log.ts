/** One JSON object per line, so Workers Logs / `wrangler tail` can filter by event and fields. */
export function logEvent(level: "info" | "warn" | "error", event: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ level, event, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));
