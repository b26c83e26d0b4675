// Worker vs trainer with a REAL trained model (DeepFM + KSER, trained on tfjs in Node by the project's global setup,
// published as the serving bundle the publisher writes): the worker's scores in workerd (ORT-web, KV shards) must
// equal the trainer's tfjs scores for the same requests, through precomputed item vectors, the raw-knowledge
// fallback (an item whose iv shard entry is absent) and masked users/items without knowledge.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { ScoreResponse } from "../../shared/score-api.ts";
import { clearKv, seedKv } from "./fixtures/kv-bundle.ts";
import { adminHeaders, call, flushCaches, json, score } from "./helpers.ts";

const TOLERANCE = 1e-4;
const fixture = inject("realModel");

describe("real trained model: worker scores equal the trainer's tfjs scores", () => {
  beforeAll(async () => {
    await clearKv(env.KSER_KV);
    await seedKv(env.KSER_KV, fixture.bundle);
    await flushCaches();
  });

  it("covers every knowledge path", () => {
    const k = fixture.cases.map((c) => c.knowledge);
    expect(k.some((x) => x.user === "present")).toBe(true);
    expect(k.some((x) => x.user === "missing")).toBe(true);
    expect(k.every((x) => x.itemsPrecomputed > 0 && x.itemsFallback > 0 && x.itemsMissing > 0)).toBe(true);
  });

  for (const c of fixture.cases) {
    it(c.name, async () => {
      // Attributes and history go in the request as well, so the stored profile and the request agree by construction.
      const res = await score(c.request);
      expect(res.status).toBe(200);
      const body = await json<ScoreResponse>(res);
      expect(body.modelId).toBe(fixture.modelId);
      expect(body.knowledge).toEqual(c.knowledge);
      expect(body.scores).toHaveLength(c.expected.length);
      const diffs = body.scores.map((s, i) => Math.abs(s - c.expected[i]));
      expect(Math.max(...diffs)).toBeLessThan(TOLERANCE);
      // A trained model separates candidates: identical scores would make the comparison meaningless.
      expect(Math.max(...c.expected) - Math.min(...c.expected)).toBeGreaterThan(10 * TOLERANCE);
    });
  }

  it("reads the fallback item's raw knowledge, and its iv shard really lacks it", async () => {
    const c = fixture.cases[0];
    const body = await json<ScoreResponse>(await score({ userId: c.request.userId, candidates: [fixture.fallbackItem] }));
    expect(body.knowledge).toMatchObject({ itemsPrecomputed: 0, itemsFallback: 1 });
    const stats = await json<{ models: string[]; loadTimings: Record<string, { totalMs: number; sessionsMs: number }> }>(
      await call("/v1/admin/cache", { headers: adminHeaders() }),
    );
    expect(stats.models).toContain(fixture.modelId);
    const t = stats.loadTimings[fixture.modelId];
    expect(t.sessionsMs).toBeGreaterThanOrEqual(0);
    expect(t.totalMs).toBeGreaterThanOrEqual(0);
  });

  it("scores the stored profile the same as the same profile sent in the request", async () => {
    const c = fixture.cases[0];
    const stored = await json<ScoreResponse>(await score({ userId: c.request.userId, candidates: c.request.candidates }));
    const diffs = stored.scores.map((s, i) => Math.abs(s - c.expected[i]));
    expect(Math.max(...diffs)).toBeLessThan(TOLERANCE);
  });

  it("reports a request's KV reads in a debug header, only to an admin", async () => {
    const c = fixture.cases[0];
    const req = { userId: c.request.userId, candidates: c.request.candidates };
    const anonymous = await score(req, { "x-kser-debug": "kv" });
    expect(anonymous.headers.get("x-kser-kv-reads")).toBeNull();
    await flushCaches();
    const cold = await score(req, adminHeaders({ "x-kser-debug": "kv" }));
    const coldStats = JSON.parse(cold.headers.get("x-kser-kv-reads") ?? "null");
    // Cold: rollout, profile, manifest, vocabulary, graphs, then user/item knowledge and iv shards.
    expect(coldStats.reads).toBeGreaterThan(5);
    expect(coldStats.knowledgeReads).toBeGreaterThan(0);
    expect(coldStats.knowledgeBytes).toBeGreaterThan(0);
    const warm = await score(req, adminHeaders({ "x-kser-debug": "kv" }));
    const warmStats = JSON.parse(warm.headers.get("x-kser-kv-reads") ?? "null");
    expect(warmStats.knowledgeReads).toBe(0); // decoded shards come from the isolate cache
    expect(warmStats.reads).toBeLessThan(coldStats.reads);
  });

  it("times the backbone alone on the admin bench route, with the scores /v1/score gives", async () => {
    const c = fixture.cases[0];
    const bench = (repeats: number, headers: Record<string, string>) =>
      call("/v1/admin/bench/backbone", {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ userId: c.request.userId, candidates: c.request.candidates, repeats }),
      });
    expect((await bench(3, {})).status).toBe(401);
    expect((await bench(0, adminHeaders())).status).toBe(400);
    const res = await bench(3, adminHeaders());
    expect(res.status).toBe(200);
    const body = await json<{ modelId: string; repeats: number; candidates: number; checksum: number }>(res);
    expect(body).toMatchObject({ modelId: fixture.modelId, repeats: 3, candidates: c.request.candidates.length });
    const scored = await json<ScoreResponse>(await score({ userId: c.request.userId, candidates: c.request.candidates }));
    expect(body.checksum).toBeCloseTo(3 * scored.scores[0], 5);
  });
});
