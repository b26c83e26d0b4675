/**
 * Shared machinery of the API-backed encoders: batches, bounded concurrency, a resumable JSONL cache keyed by
 * hash(model, text), answer checks (one vector of `dim` finite numbers per text) made inside the request so a bad
 * answer is retried like a 5xx, and optional L2 normalisation (so remote vectors live on the same scale as the hash
 * encoder's).
 */
import { createHash } from "node:crypto";
import { JsonlCache } from "../providers/cache.ts";
import { type JsonRequest, MalformedResponseError, postJson, type RequestHooks, type RetryPolicy } from "../providers/http.ts";
import { mapPool } from "../providers/pool.ts";
import type { KnowledgeEncoder } from "./types.ts";

/** What every API-backed encoder's caller can set, besides the provider's own options. */
export interface RemoteEncoderCallerOptions {
  /** Texts per request, within what the provider allows. */
  batchSize?: number;
  /** Requests in flight; default 4. */
  concurrency?: number;
  cachePath?: string;
  /** L2-normalise returned vectors; default true. */
  normalize?: boolean;
  policy?: RetryPolicy;
  hooks?: RequestHooks;
  /** Called after each finished batch with (texts done, texts due). */
  onProgress?: (done: number, total: number) => void;
  env?: Record<string, string | undefined>;
}

/** What the provider decides: its name, the vector size, the batch size it allows, its request and answer. */
export interface RemoteEncoderProvider {
  name: string;
  dim: number;
  /** Texts per request. */
  batchSize: number;
  /** The request that embeds one batch of texts. */
  request(texts: string[]): JsonRequest;
  /** The answer's vectors, in input order; throws MalformedResponseError when the answer has none. */
  vectors(json: unknown): unknown[];
}

/** The vectors of an answer to `count` texts, or MalformedResponseError (retried) naming what is wrong. */
export function checkVectors(name: string, vectors: unknown[], count: number, dim: number): number[][] {
  if (vectors.length !== count) throw new MalformedResponseError(`${name}: ${vectors.length} vectors for ${count} texts`);
  vectors.forEach((v, b) => {
    if (!Array.isArray(v) || v.length !== dim || !v.every((x) => typeof x === "number" && Number.isFinite(x))) {
      const got = Array.isArray(v) ? `${v.length} values` : v === null ? "null" : typeof v;
      throw new MalformedResponseError(`${name}: vector ${b} is not ${dim} finite numbers (got ${got})`);
    }
  });
  return vectors as number[][];
}

/** An encoder over a provider's API; the provider's name, size and batch size win over the caller's. */
export function createRemoteEncoder(caller: RemoteEncoderCallerOptions, provider: RemoteEncoderProvider): KnowledgeEncoder {
  const opts = { ...caller, ...provider };
  const key = (text: string) => createHash("sha256").update(opts.name).update("\u0000").update(text).digest("hex").slice(0, 24);
  return {
    name: opts.name,
    dim: opts.dim,
    async encode(texts: string[]): Promise<Float32Array> {
      const d = opts.dim;
      const out = new Float32Array(texts.length * d);
      const cache = opts.cachePath ? JsonlCache.open<number[]>(opts.cachePath) : undefined;
      try {
        const due: number[] = [];
        texts.forEach((text, i) => {
          const hit = cache?.get(key(text));
          if (hit && hit.length === d) out.set(hit, i * d);
          else due.push(i);
        });
        const batches: number[][] = [];
        for (let s = 0; s < due.length; s += opts.batchSize) batches.push(due.slice(s, s + opts.batchSize));
        let done = 0;
        await mapPool(batches, opts.concurrency ?? 4, async (batch) => {
          const vectors = await postJson(
            opts.request(batch.map((i) => texts[i])),
            (json) => checkVectors(opts.name, opts.vectors(json), batch.length, d),
            opts.policy,
            opts.hooks,
          );
          vectors.forEach((v, b) => {
            cache?.set(key(texts[batch[b]]), v);
            out.set(v, batch[b] * d);
          });
          done += batch.length;
          opts.onProgress?.(done, due.length);
        });
      } finally {
        cache?.close();
      }
      if (opts.normalize ?? true) {
        for (let r = 0; r < texts.length; r++) {
          let norm = 0;
          for (let j = 0; j < d; j++) norm += out[r * d + j] ** 2;
          if (norm > 0) for (let j = 0; j < d; j++) out[r * d + j] /= Math.sqrt(norm);
        }
      }
      return out;
    },
  };
}
