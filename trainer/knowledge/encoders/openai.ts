/** Embeddings from an OpenAI-compatible /v1/embeddings endpoint (OpenAI, vLLM, Workers AI's /ai/v1, ...). */
import { UserFacingError } from "../../util/errors.ts";
import { MalformedResponseError } from "../providers/http.ts";
import { createRemoteEncoder, type RemoteEncoderCallerOptions } from "./remote.ts";
import type { KnowledgeEncoder } from "./types.ts";

const KNOWN_DIMS: Record<string, number> = {
  "text-embedding-3-small": 1536,
  "text-embedding-3-large": 3072,
  "text-embedding-ada-002": 1536,
  "@cf/baai/bge-base-en-v1.5": 768,
};

export interface OpenAIEmbeddingOptions extends RemoteEncoderCallerOptions {
  model: string;
  /** Required unless the model is a known one. */
  dim?: number;
  /** Base URL up to and including /v1; default https://api.openai.com/v1. */
  baseUrl?: string;
  /** Default OPENAI_API_KEY; optional for loopback servers. */
  apiKeyEnv?: string;
}

export function createOpenAIEmbeddings(opts: OpenAIEmbeddingOptions): KnowledgeEncoder {
  const baseUrl = (opts.baseUrl ?? "https://api.openai.com/v1").replace(/\/+$/, "");
  const dim = opts.dim ?? KNOWN_DIMS[opts.model];
  if (!dim) throw new UserFacingError(`embedding dimension of ${opts.model} is unknown: pass it (--dim)`);
  const keyEnv = opts.apiKeyEnv ?? "OPENAI_API_KEY";
  const key = (opts.env ?? process.env)[keyEnv];
  const host = new URL(baseUrl).hostname;
  if (!key && host !== "127.0.0.1" && host !== "localhost") throw new UserFacingError(`set ${keyEnv} to call ${baseUrl}`);
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  return createRemoteEncoder(opts, {
    name: `openai:${opts.model}`,
    dim,
    batchSize: opts.batchSize ?? 100,
    request: (texts) => ({ url: `${baseUrl}/embeddings`, headers, body: { model: opts.model, input: texts } }),
    vectors: (json) => {
      const data = (json as { data?: { embedding?: unknown; index?: unknown }[] })?.data;
      if (!Array.isArray(data)) throw new MalformedResponseError("embeddings answer has no data array");
      // The API may return items out of order; index says where each belongs.
      const sorted = data.slice().sort((a, b) => Number(a?.index ?? 0) - Number(b?.index ?? 0));
      return sorted.map((item) => item?.embedding);
    },
  });
}
