/**
 * Embeddings from Workers AI over Cloudflare's REST API: @cf/baai/bge-base-en-v1.5 (768-d) by default, at most 100
 * texts per request. mean and cls pooling give incompatible vectors, so the pooling is part of the encoder name.
 */
import { cloudflareResult, workersAiTarget } from "../providers/chat.ts";
import { MalformedResponseError } from "../providers/http.ts";
import { createRemoteEncoder, type RemoteEncoderCallerOptions } from "./remote.ts";
import type { KnowledgeEncoder } from "./types.ts";

export const WORKERS_AI_MAX_BATCH = 100;

export interface WorkersAiEmbeddingOptions extends RemoteEncoderCallerOptions {
  model?: string;
  dim?: number;
  pooling?: "mean" | "cls";
  baseUrl?: string;
  accountId?: string;
  apiTokenEnv?: string;
}

export function createWorkersAiEmbeddings(opts: WorkersAiEmbeddingOptions = {}): KnowledgeEncoder {
  const model = opts.model ?? "@cf/baai/bge-base-en-v1.5";
  const pooling = opts.pooling ?? "mean";
  const target = workersAiTarget(opts);
  return createRemoteEncoder(opts, {
    name: `workers-ai:${model}:${pooling}`,
    dim: opts.dim ?? 768,
    batchSize: Math.min(opts.batchSize ?? WORKERS_AI_MAX_BATCH, WORKERS_AI_MAX_BATCH),
    request: (texts) => ({ url: target.runUrl(model), headers: target.headers, body: { text: texts, pooling } }),
    vectors: (json) => {
      const result = cloudflareResult(json) as { data?: unknown };
      if (!Array.isArray(result?.data)) throw new MalformedResponseError("Workers AI embedding answer has no result.data");
      return result.data;
    },
  });
}
