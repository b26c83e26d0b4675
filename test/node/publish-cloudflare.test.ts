/**
 * The publisher against the KV REST API, served by a local HTTP server on 127.0.0.1 with the documented limits:
 * binary round trips, batching, retries, a failure halfway through, and keeping the token out of logs and errors.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { kvKeys } from "../../shared/kv-keys.ts";
import { type RolloutConfig, rolloutConfigFromWeights, type WeightedVariant } from "../../shared/rollout.ts";
import { type CloudflareTargetOptions, cloudflareOptionsFromEnv, createCloudflareTarget } from "../../trainer/kv/cloudflare.ts";
import { blobEntry, jsonEntry, type KvBundle, readBundle, valueBytes, writeBundle } from "../../trainer/publish/kv-bundle.ts";
import { publishBundle } from "../../trainer/publish/publish.ts";
import { applyRolloutConfig, readRolloutHistory } from "../../trainer/rollout/store.ts";
import { FakeKvApi } from "./publish-kv-server.ts";

const ACCOUNT = "acc0123456789abcdef";
const NAMESPACE = "ns0123456789abcdef";
const TOKEN = `tok_${randomBytes(18).toString("base64url")}`;

let api: FakeKvApi;
let logs: string[];

function target(extra: Partial<CloudflareTargetOptions> = {}) {
  return createCloudflareTarget({
    accountId: ACCOUNT,
    namespaceId: NAMESPACE,
    apiToken: TOKEN,
    baseUrl: api.baseUrl,
    baseDelayMs: 5,
    log: (l) => logs.push(l),
    ...extra,
  });
}

function rollout(modelId: string, updatedAt: string, variants?: WeightedVariant[]): RolloutConfig {
  return rolloutConfigFromWeights({ salt: "s1", variants: variants ?? [{ name: "champion", modelId, weight: 10_000 }], updatedAt });
}

/** A bundle like the trainer's: a model graph blob, binary shards, profiles, a manifest and the pointer. */
function sampleBundle(modelId: string, dataCount = 10): KvBundle {
  const graph = new Uint8Array(randomBytes(70_000));
  graph.set(Array.from({ length: 256 }, (_, i) => i)); // every byte value, including ones invalid as UTF-8
  const entries = [blobEntry(graph)];
  for (let i = 0; i < dataCount; i++) {
    entries.push(
      i % 2
        ? { key: kvKeys.itemVectorShard(modelId, i), value: new Uint8Array(randomBytes(64 + i)), stage: "data" }
        : jsonEntry(kvKeys.userProfile("p1", `u${i}`), { userId: `u${i}`, attributes: {}, history: [] }, "data"),
    );
  }
  entries.push(jsonEntry(kvKeys.model(modelId), { modelId, graph: entries[0].key }, "manifest"));
  entries.push(jsonEntry(kvKeys.rolloutConfig(), rollout(modelId, "2026-01-02T00:00:00Z"), "pointer"));
  return { entries };
}

beforeEach(async () => {
  api = new FakeKvApi(ACCOUNT, NAMESPACE, TOKEN);
  await api.start();
  logs = [];
});
afterEach(async () => {
  await api.stop();
});

describe("publish to the KV REST API", () => {
  it("round-trips binary and text values through a bundle directory and the API", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kser-bundle-"));
    try {
      const bundle = sampleBundle("m1");
      await writeBundle(join(dir, "b"), bundle);
      const read = await readBundle(join(dir, "b"));
      expect(read.entries.map((e) => [e.key, e.stage, typeof e.value])).toEqual(
        bundle.entries.map((e) => [e.key, e.stage, typeof e.value]),
      );
      const t = target();
      const report = await publishBundle(read, t, { log: (l) => logs.push(l) });
      expect(report.written).toEqual({ blob: 1, data: 10, manifest: 1, pointer: 1 });
      for (const e of bundle.entries) {
        expect(Buffer.from(api.store.get(e.key)!).equals(Buffer.from(valueBytes(e.value)))).toBe(true);
        expect(Buffer.from((await t.get(e.key))!).equals(Buffer.from(valueBytes(e.value)))).toBe(true);
      }
      expect(await t.get("user/does-not-exist")).toBeNull();
      // Idempotent: a second run skips the blob, rewrites the rest with the same bytes.
      const again = await publishBundle(read, t);
      expect(again.skipped).toBe(1);
      expect(again.written.blob).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("keeps every request within 10,000 pairs and 100 MB", async () => {
    const t = target();
    const many = Array.from({ length: 25_001 }, (_, i) => ({ key: `kn/b/item/${i}`, value: `v${i}` }));
    await t.putMany(many);
    const puts = api.requests.filter((r) => r.method === "PUT");
    expect(puts.length).toBe(3);
    expect(Math.max(...puts.map((r) => r.pairs!))).toBeLessThanOrEqual(10_000);
    expect(puts.reduce((s, r) => s + r.pairs!, 0)).toBe(25_001);
    expect(api.store.size).toBe(25_001);

    // Four 20 MiB binary values are ~112 MB as base64 JSON: they need two requests (the server rejects > 100 MB).
    api.requests.length = 0;
    const big = Array.from({ length: 4 }, (_, i) => ({ key: `blob/big${i}`, value: new Uint8Array(20 * 1024 * 1024).fill(i + 1) }));
    await t.putMany(big);
    const bigPuts = api.requests.filter((r) => r.method === "PUT");
    expect(bigPuts.length).toBe(2);
    expect(bigPuts.every((r) => r.status === 200 && r.bodyBytes <= 100_000_000)).toBe(true);
    expect(api.store.get("blob/big3")!.equals(Buffer.from(big[3].value))).toBe(true);
  });

  it("retries 429 honouring retry-after, 500s, and re-sends unsuccessful keys", async () => {
    api.failures = [
      { status: 429, retryAfter: "1", method: "PUT", times: 1 },
      { status: 500, method: "PUT", times: 1 },
    ];
    api.unsuccessfulOnce = new Set(["kn/b/item/3"]);
    const t = target();
    const started = Date.now();
    await t.putMany(Array.from({ length: 10 }, (_, i) => ({ key: `kn/b/item/${i}`, value: `v${i}` })));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(api.requests.filter((r) => r.method === "PUT").map((r) => r.status)).toEqual([429, 500, 200, 200]);
    expect(api.requests.at(-1)!.pairs).toBe(1); // only the unsuccessful key was re-sent
    expect(api.store.get("kn/b/item/3")!.toString()).toBe("v3");
    expect(logs.some((l) => l.includes("HTTP 429"))).toBe(true);
  });

  it("a failure halfway leaves the old pointer live and writes no new one; a re-run completes", async () => {
    const old = rollout("m0", "2026-01-01T00:00:00Z");
    await applyRolloutConfig(target(), old);
    const oldBytes = Buffer.from(api.store.get(kvKeys.rolloutConfig())!);
    const bundle = sampleBundle("m1", 3000);
    // The list, the blob write and its read-back succeed, then the backend fails for good mid-way through the data.
    api.failAfter = api.requests.length + 4;
    const t = target({ maxPairsPerRequest: 1000, maxAttempts: 3 });
    await expect(publishBundle(bundle, t, { log: (l) => logs.push(l) })).rejects.toThrow(/failed after 3 attempts/);
    expect(api.store.get(kvKeys.rolloutConfig())!.equals(oldBytes)).toBe(true);
    expect(api.store.has(kvKeys.model("m1"))).toBe(false);
    expect(api.store.has(kvKeys.rolloutHistory())).toBe(false);
    expect([...api.store.keys()].filter((k) => k.startsWith("iv/m1/") || k.startsWith("user/")).length).toBeGreaterThan(0);

    api.failAfter = undefined;
    const report = await publishBundle(bundle, target({ maxPairsPerRequest: 1000 }));
    expect(report.skipped).toBe(1);
    expect(JSON.parse(api.store.get(kvKeys.rolloutConfig())!.toString()).variants[0].modelId).toBe("m1");
    expect(await readRolloutHistory(target())).toEqual([old]);
  });

  it("refuses, before writing anything, a rollout config naming a model with no manifest in the bundle or the namespace", async () => {
    const bundle = sampleBundle("m1", 4);
    const pointer = bundle.entries.find((e) => e.key === kvKeys.rolloutConfig())!;
    const config = rollout("m1", "2026-01-03T00:00:00Z", [
      { name: "champion", modelId: "m1", weight: 9000 },
      { name: "cand", modelId: "m9", weight: 1000 },
    ]);
    pointer.value = JSON.stringify(config);
    await expect(publishBundle(bundle, target())).rejects.toThrow(
      /names model m9, with no manifest in the bundle or on .*: nothing published/,
    );
    expect(api.store.size).toBe(0);
    // Once m9 is published (by an earlier bundle), the same bundle goes through.
    api.store.set(kvKeys.model("m9"), Buffer.from("{}"));
    await publishBundle(bundle, target());
    expect(JSON.parse(api.store.get(kvKeys.rolloutConfig())!.toString()).variants[1].modelId).toBe("m9");
  });

  it("never lets the token reach logs or errors", async () => {
    api.echoAuthInErrors = true;
    api.failures = [{ status: 500, times: 2 }];
    const errors: string[] = [];
    const t = target({ maxAttempts: 2 });
    try {
      await publishBundle(sampleBundle("m2"), t, { log: (l) => logs.push(l), secrets: [TOKEN] });
    } catch (error) {
      errors.push(String((error as Error).message), String((error as Error).stack));
    }
    // A bad request (4xx, not retried) also echoes the header into the error body.
    try {
      await target().putMany([{ key: "x".repeat(600), value: "v" }]);
    } catch (error) {
      errors.push(String((error as Error).message));
    }
    api.failures = [{ status: 400, times: 1 }];
    try {
      await target().putMany([{ key: "k", value: "v" }]);
    } catch (error) {
      errors.push(String((error as Error).message), String((error as Error).stack));
    }
    expect(errors.length).toBe(5);
    expect(errors.join("\n")).toContain("[redacted]");
    expect(logs.join("\n")).toContain("[redacted]");
    for (const text of [...logs, ...errors]) expect(text).not.toContain(TOKEN);
    expect(() => cloudflareOptionsFromEnv({ CLOUDFLARE_API_TOKEN: TOKEN })).toThrow(/CLOUDFLARE_ACCOUNT_ID, KSER_KV_NAMESPACE_ID/);
    try {
      cloudflareOptionsFromEnv({ CLOUDFLARE_API_TOKEN: TOKEN });
    } catch (error) {
      expect(String(error)).not.toContain(TOKEN);
    }
  });
});
