// Per-isolate caching in workerd with the fixture bundle: the profile cache, and knowledge reads started from the
// manifest of a model that is still loading.
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { kvKeys, shardOf } from "../../shared/kv-keys.ts";
import { parseManifest } from "../../shared/manifest.ts";
import type { ScoreResponse } from "../../shared/score-api.ts";
import { ShardStore } from "../../worker/src/knowledge-store.ts";
import { ProfileStore } from "../../worker/src/profile-store.ts";
import { RequestReads } from "../../worker/src/request-reads.ts";
import { warmKnowledge } from "../../worker/src/scorer.ts";
import { PROFILE_SET } from "./fixtures/fixture-model.ts";
import { adminHeaders, call, flushCaches, forced, json, putJson, resetToFixture, score } from "./helpers.ts";
import { expectedScores } from "./reference.ts";

const kvReads = async (res: Response) =>
  JSON.parse(res.headers.get("x-kser-kv-reads") ?? "null") as { reads: number; knowledgeReads: number };
const nonKnowledgeReads = async (res: Response) => {
  const r = await kvReads(res);
  return r.reads - r.knowledgeReads;
};
const debugKv = { ...forced("control"), "x-kser-debug": "kv" };

describe("user profile cache", () => {
  beforeEach(() => resetToFixture(env.KSER_KV));

  it("reads a profile from KV once, then serves the stored one within PROFILE_CACHE_MS (default 10 s)", async () => {
    const req = { userId: "u1", candidates: ["i1", "i4"] };
    const first = await score(req, debugKv);
    expect(first.status).toBe(200);
    expect((await kvReads(first)).reads).toBeGreaterThan(2);
    // Model and shards are cached after the first request; the only KV read left is the rollout config
    // (ROLLOUT_CACHE_MS = 0 in the test config): no profile read.
    const second = await score(req, debugKv);
    expect(await nonKnowledgeReads(second)).toBe(1);
    // Another user's first request reads the rollout config and that user's profile.
    expect(await nonKnowledgeReads(await score({ ...req, userId: "u3" }, debugKv))).toBe(2);
    const scores = (await json<ScoreResponse>(second)).scores;
    const expected = expectedScores("know", {
      ...req,
      attributes: { gender: "M" },
      history: [{ itemId: "i2", rating: 4 }, { itemId: "i5", rating: 5 }, { itemId: "i9" }],
    });
    for (const [i, s] of scores.entries()) expect(s).toBeCloseTo(expected[i], 5);
  });

  it("serves a profile changed in KV only after the cache entry goes (here: a flush)", async () => {
    const req = { userId: "u1", candidates: ["i1", "i4"] };
    const before = (await json<ScoreResponse>(await score(req, forced("control")))).scores;
    const changed = { userId: "u1", attributes: { gender: "F" }, history: [{ itemId: "i3", rating: 1 }] };
    await putJson(env.KSER_KV, kvKeys.userProfile(PROFILE_SET, "u1"), changed);
    expect((await json<ScoreResponse>(await score(req, forced("control")))).scores).toEqual(before);
    await flushCaches();
    const after = (await json<ScoreResponse>(await score(req, forced("control")))).scores;
    const expected = expectedScores("know", { ...req, attributes: changed.attributes, history: changed.history });
    for (const [i, s] of after.entries()) expect(s).toBeCloseTo(expected[i], 5);
  });

  it("reads only the profile set its model's manifest names: a profile written under another set is not seen", async () => {
    const req = { userId: "u1", candidates: ["i1", "i4"] };
    const before = (await json<ScoreResponse>(await score(req, forced("control")))).scores;
    const next = { userId: "u1", attributes: { gender: "F" }, history: [{ itemId: "i3", rating: 1 }] };
    await putJson(env.KSER_KV, kvKeys.userProfile("pnext", "u1"), next);
    await flushCaches();
    expect((await json<ScoreResponse>(await score(req, forced("control")))).scores).toEqual(before);
  });

  it("reports its entries, hits and KV reads on /v1/admin/cache", async () => {
    type Stats = { profiles: { entries: number; hits: number; kvReads: number; ttlMs: number } };
    const stats = async () => (await json<Stats>(await call("/v1/admin/cache", { headers: adminHeaders() }))).profiles;
    const before = await stats();
    await score({ userId: "u1", candidates: ["i1"] }, forced("control"));
    await score({ userId: "u1", candidates: ["i1"] }, forced("control"));
    const after = await stats();
    expect(after.entries).toBe(1);
    expect(after.hits - before.hits).toBe(1);
    expect(after.kvReads - before.kvReads).toBe(1);
    expect(after.ttlMs).toBe(10_000);
  });
});

describe("ProfileStore", () => {
  beforeEach(() => resetToFixture(env.KSER_KV));

  /** A KV namespace that counts reads of one key. */
  function counting(kv: KVNamespace) {
    const counter = { reads: 0 };
    const wrapped = {
      get: (key: string, type: "text") => {
        counter.reads++;
        return kv.get(key, type);
      },
    } as unknown as KVNamespace;
    return { kv: wrapped, counter };
  }

  it("rereads after the TTL, never caches with TTL 0, and caches an absent profile as absent", async () => {
    let now = 1_000;
    const store = new ProfileStore(() => now);
    const profiles = { set: PROFILE_SET, count: 2 };
    const { kv, counter } = counting(env.KSER_KV);
    expect((await store.get(kv, profiles, "u1", 500))?.attributes).toEqual({ gender: "M" });
    now += 499;
    await store.get(kv, profiles, "u1", 500);
    expect(counter.reads).toBe(1);
    now += 1;
    await store.get(kv, profiles, "u1", 500);
    expect(counter.reads).toBe(2);
    await store.get(kv, profiles, "u1", 0);
    await store.get(kv, profiles, "u1", 0);
    expect(counter.reads).toBe(4);
    expect(await store.get(kv, profiles, "nobody", 500)).toBeNull();
    expect(await store.get(kv, profiles, "nobody", 500)).toBeNull();
    expect(counter.reads).toBe(5);
  });
});

describe("warmKnowledge", () => {
  beforeEach(() => resetToFixture(env.KSER_KV));

  it("reads the request's knowledge shards from the manifest alone; later lookups (another request's reads) read nothing", async () => {
    const manifest = parseManifest(await env.KSER_KV.get(kvKeys.model("fx-know"), "json"));
    const store = new ShardStore(1 << 20);
    const candidates = ["i1", "i2", "i3", "i4"];
    warmKnowledge(manifest, env.KSER_KV, new RequestReads(), store, "u1", candidates);
    const k = manifest.knowledge;
    const iv = manifest.itemVectors;
    if (!k || !iv) throw new Error("fx-know has knowledge and item vectors");
    const wanted = new Set(candidates.map((id) => shardOf(id, iv.shards))).size + 1; /* the user's knowledge shard */
    for (let i = 0; i < 200 && store.stats().entries < wanted; i++) await new Promise((r) => setTimeout(r, 10));
    expect(store.stats().entries).toBe(wanted);
    let reads = 0;
    const counting = {
      get: (key: string, type: "arrayBuffer") => {
        reads++;
        return env.KSER_KV.get(key, type);
      },
    } as unknown as KVNamespace;
    const later = new RequestReads();
    const items = await store.lookup(counting, later, (s) => kvKeys.itemVectorShard("fx-know", s), iv.shards, candidates, {
      chunks: 1,
      dim: iv.dim,
    });
    const user = await store.lookup(counting, later, (s) => kvKeys.knowledgeShard(k.bankId, "user", s), k.user.shards, ["u1"], k.user);
    expect(reads).toBe(0);
    expect(items.vectors.filter(Boolean)).toHaveLength(3); // i4 has no precomputed vector in the fixture
    expect(user.vectors[0]).toBeDefined();
  });
});
