/**
 * JSON-over-HTTP with the retry discipline remote model APIs need: per-request timeout, exponential backoff with
 * jitter on 429/5xx/network errors/malformed answers, and the server's retry-after honoured when it sends one.
 * Credentials travel only in the headers given by the caller and never appear in errors.
 */

export interface RetryPolicy {
  /** Retries after the first attempt; default 5. */
  retries?: number;
  /** First backoff delay; default 500 ms, doubling per retry. */
  baseDelayMs?: number;
  /** Cap of one backoff delay (and of an honoured retry-after); default 60 s. */
  maxDelayMs?: number;
  /** Per-attempt timeout; default 60 s. */
  timeoutMs?: number;
}

export interface RequestHooks {
  /** Called before each retry (for logs); never receives headers. */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
  /** Injected for tests of timing; defaults to setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export class HttpError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** A 2xx answer that is not what the API promises (bad JSON, missing fields, wrong vector length). */
export class MalformedResponseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedResponseError";
  }
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** retry-after as seconds or an HTTP date, in milliseconds; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function snippet(text: string, secrets: string[]): string {
  let out = text.replace(/\s+/g, " ").slice(0, 300);
  for (const s of secrets) if (s.length >= 6) out = out.split(s).join("[redacted]");
  return out;
}

export interface JsonRequest {
  url: string;
  body: unknown;
  headers?: Record<string, string>;
}

/**
 * POSTs JSON and returns parse(answer). parse throws MalformedResponseError (retried) for answers of the wrong
 * shape, or any other error (not retried).
 */
export async function postJson<T>(
  request: JsonRequest,
  parse: (json: unknown) => T,
  policy: RetryPolicy = {},
  hooks: RequestHooks = {},
): Promise<T> {
  const retries = policy.retries ?? 5;
  const base = policy.baseDelayMs ?? 500;
  const cap = policy.maxDelayMs ?? 60_000;
  const timeoutMs = policy.timeoutMs ?? 60_000;
  const sleep = hooks.sleep ?? defaultSleep;
  const random = hooks.random ?? Math.random;
  const secrets = Object.values(request.headers ?? {}).flatMap((v) => [v, v.replace(/^Bearer\s+/i, "")]);
  const target = (() => {
    const u = new URL(request.url);
    return `${u.origin}${u.pathname}`;
  })();
  let lastError: Error = new Error("no attempt made");
  let attempts = 0;
  for (let attempt = 0; attempt <= retries; attempt++) {
    attempts = attempt + 1;
    let retryAfterMs: number | undefined;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const response = await fetch(request.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...request.headers },
        body: JSON.stringify(request.body),
        signal: controller.signal,
      });
      const text = await response.text();
      if (response.ok) {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          throw new MalformedResponseError(`${target}: answer is not JSON: ${snippet(text, secrets).slice(0, 120)}`);
        }
        return parse(json);
      }
      const retryable = response.status === 429 || response.status >= 500;
      retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
      throw new HttpError(`${target}: HTTP ${response.status}: ${snippet(text, secrets)}`, response.status, retryable);
    } catch (error) {
      const err = error as Error;
      if (err.name === "AbortError") lastError = new HttpError(`${target}: no answer within ${timeoutMs} ms`, undefined, true);
      else if (err instanceof HttpError || err instanceof MalformedResponseError) lastError = err;
      else if (err instanceof TypeError)
        lastError = new HttpError(`${target}: ${err.message}${err.cause ? ` (${(err.cause as Error).message})` : ""}`, undefined, true);
      else throw err;
      const retryable = lastError instanceof MalformedResponseError || (lastError as HttpError).retryable;
      if (!retryable || attempt === retries) break;
      const backoff = Math.min(cap, base * 2 ** attempt) * (0.5 + 0.5 * random());
      const delayMs = retryAfterMs !== undefined ? Math.min(cap, Math.max(retryAfterMs, 0)) : backoff;
      hooks.onRetry?.({ attempt: attempt + 1, delayMs, reason: lastError.message });
      await sleep(delayMs);
    } finally {
      clearTimeout(timer);
    }
  }
  lastError.message = `${lastError.message} (${attempts} attempt${attempts > 1 ? "s" : ""})`;
  throw lastError;
}
