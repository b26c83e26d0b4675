/**
 * The local target: the KV state that `wrangler dev` reads, written through wrangler's getPlatformProxy (a real
 * workerd running the KV simulator). `wrangler kv bulk put --local` corrupts binary values in wrangler 4.86.0,
 * which is why this goes through the binding instead.
 *
 * Where the data lands must match what `wrangler dev` will read:
 * - `wrangler dev --persist-to X` keeps state in X/v3, so the proxy gets persist: { path: "X/v3" }.
 * - Without --persist-to, wrangler dev uses <directory of the wrangler config>/.wrangler/state/v3, while
 *   getPlatformProxy's own default is .wrangler/state/v3 relative to the cwd; we always pass the former
 *   explicitly so the two agree wherever the CLI is run from.
 * - KV data is keyed by the namespace id in the config, so both must use the same wrangler config file.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { UserFacingError } from "../util/errors.ts";
import type { KvPair, KvTarget } from "./types.ts";

export const DEFAULT_KV_BINDING = "KSER_KV";

export interface LocalTargetOptions {
  /** The wrangler config the worker runs with (wrangler.toml / wrangler.jsonc). */
  configPath: string;
  /** The directory given to `wrangler dev --persist-to`; default: <config dir>/.wrangler/state. */
  persistTo?: string;
  /** The KV binding name in the config. */
  binding?: string;
  /** A wrangler environment ([env.NAME]) whose bindings to use. */
  environment?: string;
  /** Attempts per binding call (default LOCAL_ATTEMPTS). */
  attempts?: number;
}

/** The persist path getPlatformProxy needs so that it shares state with `wrangler dev [--persist-to X]`. */
export function localPersistPath(configPath: string, persistTo?: string): string {
  const root = persistTo ? resolve(persistTo) : join(dirname(resolve(configPath)), ".wrangler", "state");
  return join(root, "v3");
}

/** The slice of the KV binding this target uses (workers-types is not in the Node tsconfig). */
interface KvBinding {
  get(key: string, type: "arrayBuffer"): Promise<ArrayBuffer | null>;
  put(key: string, value: ArrayBuffer | string): Promise<void>;
  delete(key: string): Promise<void>;
  list(options: { prefix?: string; cursor?: string; limit?: number }): Promise<{
    keys: { name: string }[];
    list_complete: boolean;
    cursor?: string;
  }>;
}

/** Parallel binding calls in flight; each is a loopback round trip to workerd. */
const CONCURRENCY = 16;
/**
 * Attempts per binding call. The platform proxy very rarely answers a call with an unexpected status under load (it
 * surfaced once, in a full parallel test run, as wrangler's bare `AssertionError: false == true`); every call here is
 * idempotent (puts of fixed values, gets, deletes), so a retry is safe, and the final error says which call failed.
 */
export const LOCAL_ATTEMPTS = 3;
const RETRY_DELAY_MS = 200;

/** Runs one binding call, retrying it; the error after the last attempt names the call. */
export async function withRetries<T>(
  what: string,
  call: () => Promise<T>,
  attempts = LOCAL_ATTEMPTS,
  delayMs = RETRY_DELAY_MS,
): Promise<T> {
  let last: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await call();
    } catch (error) {
      last = error;
      if (attempt < attempts) await new Promise((done) => setTimeout(done, delayMs * attempt));
    }
  }
  const reason = last instanceof Error ? `${last.name}: ${last.message}` : String(last);
  throw new UserFacingError(`local KV ${what} failed after ${attempts} attempts (wrangler's platform proxy): ${reason}`, 3);
}

async function inParallel<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(CONCURRENCY, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(workers);
}

export async function openLocalTarget(options: LocalTargetOptions): Promise<KvTarget> {
  const configPath = resolve(options.configPath);
  if (!existsSync(configPath)) throw new UserFacingError(`wrangler config not found: ${configPath}`);
  const bindingName = options.binding ?? DEFAULT_KV_BINDING;
  const persistPath = localPersistPath(configPath, options.persistTo);
  // Imported lazily: wrangler is large and only this target needs it.
  const { getPlatformProxy } = await import("wrangler");
  const proxy = await getPlatformProxy<Record<string, unknown>>({
    configPath,
    environment: options.environment,
    persist: { path: persistPath },
  });
  const kv = proxy.env[bindingName] as KvBinding | undefined;
  if (!kv || typeof kv.put !== "function") {
    await proxy.dispose();
    throw new UserFacingError(`${configPath} has no KV binding named ${bindingName}`);
  }
  let closed = false;
  const attempts = options.attempts ?? LOCAL_ATTEMPTS;
  return {
    description: `local wrangler state ${persistPath} (binding ${bindingName})`,
    cheapReads: true,
    async get(key) {
      const value = await withRetries(`get ${key}`, () => kv.get(key, "arrayBuffer"), attempts);
      return value === null ? null : new Uint8Array(value);
    },
    async putMany(pairs: KvPair[]) {
      await inParallel(pairs, async ({ key, value }) => {
        // Copy into an exact ArrayBuffer: a Uint8Array may view a larger, shared buffer.
        const body = typeof value === "string" ? value : value.slice().buffer;
        await withRetries(`put ${key}`, () => kv.put(key, body), attempts);
      });
    },
    async list(prefix) {
      const keys: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await withRetries(`list ${prefix}`, () => kv.list({ prefix, cursor, limit: 1000 }), attempts);
        for (const k of page.keys) keys.push(k.name);
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor);
      return keys;
    },
    async delete(keys) {
      await inParallel(keys, (key) => withRetries(`delete ${key}`, () => kv.delete(key), attempts));
    },
    async close() {
      if (closed) return;
      closed = true;
      await proxy.dispose();
    },
  };
}
