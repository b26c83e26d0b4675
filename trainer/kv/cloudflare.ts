/**
 * The Cloudflare target: a client for the Workers KV REST API (cloudflare-platform.md §2).
 * Writes go through PUT /bulk (binary values base64-encoded), batched within 10,000 pairs and 100 MB per request;
 * 429 and 5xx are retried with exponential backoff that honours retry-after, and keys the API reports as
 * unsuccessful are re-sent. The API token only ever goes into the Authorization header: every message this
 * module logs or throws passes through the redactor first.
 */
import { UserFacingError } from "../util/errors.ts";
import { createRedactor, type Redactor, redactError } from "../util/redact.ts";
import { keyProblem, MAX_VALUE_BYTES } from "./limits.ts";
import type { KvPair, KvTarget } from "./types.ts";

export const CLOUDFLARE_API_BASE = "https://api.cloudflare.com/client/v4";
export const MAX_PAIRS_PER_BULK = 10_000;
/** Keys per POST /bulk/get (text values only). */
export const MAX_KEYS_PER_BULK_GET = 100;
/** The documented limit is 100 MB per request; keep 1 MB of headroom for JSON framing we do not count exactly. */
export const MAX_BULK_BODY_BYTES = 99_000_000;

export interface CloudflareTargetOptions {
  accountId: string;
  namespaceId: string;
  apiToken: string;
  /** API base URL; tests point it at a local server. Plain http is refused except on loopback. */
  baseUrl?: string;
  maxPairsPerRequest?: number;
  maxBodyBytes?: number;
  /** Attempts per request (the first try included) before giving up. */
  maxAttempts?: number;
  /** First backoff delay when the server gives no retry-after; doubles on every retry. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  requestTimeoutMs?: number;
  log?: (line: string) => void;
}

/**
 * Retry defaults of the KV client. One request that never answers costs at most
 * maxAttempts x requestTimeoutMs plus the backoff between attempts (1 + 2 + ... + 64 s with these values):
 * about ten minutes. maxDelayMs is high because the API answers an exceeded rate limit with a five-minute block.
 */
export const KV_CLIENT_DEFAULTS = { maxAttempts: 8, requestTimeoutMs: 60_000, baseDelayMs: 1000, maxDelayMs: 5 * 60_000 } as const;

export const ENV = {
  accountId: "CLOUDFLARE_ACCOUNT_ID",
  apiToken: "CLOUDFLARE_API_TOKEN",
  namespaceId: "KSER_KV_NAMESPACE_ID",
  /** API base URL (default CLOUDFLARE_API_BASE); plain http only to loopback, for local imitations of the API. */
  baseUrl: "KSER_CLOUDFLARE_API_BASE",
  /** Attempts per request, the first included (default KV_CLIENT_DEFAULTS.maxAttempts). */
  maxAttempts: "KSER_KV_MAX_ATTEMPTS",
  /** Per-attempt timeout in ms (default KV_CLIENT_DEFAULTS.requestTimeoutMs). */
  requestTimeoutMs: "KSER_KV_TIMEOUT_MS",
} as const;

function wholeNumberFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name];
  if (!text) return undefined;
  const n = Number(text);
  if (!(Number.isInteger(n) && n >= 1)) throw new UserFacingError(`${name} must be a whole number >= 1, got ${JSON.stringify(text)}`);
  return n;
}

/** Reads account, namespace and token from the environment; names the missing variables (never their values). */
export function cloudflareOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): CloudflareTargetOptions {
  const missing = (["accountId", "namespaceId", "apiToken"] as const).filter((k) => !env[ENV[k]]);
  if (missing.length) throw new UserFacingError(`set ${missing.map((k) => ENV[k]).join(", ")} to publish to Cloudflare KV`);
  return {
    maxAttempts: wholeNumberFromEnv(env, ENV.maxAttempts),
    requestTimeoutMs: wholeNumberFromEnv(env, ENV.requestTimeoutMs),
    accountId: env[ENV.accountId]!,
    namespaceId: env[ENV.namespaceId]!,
    apiToken: env[ENV.apiToken]!,
    baseUrl: env[ENV.baseUrl] || undefined,
  };
}

const encoder = new TextEncoder();

interface BulkItem {
  key: string;
  value: string;
  base64?: true;
}

function toBulkItem(pair: KvPair): BulkItem {
  if (typeof pair.value === "string") return { key: pair.key, value: pair.value };
  return {
    key: pair.key,
    value: Buffer.from(pair.value.buffer, pair.value.byteOffset, pair.value.byteLength).toString("base64"),
    base64: true,
  };
}

/** Bytes this item adds to the JSON array body (the item plus its separating comma). */
function itemBodyBytes(item: BulkItem): number {
  return encoder.encode(JSON.stringify(item)).length + 1;
}

/** Splits items into requests of at most maxPairs items and maxBytes of body. */
export function planBatches<T>(items: T[], sizeOf: (item: T) => number, maxPairs: number, maxBytes: number): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 2; // "[" and "]"
  for (const item of items) {
    const size = sizeOf(item);
    if (size + 2 > maxBytes) throw new UserFacingError(`a single KV pair needs ${size} bytes of request body, over the ${maxBytes} limit`);
    if (current.length >= maxPairs || bytes + size > maxBytes) {
      batches.push(current);
      current = [];
      bytes = 2;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length) batches.push(current);
  return batches;
}

/** retry-after is either delay-seconds or an HTTP date. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header.trim());
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function isLoopback(url: URL): boolean {
  return url.hostname === "127.0.0.1" || url.hostname === "localhost" || url.hostname === "[::1]";
}

/** The shape of Cloudflare's v4 JSON envelope, as far as we read it. */
interface Envelope<T> {
  success?: boolean;
  errors?: { code?: number; message?: string }[];
  result?: T;
  result_info?: { cursor?: string; count?: number };
}

function describeErrors(body: string): string {
  try {
    const env = JSON.parse(body) as Envelope<unknown>;
    if (env.errors?.length) return env.errors.map((e) => `${e.code ?? "?"} ${e.message ?? ""}`.trim()).join("; ");
  } catch {
    // not JSON: fall through to a short excerpt
  }
  return body.slice(0, 200);
}

export class CloudflareKvTarget implements KvTarget {
  readonly description: string;
  readonly cheapReads = false;
  /** HTTP requests sent, retries included (for reporting). */
  requests = 0;
  private readonly base: string;
  private readonly redact: Redactor;
  private readonly opts: Required<Omit<CloudflareTargetOptions, "log" | "baseUrl">> & { log: (line: string) => void };

  constructor(options: CloudflareTargetOptions) {
    const baseUrl = new URL(options.baseUrl ?? CLOUDFLARE_API_BASE);
    this.redact = createRedactor([options.apiToken]);
    if (baseUrl.protocol !== "https:" && !(baseUrl.protocol === "http:" && isLoopback(baseUrl))) {
      throw new UserFacingError(`refusing to send the API token over ${baseUrl.protocol} to ${baseUrl.host}; use https`);
    }
    for (const [name, value] of [
      ["account id", options.accountId],
      ["namespace id", options.namespaceId],
    ]) {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(value)) throw new UserFacingError(`${name} is not a Cloudflare identifier`);
    }
    this.base = `${baseUrl.href.replace(/\/+$/, "")}/accounts/${options.accountId}/storage/kv/namespaces/${options.namespaceId}`;
    this.description = `Cloudflare KV namespace ${options.namespaceId}`;
    const log = options.log ?? (() => {});
    this.opts = {
      accountId: options.accountId,
      namespaceId: options.namespaceId,
      apiToken: options.apiToken,
      maxPairsPerRequest: Math.min(options.maxPairsPerRequest ?? MAX_PAIRS_PER_BULK, MAX_PAIRS_PER_BULK),
      maxBodyBytes: Math.min(options.maxBodyBytes ?? MAX_BULK_BODY_BYTES, MAX_BULK_BODY_BYTES),
      maxAttempts: options.maxAttempts ?? KV_CLIENT_DEFAULTS.maxAttempts,
      baseDelayMs: options.baseDelayMs ?? KV_CLIENT_DEFAULTS.baseDelayMs,
      maxDelayMs: options.maxDelayMs ?? KV_CLIENT_DEFAULTS.maxDelayMs,
      requestTimeoutMs: options.requestTimeoutMs ?? KV_CLIENT_DEFAULTS.requestTimeoutMs,
      log: (line) => log(this.redact(line)),
    };
  }

  /** One API call, retried on network errors, 429 and 5xx; returns the first response that is none of those. */
  private async call(method: string, path: string, body?: string): Promise<{ status: number; headers: Headers; bytes: Uint8Array }> {
    const what = `${method} ${path.split("?")[0]}`;
    let lastProblem = "";
    for (let attempt = 1; attempt <= this.opts.maxAttempts; attempt++) {
      let delay: number | undefined;
      try {
        this.requests++;
        const res = await fetch(`${this.base}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${this.opts.apiToken}`,
            ...(body !== undefined ? { "content-type": "application/json" } : {}),
          },
          body,
          signal: AbortSignal.timeout(this.opts.requestTimeoutMs),
        });
        const bytes = new Uint8Array(await res.arrayBuffer());
        if (res.status !== 429 && res.status < 500) return { status: res.status, headers: res.headers, bytes };
        lastProblem = `HTTP ${res.status} ${describeErrors(new TextDecoder().decode(bytes))}`;
        delay = parseRetryAfter(res.headers.get("retry-after"));
      } catch (error) {
        const err = error as Error;
        lastProblem =
          err.name === "TimeoutError" || err.name === "AbortError"
            ? `no answer within ${this.opts.requestTimeoutMs} ms`
            : `network error: ${err.message}${err.cause instanceof Error ? ` (${err.cause.message})` : ""}`;
      }
      if (attempt === this.opts.maxAttempts) break;
      const backoff = Math.min(this.opts.baseDelayMs * 2 ** (attempt - 1), this.opts.maxDelayMs);
      // Jitter spreads retries from parallel publishers; retry-after, when given, is a floor.
      const wait = Math.min(Math.max(delay ?? 0, backoff * (0.5 + Math.random() / 2)), this.opts.maxDelayMs);
      this.opts.log(`${what}: ${lastProblem}; retry ${attempt}/${this.opts.maxAttempts - 1} in ${Math.round(wait)} ms`);
      await sleep(wait);
    }
    throw new UserFacingError(this.redact(`${what} failed after ${this.opts.maxAttempts} attempts: ${lastProblem}`), 3);
  }

  private async json<T>(method: string, path: string, body?: string): Promise<Envelope<T>> {
    return this.envelope<T>(method, path, await this.call(method, path, body));
  }

  /** The JSON envelope of an answer; an HTTP error, non-JSON or success: false is an error (redacted, exit 3). */
  private envelope<T>(method: string, path: string, res: { status: number; bytes: Uint8Array }): Envelope<T> {
    const text = new TextDecoder().decode(res.bytes);
    if (res.status >= 400) {
      throw new UserFacingError(this.redact(`${method} ${path.split("?")[0]}: HTTP ${res.status} ${describeErrors(text)}`), 3);
    }
    let envelope: Envelope<T>;
    try {
      envelope = JSON.parse(text) as Envelope<T>;
    } catch {
      throw new UserFacingError(this.redact(`${method} ${path.split("?")[0]}: response is not JSON`), 3);
    }
    if (envelope.success === false) {
      throw new UserFacingError(this.redact(`${method} ${path.split("?")[0]}: ${describeErrors(text)}`), 3);
    }
    return envelope;
  }

  async get(key: string): Promise<Uint8Array | null> {
    try {
      const res = await this.call("GET", `/values/${encodeURIComponent(key)}`);
      if (res.status === 404) return null;
      if (res.status >= 400) {
        throw new UserFacingError(`GET /values: HTTP ${res.status} ${describeErrors(new TextDecoder().decode(res.bytes))}`, 3);
      }
      return res.bytes;
    } catch (error) {
      throw redactError(error, this.redact);
    }
  }

  /**
   * Text values through POST /bulk/get (at most 100 keys a request; text only: binary values would not survive
   * the JSON answer). A namespace API without that route (404) is read key by key instead.
   */
  async getTexts(keys: string[]): Promise<Map<string, string | null>> {
    const out = new Map<string, string | null>();
    try {
      for (let i = 0; i < keys.length; i += MAX_KEYS_PER_BULK_GET) {
        const batch = keys.slice(i, i + MAX_KEYS_PER_BULK_GET);
        const res = await this.call("POST", "/bulk/get", JSON.stringify({ keys: batch, type: "text" }));
        if (res.status === 404 && i === 0) return this.getTextsOneByOne(keys);
        const env = this.envelope<{ values?: Record<string, unknown> }>("POST", "/bulk/get", res);
        const values = env.result?.values;
        if (!values || typeof values !== "object") throw new UserFacingError("POST /bulk/get: answer has no result.values", 3);
        for (const key of batch) {
          const v = values[key];
          if (v !== null && v !== undefined && typeof v !== "string")
            throw new UserFacingError(`POST /bulk/get: value of ${key} is not text`, 3);
          out.set(key, v ?? null);
        }
      }
      return out;
    } catch (error) {
      throw redactError(error, this.redact);
    }
  }

  private async getTextsOneByOne(keys: string[]): Promise<Map<string, string | null>> {
    const out = new Map<string, string | null>();
    for (const key of keys) {
      const bytes = await this.get(key);
      out.set(key, bytes === null ? null : new TextDecoder().decode(bytes));
    }
    return out;
  }

  async putMany(pairs: KvPair[]): Promise<void> {
    try {
      for (const p of pairs) {
        const problem = keyProblem(p.key);
        if (problem) throw new UserFacingError(`KV key ${p.key.slice(0, 80)}: ${problem}`);
        const size = typeof p.value === "string" ? encoder.encode(p.value).length : p.value.length;
        if (size > MAX_VALUE_BYTES) throw new UserFacingError(`KV value for ${p.key}: ${size} bytes exceeds KV's 25 MiB`);
      }
      const items = pairs.map(toBulkItem);
      const batches = planBatches(items, itemBodyBytes, this.opts.maxPairsPerRequest, this.opts.maxBodyBytes);
      for (const [i, batch] of batches.entries()) {
        await this.putBatch(batch);
        this.opts.log(`PUT /bulk ${i + 1}/${batches.length}: ${batch.length} pairs`);
      }
    } catch (error) {
      throw redactError(error, this.redact);
    }
  }

  /** One bulk request, re-sending the keys the API reports as unsuccessful until none are left. */
  private async putBatch(batch: BulkItem[]): Promise<void> {
    let pending = batch;
    for (let round = 1; ; round++) {
      const env = await this.json<{ successful_key_count?: number; unsuccessful_keys?: string[] }>("PUT", "/bulk", JSON.stringify(pending));
      const failed = new Set(env.result?.unsuccessful_keys ?? []);
      if (failed.size === 0) return;
      if (round >= this.opts.maxAttempts) {
        throw new UserFacingError(`PUT /bulk: ${failed.size} keys still unsuccessful after ${round} rounds`, 3);
      }
      pending = pending.filter((item) => failed.has(item.key));
      const wait = Math.min(this.opts.baseDelayMs * 2 ** (round - 1), this.opts.maxDelayMs);
      this.opts.log(`PUT /bulk: ${failed.size} unsuccessful keys, re-sending in ${wait} ms`);
      await sleep(wait);
    }
  }

  async list(prefix?: string): Promise<string[]> {
    try {
      const keys: string[] = [];
      let cursor = "";
      do {
        const q = new URLSearchParams({ limit: "1000" });
        if (prefix) q.set("prefix", prefix);
        if (cursor) q.set("cursor", cursor);
        const env = await this.json<{ name: string }[]>("GET", `/keys?${q}`);
        for (const k of env.result ?? []) keys.push(k.name);
        cursor = env.result_info?.cursor ?? "";
      } while (cursor);
      return keys;
    } catch (error) {
      throw redactError(error, this.redact);
    }
  }

  async delete(keys: string[]): Promise<void> {
    try {
      for (let i = 0; i < keys.length; i += MAX_PAIRS_PER_BULK) {
        await this.json("POST", "/bulk/delete", JSON.stringify(keys.slice(i, i + MAX_PAIRS_PER_BULK)));
      }
    } catch (error) {
      throw redactError(error, this.redact);
    }
  }

  async close(): Promise<void> {}
}

export function createCloudflareTarget(options: CloudflareTargetOptions): CloudflareKvTarget {
  return new CloudflareKvTarget(options);
}
