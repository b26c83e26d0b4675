/**
 * `kser publish --target cloudflare` against a local KV API that misbehaves on purpose, with two real serving
 * bundles (v0 live, v1 being published): a write the API corrupts, a write it silently drops, and a publisher killed
 * at each stage. After every one of them the live rollout/config still names v0, and everything v0's manifests lead
 * a reader to (blobs, knowledge and item-vector shards, each user's profile) holds v0's bytes.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { hash32 } from "../../shared/hash.ts";
import { kvKeys } from "../../shared/kv-keys.ts";
import { type ModelManifest, parseManifest } from "../../shared/manifest.ts";
import { parseRolloutConfig, rolloutConfigFromWeights } from "../../shared/rollout.ts";
import { initBackend } from "../../trainer/accel/index.ts";
import { buildServingBundle } from "../../trainer/export/serving-bundle.ts";
import { createCloudflareTarget } from "../../trainer/kv/cloudflare.ts";
import { type KvBundle, sha256Hex, valueBytes, writeBundle } from "../../trainer/publish/kv-bundle.ts";
import { publishBundle } from "../../trainer/publish/publish.ts";
import type { TrainedModel } from "../../trainer/train/model.ts";
import { hasStackTrace, kserCli, REPO_ROOT } from "./cli-run.ts";
import { randomData } from "./fixtures/random-data.ts";
import { seededWeights } from "./models-fixtures.ts";
import { FakeKvApi } from "./publish-kv-server.ts";

const ACCOUNT = "acct0faults";
const NAMESPACE = "ns0faults";
const TOKEN = "cf-faults-token-9d2e7c41b0";

interface Version {
  bundle: KvBundle;
  dir: string;
  modelId: string;
  userIds: string[];
}

/** A real serving bundle (deepfm + kser extractor, knowledge, item vectors, profiles) with a pointer to its model. */
function version(seed: number, updatedAt: string): Omit<Version, "dir"> {
  const { data, bank } = randomData({ seed, users: 100, items: 60, chunks: 3, dim: 8 });
  const config = {
    backbone: "deepfm",
    extractor: "kser",
    embeddingDim: 8,
    spec: data.spec,
    knowledge: { user: { chunks: 3, dim: 8 }, item: { chunks: 3, dim: 8 } },
    seed,
  };
  const nan = Number.NaN;
  const model: TrainedModel = {
    config,
    spec: data.spec,
    vocabulary: data.vocabulary,
    params: seededWeights(config),
    metrics: { valid: { auc: nan, logloss: nan }, test: { auc: nan, logloss: nan, gauc: nan } },
    history: [],
  };
  const built = buildServingBundle({ model, data, bank, includeProfiles: true, createdAt: updatedAt, metrics: {} });
  const rollout = rolloutConfigFromWeights({
    salt: "s",
    variants: [{ name: "control", modelId: built.manifest.modelId, weight: 10_000 }],
    updatedAt: updatedAt,
  });
  const entries = [...built.bundle.entries, { key: kvKeys.rolloutConfig(), value: JSON.stringify(rollout), stage: "pointer" as const }];
  return { bundle: { entries }, modelId: built.manifest.modelId, userIds: data.profiles.map((p) => p.userId) };
}

/** Every key the worker reads for a manifest: its blobs, every knowledge and item-vector shard, each user's profile. */
function keysReadBy(m: ModelManifest, userIds: string[]): string[] {
  const keys = [kvKeys.model(m.modelId), kvKeys.blob(m.vocabulary.blob), kvKeys.blob(m.graphs.backbone.blob)];
  for (const g of [m.graphs.userExtractor, m.graphs.itemExtractor]) if (g) keys.push(kvKeys.blob(g.blob));
  if (m.knowledge) {
    for (const side of ["user", "item"] as const) {
      for (let s = 0; s < m.knowledge[side].shards; s++) keys.push(kvKeys.knowledgeShard(m.knowledge.bankId, side, s));
    }
  }
  for (let s = 0; s < (m.itemVectors?.shards ?? 0); s++) keys.push(kvKeys.itemVectorShard(m.modelId, s));
  if (m.profiles) for (const id of userIds) keys.push(kvKeys.userProfile(m.profiles.set, id));
  return keys;
}

let root: string;
let api: FakeKvApi;
let v0: Version;
let v1: Version;

const env = () => ({
  CLOUDFLARE_ACCOUNT_ID: ACCOUNT,
  KSER_KV_NAMESPACE_ID: NAMESPACE,
  CLOUDFLARE_API_TOKEN: TOKEN,
  KSER_CLOUDFLARE_API_BASE: api.baseUrl,
});
const publishArgs = (v: Version) => [
  "publish",
  "--bundle",
  v.dir,
  "--target",
  "cloudflare",
  "--verify-attempts",
  "2",
  "--kv-attempts",
  "2",
  "--kv-timeout-ms",
  "20000",
];

/** The live pointer names v0, and every key v0 leads a reader to holds v0's bytes. */
function expectV0Live(): void {
  const live = parseRolloutConfig(JSON.parse(api.store.get(kvKeys.rolloutConfig())!.toString("utf8")));
  expect(live.variants.map((v) => v.modelId)).toEqual([v0.modelId]);
  const want = new Map(v0.bundle.entries.map((e) => [e.key, sha256Hex(e.value)]));
  const manifest = parseManifest(JSON.parse(api.store.get(kvKeys.model(v0.modelId))!.toString("utf8")));
  const keys = keysReadBy(manifest, v0.userIds);
  expect(keys.length).toBeGreaterThan(100);
  for (const key of keys) {
    const stored = api.store.get(key);
    expect(stored ? sha256Hex(stored) : "missing", key).toBe(want.get(key));
  }
}

beforeAll(async () => {
  await initBackend("wasm", () => {});
  root = await mkdtemp(join(tmpdir(), "kser-publish-faults-"));
  const built = [version(1, "2026-03-01T00:00:00.000Z"), version(2, "2026-03-02T00:00:00.000Z")];
  [v0, v1] = await Promise.all(
    built.map(async (v, i) => {
      const dir = join(root, `bundle-v${i}`);
      await writeBundle(dir, v.bundle);
      return { ...v, dir };
    }),
  );
  expect(v1.modelId).not.toBe(v0.modelId);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

beforeEach(async () => {
  api = new FakeKvApi(ACCOUNT, NAMESPACE, TOKEN);
  await api.start();
  const t = createCloudflareTarget({ accountId: ACCOUNT, namespaceId: NAMESPACE, apiToken: TOKEN, baseUrl: api.baseUrl });
  await publishBundle(v0.bundle, t);
  expectV0Live();
});
afterEach(async () => {
  await api.stop();
});

describe("nothing unverified goes live", () => {
  it("a blob the API corrupts: exit 3; a rerun rereads the present blob instead of trusting its key", async () => {
    const blobs = v1.bundle.entries.filter((e) => e.stage === "blob" && !api.store.has(e.key)).map((e) => e.key);
    expect(blobs.length).toBeGreaterThan(0);
    api.corrupt = (key) => blobs.includes(key);
    const first = await kserCli(publishArgs(v1), env());
    expect(first.code).toBe(3);
    expect(first.stderr).toMatch(/^kser: verification failed for \d+ of \d+ keys: blob\/[0-9a-f]{64} \(sha256 differs\)/m);
    expectV0Live();

    // The corrupt blobs are now present under their keys; the API still corrupts every write of them.
    const again = await kserCli(publishArgs(v1), env());
    expect(again.code).toBe(3);
    expect(again.stdout).toMatch(/blob: \d+ present with other bytes, written again/);
    expectV0Live();

    // A healthy API: the rerun rewrites them, and v1 goes live with every blob hashing to its key.
    api.corrupt = undefined;
    const healthy = await kserCli(publishArgs(v1), env());
    expect(healthy.code).toBe(0);
    expect(healthy.stdout).toMatch(/blob: \d+ present with other bytes, written again/);
    const live = JSON.parse(api.store.get(kvKeys.rolloutConfig())!.toString("utf8"));
    expect(live.variants[0].modelId).toBe(v1.modelId);
    for (const e of v1.bundle.entries) expect(sha256Hex(api.store.get(e.key)!), e.key).toBe(sha256Hex(e.value));
  });

  it("a data key the API drops while reporting success: exit 3 naming it, old pointer live", async () => {
    const data = v1.bundle.entries.filter((e) => e.stage === "data").map((e) => e.key);
    expect(data.length).toBeGreaterThan(64);
    // The key a 64-key sample ordered by hash would read last: only a verifier that reads every key sees it missing.
    const dropped = data.reduce((a, b) => (hash32(`verify:${a}`) > hash32(`verify:${b}`) ? a : b));
    api.drop = (key) => key === dropped;
    const r = await kserCli(publishArgs(v1), env());
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toBe(`kser: verification failed for 1 of ${data.length} keys: ${dropped} (missing)`);
    expect(hasStackTrace(r.stderr)).toBe(false);
    expect(api.store.has(kvKeys.model(v1.modelId))).toBe(false);
    expectV0Live();
  });
});

/** Which stage a PUT /bulk body belongs to, by the keys it carries. */
function stageOfBulk(body: Buffer): string {
  const keys = (JSON.parse(body.toString("utf8")) as { key: string }[]).map((i) => i.key);
  if (keys.some((k) => k.startsWith("rollout/"))) return "pointer";
  if (keys.some((k) => k.startsWith("model/"))) return "manifest";
  if (keys.some((k) => k.startsWith("blob/"))) return "blob";
  return "data";
}

describe("a publish killed at each stage", () => {
  it.each(["blob", "data", "manifest", "pointer"])(
    "killed at the first write of the %s stage: v0 stays live and reads only its own data",
    async (stage) => {
      api.stall = (method, path, body) => method === "PUT" && path === "/bulk" && stageOfBulk(body) === stage;
      const child = spawn(process.execPath, ["bin/kser.js", ...publishArgs(v1)], {
        cwd: REPO_ROOT,
        env: { ...process.env, ...env() },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (c) => (output += c));
      child.stderr.on("data", (c) => (output += c));
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
      api.onStall = () => child.kill("SIGKILL");
      expect(await exited, output).toBe("SIGKILL");
      expect(api.stalled).toBe(1);
      expectV0Live();
      // Whatever v1 left behind, resuming it finishes the switch.
      api.stall = undefined;
      const resumed = await kserCli(publishArgs(v1), env());
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(JSON.parse(api.store.get(kvKeys.rolloutConfig())!.toString("utf8")).variants[0].modelId).toBe(v1.modelId);
    },
  );
});

describe("what the bundle names", () => {
  it("the two versions share no profile key: v1's profiles are a new set, named by its manifest", () => {
    const profileKeys = (v: Version) => new Set(v.bundle.entries.filter((e) => e.key.startsWith("user/")).map((e) => e.key));
    const a = profileKeys(v0);
    const b = profileKeys(v1);
    expect(a.size).toBe(v0.userIds.length);
    expect([...b].filter((k) => a.has(k))).toEqual([]);
    const entry = v1.bundle.entries.find((e) => e.key === kvKeys.model(v1.modelId))!;
    const manifest = parseManifest(JSON.parse(new TextDecoder().decode(valueBytes(entry.value))));
    expect([...b].every((k) => k.startsWith(`user/${manifest.profiles!.set}/`))).toBe(true);
  });
});
