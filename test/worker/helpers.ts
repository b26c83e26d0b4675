/** Shared test helpers: reset KV to the fixture bundle, call the worker, read JSON. */
import { exports } from "cloudflare:workers";
import { inject } from "vitest";
import { clearKv, jsonEntry, seedKv } from "./fixtures/kv-bundle.ts";

export const adminToken = () => inject("adminToken");

/** Calls the worker's fetch handler in this isolate (the same module instance the pool serves). */
export function call(path: string, init?: RequestInit): Promise<Response> {
  return (exports as unknown as { default: Fetcher }).default.fetch(new Request(`https://kser.test${path}`, init));
}

export function score(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return call("/v1/score", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

export const adminHeaders = (extra: Record<string, string> = {}) => ({ authorization: `Bearer ${adminToken()}`, ...extra });
export const forced = (variant: string) => adminHeaders({ "x-kser-force-variant": variant });

/** KV holds exactly the fixture bundle and the worker's isolate caches are empty. */
export async function resetToFixture(kvNs: KVNamespace): Promise<void> {
  await clearKv(kvNs);
  await seedKv(kvNs, inject("fixtureBundle"));
  await flushCaches();
}

export async function flushCaches(): Promise<void> {
  const res = await call("/v1/admin/cache/flush", { method: "POST", headers: adminHeaders() });
  if (res.status !== 200) throw new Error(`cache flush failed: ${res.status} ${await res.text()}`);
}

export async function putJson(kvNs: KVNamespace, key: string, value: unknown): Promise<void> {
  const e = jsonEntry(key, value);
  await kvNs.put(e.key, e.value);
}

export async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}
