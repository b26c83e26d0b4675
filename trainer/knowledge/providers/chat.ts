/**
 * Chat-completion clients: OpenAI-compatible (/v1/chat/completions: OpenAI, vLLM, Ollama, Workers AI's /ai/v1, ...)
 * and Workers AI's native REST endpoint. API keys come from environment variables only.
 */
import { UserFacingError } from "../../util/errors.ts";
import { MalformedResponseError, ProviderRefusedError, postJson, type RequestHooks, type RetryPolicy } from "./http.ts";

export interface ChatClient {
  /** Provider and model, e.g. "openai:gpt-4o-mini"; part of every cache key. */
  readonly name: string;
  complete(prompt: string): Promise<string>;
}

export interface ChatOptions {
  model: string;
  temperature?: number;
  maxTokens?: number;
  system?: string;
  policy?: RetryPolicy;
  hooks?: RequestHooks;
  /** Environment to read keys from; default process.env (tests pass their own). */
  env?: Record<string, string | undefined>;
}

const DEFAULT_SYSTEM = "You are a knowledgeable assistant for a recommender system. Answer factually and concisely.";

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === "127.0.0.1" || host === "localhost" || host === "[::1]";
}

function messages(opts: ChatOptions, prompt: string) {
  return [
    { role: "system", content: opts.system ?? DEFAULT_SYSTEM },
    { role: "user", content: prompt },
  ];
}

export interface OpenAIChatOptions extends ChatOptions {
  /** Base URL up to and including /v1; default https://api.openai.com/v1. */
  baseUrl?: string;
  /** Environment variable holding the key; default OPENAI_API_KEY. Optional for loopback servers. */
  apiKeyEnv?: string;
}

export function createOpenAIChat(opts: OpenAIChatOptions): ChatClient {
  const baseUrl = (opts.baseUrl ?? "https://api.openai.com/v1").replace(/\/+$/, "");
  const keyEnv = opts.apiKeyEnv ?? "OPENAI_API_KEY";
  const key = (opts.env ?? process.env)[keyEnv];
  if (!key && !isLoopback(baseUrl)) throw new UserFacingError(`set ${keyEnv} to call ${baseUrl}`);
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  return {
    name: `openai:${opts.model}`,
    complete: (prompt) =>
      postJson(
        {
          url: `${baseUrl}/chat/completions`,
          headers,
          body: {
            model: opts.model,
            messages: messages(opts, prompt),
            temperature: opts.temperature ?? 0,
            max_tokens: opts.maxTokens ?? 800,
          },
        },
        (json) => {
          const content = (json as { choices?: { message?: { content?: unknown } }[] })?.choices?.[0]?.message?.content;
          if (typeof content !== "string" || content.trim() === "")
            throw new MalformedResponseError("chat answer has no choices[0].message.content");
          return content;
        },
        opts.policy,
        opts.hooks,
      ),
  };
}

export interface WorkersAiChatOptions extends ChatOptions {
  /** Default https://api.cloudflare.com/client/v4. */
  baseUrl?: string;
  /** Default from CLOUDFLARE_ACCOUNT_ID. */
  accountId?: string;
  /** Environment variable holding the API token; default CLOUDFLARE_API_TOKEN. */
  apiTokenEnv?: string;
}

/** Resolves account and token for Workers AI REST calls (shared with the embedding encoder). */
export function workersAiTarget(opts: {
  baseUrl?: string;
  accountId?: string;
  apiTokenEnv?: string;
  env?: Record<string, string | undefined>;
}) {
  const env = opts.env ?? process.env;
  const baseUrl = (opts.baseUrl ?? "https://api.cloudflare.com/client/v4").replace(/\/+$/, "");
  const accountId = opts.accountId ?? env.CLOUDFLARE_ACCOUNT_ID;
  if (!accountId) throw new UserFacingError("set CLOUDFLARE_ACCOUNT_ID (or pass an account id) to call Workers AI");
  const tokenEnv = opts.apiTokenEnv ?? "CLOUDFLARE_API_TOKEN";
  const token = env[tokenEnv];
  if (!token) throw new UserFacingError(`set ${tokenEnv} (a token with Workers AI permission) to call Workers AI`);
  return { runUrl: (model: string) => `${baseUrl}/accounts/${accountId}/ai/run/${model}`, headers: { authorization: `Bearer ${token}` } };
}

/**
 * Unwraps Cloudflare's {result, success, errors} envelope. success: false (even with HTTP 200) is a refusal no retry
 * fixes; its messages may quote the request, so postJson redacts them like every other error.
 */
export function cloudflareResult(json: unknown): unknown {
  const envelope = json as { result?: unknown; success?: boolean; errors?: { code?: unknown; message?: unknown }[] };
  if (envelope?.success === false) {
    const errors = Array.isArray(envelope.errors) ? envelope.errors : [];
    const why = errors.map((e) => [e?.code, e?.message].filter((x) => x !== undefined).join(" ")).join("; ");
    throw new ProviderRefusedError(`Workers AI refused the request: ${why.slice(0, 300) || "no reason given"}`);
  }
  if (envelope?.result === undefined) throw new MalformedResponseError("Workers AI answer has no result");
  return envelope.result;
}

export function createWorkersAiChat(opts: WorkersAiChatOptions): ChatClient {
  const target = workersAiTarget(opts);
  return {
    name: `workers-ai:${opts.model}`,
    complete: (prompt) =>
      postJson(
        {
          url: target.runUrl(opts.model),
          headers: target.headers,
          body: { messages: messages(opts, prompt), max_tokens: opts.maxTokens ?? 800, temperature: opts.temperature ?? 0 },
        },
        (json) => {
          const response = (cloudflareResult(json) as { response?: unknown }).response;
          if (typeof response !== "string" || response.trim() === "")
            throw new MalformedResponseError("Workers AI answer has no result.response text");
          return response;
        },
        opts.policy,
        opts.hooks,
      ),
  };
}
