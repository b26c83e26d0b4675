/**
 * One exposure event per scored request: to Analytics Engine when the ANALYTICS binding exists (writeDataPoint is
 * non-blocking, so it is not awaited), else as structured JSON log lines, batched because a console.log on every
 * request shows in its latency (the `exposure` stage of `x-kser-debug: timing`): events are buffered per isolate and
 * written as one line `{"event":"exposures","count":n,"events":[...]}` once EXPOSURE_BATCH events are waiting or
 * EXPOSURE_FLUSH_MS after the first one. The request that puts the first event into an empty buffer keeps itself
 * alive with a waitUntil on its own timer and writes whatever is waiting when that fires; no request ever waits on
 * a promise or timer of another (workerd would cancel it with the other request). Without an execution context
 * (waitUntil) each event is logged at once.
 * Layout: index1 = user id (hashed when over the 96-byte index limit); blobs = event, variant, model id, user id,
 * assigned variant; doubles = candidates, bucket, fallback (0/1), forced (0/1), items precomputed / fallback / missing.
 */
import { hash32 } from "../../shared/hash.ts";
import type { Env } from "./env.ts";

export interface Exposure {
  userId: string;
  variant: string;
  assignedVariant: string;
  modelId: string;
  bucket: number;
  candidates: number;
  fallback: boolean;
  forced: boolean;
  knowledge: { user: string; itemsPrecomputed: number; itemsFallback: number; itemsMissing: number };
}

const MAX_INDEX_BYTES = 96;

export function indexFor(userId: string): string {
  return new TextEncoder().encode(userId).length <= MAX_INDEX_BYTES ? userId : `h:${hash32(userId).toString(16)}`;
}

/** Events per batched log line, and the longest an event waits for its line. */
export const EXPOSURE_BATCH = 32;
export const EXPOSURE_FLUSH_MS = 1000;

let pending: (Exposure & { ts: string })[] = [];

function writeBatch(): void {
  if (pending.length === 0) return;
  const events = pending;
  pending = [];
  console.log(JSON.stringify({ level: "info", event: "exposures", count: events.length, events }));
}

export function recordExposure(env: Env, e: Exposure, waitUntil?: (p: Promise<unknown>) => void): void {
  const k = e.knowledge;
  if (env.ANALYTICS) {
    env.ANALYTICS.writeDataPoint({
      indexes: [indexFor(e.userId)],
      blobs: ["exposure", e.variant, e.modelId, e.userId.slice(0, 256), e.assignedVariant, k.user],
      doubles: [e.candidates, e.bucket, e.fallback ? 1 : 0, e.forced ? 1 : 0, k.itemsPrecomputed, k.itemsFallback, k.itemsMissing],
    });
    return;
  }
  const event = { ...e, ts: new Date().toISOString() };
  if (!waitUntil) {
    console.log(JSON.stringify({ level: "info", event: "exposure", ...event }));
    return;
  }
  pending.push(event);
  if (pending.length >= EXPOSURE_BATCH) writeBatch();
  // This request opened the batch: it writes it when its own timer fires, unless a full batch was written first
  // (then it writes the next batch early, which only shortens that batch's wait).
  else if (pending.length === 1) waitUntil(new Promise<void>((resolve) => setTimeout(resolve, EXPOSURE_FLUSH_MS)).then(writeBatch));
}
