/**
 * One exposure event per scored request: to Analytics Engine when the ANALYTICS binding exists (writeDataPoint is
 * non-blocking, so it is not awaited), else as a structured JSON log line.
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

export function recordExposure(env: Env, e: Exposure): void {
  const k = e.knowledge;
  if (env.ANALYTICS) {
    env.ANALYTICS.writeDataPoint({
      indexes: [indexFor(e.userId)],
      blobs: ["exposure", e.variant, e.modelId, e.userId.slice(0, 256), e.assignedVariant, k.user],
      doubles: [e.candidates, e.bucket, e.fallback ? 1 : 0, e.forced ? 1 : 0, k.itemsPrecomputed, k.itemsFallback, k.itemsMissing],
    });
    return;
  }
  console.log(JSON.stringify({ level: "info", event: "exposure", ts: new Date().toISOString(), ...e }));
}
