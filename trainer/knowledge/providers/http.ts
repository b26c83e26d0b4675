/**
 * JSON-over-HTTP with the retry discipline remote model APIs need: per-request timeout, exponential backoff with
 * jitter on 408/425/429/5xx, network errors, timeouts and malformed answers, and the server's retry-after honoured
 * (capped) when it sends one. Answers that no retry can fix (400, 401, 402, 403, 404, a Workers AI envelope with
 * success: false) are fatal: the caller stops its run at once.
 *
 * Every error leaving postJson is a ProviderError whose message went through the redactor: credentials travel only
 * in the headers given by the caller, and a server that echoes them back (in an error body, a malformed answer or a
 * success: false envelope) cannot carry them into a log line, an error or a stack trace.
 */
import { UserFacingError } from "../../util/errors.ts";
import { createRedactor, type Redactor } from "../../util/redact.ts";

export interface RetryPolicy {
  /** Retries after the first attempt; default DEFAULT_RETRY_POLICY.retries. */
  retries?: number;
  /** First backoff delay, doubling per retry. */
  baseDelayMs?: number;
  /** Cap of one backoff delay (and of an honoured retry-after). */
  maxDelayMs?: number;
  /** Per-attempt timeout. */
  timeoutMs?: number;
}

export const DEFAULT_RETRY_POLICY: Required<RetryPolicy> = { retries: 5, baseDelayMs: 500, maxDelayMs: 60_000, timeoutMs: 60_000 };

export interface RetryInfo {
  /** The attempt about to be made (2 = the first retry). */
  attempt: number;
  /** Attempts allowed in all (retries + 1). */
  attempts: number;
  delayMs: number;
  /** What went wrong with the previous attempt (redacted). */
  reason: string;
}

export interface RequestHooks {
  /** Called before each retry (for logs); never receives headers. */
  onRetry?: (info: RetryInfo) => void;
  /** Injected for tests of timing; defaults to setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** Exit code of a CLI run stopped by a provider (fatal answer, or retries used up); shared by generate and encode. */
export const PROVIDER_EXIT_CODE = 3;

/** A provider call that failed. `retryable` says whether another attempt could succeed; `fatal` errors stop the run. */
export class ProviderError extends UserFacingError {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly retryable: boolean,
    readonly fatal = false,
  ) {
    super(message, PROVIDER_EXIT_CODE);
    this.name = "ProviderError";
  }
}

export class HttpError extends ProviderError {
  constructor(message: string, status: number | undefined, retryable: boolean, fatal = false) {
    super(message, status, retryable, fatal);
    this.name = "HttpError";
  }
}

/** A 2xx answer that is not what the API promises (bad JSON, missing fields, wrong vector count or length): retried. */
export class MalformedResponseError extends ProviderError {
  constructor(message: string) {
    super(message, undefined, true);
    this.name = "MalformedResponseError";
  }
}

/** A 2xx answer in which the API says it refused the request (Workers AI's success: false): fatal. */
export class ProviderRefusedError extends ProviderError {
  constructor(message: string) {
    super(message, undefined, false, true);
    this.name = "ProviderRefusedError";
  }
}

/** Statuses retried: the server may answer differently later. */
const RETRYABLE_STATUS = new Set([408, 425, 429]);
/** Statuses no request of the run can get past (bad request, key, payment, permission, unknown model or route). */
const FATAL_STATUS = new Set([400, 401, 402, 403, 404]);

export function isFatal(error: unknown): boolean {
  return error instanceof ProviderError && error.fatal;
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

function snippet(text: string, length = 300): string {
  return text.replace(/\s+/g, " ").slice(0, length);
}

export interface JsonRequest {
  url: string;
  body: unknown;
  headers?: Record<string, string>;
}

/** The redactor for a request: the values of its headers (with and without "Bearer "), plus credential patterns. */
export function requestRedactor(headers: Record<string, string> = {}): Redactor {
  return createRedactor(Object.values(headers).flatMap((v) => [v, v.replace(/^Bearer\s+/i, "")]));
}

/** Any error of one attempt as a ProviderError with a redacted message. */
function asProviderError(error: unknown, target: string, timeoutMs: number, redact: Redactor): ProviderError {
  const err = error as Error;
  if (err?.name === "AbortError" || err?.name === "TimeoutError")
    return new HttpError(`${target}: no answer within ${timeoutMs} ms`, undefined, true);
  if (err instanceof ProviderError) {
    err.message = redact(err.message);
    if (err.stack) err.stack = redact(err.stack);
    return err;
  }
  if (err instanceof TypeError) {
    // fetch's network failures (refused, reset, DNS) are TypeErrors with the reason in cause.
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : "";
    return new HttpError(redact(`${target}: ${err.message}${cause}`), undefined, true);
  }
  // Anything else came out of the caller's parse: a bug, not retried, and still no place for a credential.
  return new ProviderError(redact(`${target}: ${err instanceof Error ? err.message : String(err)}`), undefined, false);
}

/**
 * POSTs JSON and returns parse(answer). parse throws MalformedResponseError (retried) for answers of the wrong
 * shape and ProviderRefusedError (fatal) for refusals; any other error it throws is reported, not retried.
 */
export async function postJson<T>(
  request: JsonRequest,
  parse: (json: unknown) => T,
  policy: RetryPolicy = {},
  hooks: RequestHooks = {},
): Promise<T> {
  const { retries, baseDelayMs, maxDelayMs, timeoutMs } = { ...DEFAULT_RETRY_POLICY, ...definedOnly(policy) };
  const sleep = hooks.sleep ?? defaultSleep;
  const random = hooks.random ?? Math.random;
  const redact = requestRedactor(request.headers);
  const target = (() => {
    const u = new URL(request.url);
    return `${u.origin}${u.pathname}`;
  })();
  let lastError: ProviderError = new ProviderError("no attempt made", undefined, false);
  let attempts = 0;
  for (let attempt = 0; attempt <= retries; attempt++) {
    attempts = attempt + 1;
    let retryAfterMs: number | undefined;
    try {
      const response = await fetch(request.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...request.headers },
        body: JSON.stringify(request.body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await response.text();
      if (response.ok) {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          throw new MalformedResponseError(`${target}: answer is not JSON: ${snippet(text, 120)}`);
        }
        return parse(json);
      }
      retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
      const status = response.status;
      throw new HttpError(
        `${target}: HTTP ${status}: ${snippet(text)}`,
        status,
        RETRYABLE_STATUS.has(status) || status >= 500,
        FATAL_STATUS.has(status),
      );
    } catch (error) {
      lastError = asProviderError(error, target, timeoutMs, redact);
      if (!lastError.retryable || attempt === retries) break;
      const backoff = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt) * (0.5 + 0.5 * random());
      const delayMs = retryAfterMs !== undefined ? Math.min(maxDelayMs, retryAfterMs) : backoff;
      hooks.onRetry?.({ attempt: attempt + 2, attempts: retries + 1, delayMs, reason: lastError.message });
      await sleep(delayMs);
    }
  }
  lastError.message = `${lastError.message} (${attempts} attempt${attempts > 1 ? "s" : ""})`;
  throw lastError;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A retry line for people watching a run: what failed, how long the client waits, which attempt comes next. */
export function describeRetry(what: string, info: RetryInfo): string {
  return `${what}: waiting ${(info.delayMs / 1000).toFixed(1)} s before attempt ${info.attempt}/${info.attempts} after: ${info.reason}`;
}
