// POST /v1/score end to end in workerd: real KV (fixture bundle), real ORT sessions, scores checked against the
// fixture's JS reference.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { ScoreResponse } from "../../shared/score-api.ts";
import { fixtureRolloutForTests } from "./fixture-rollout.ts";
import { adminHeaders, call, forced, json, resetToFixture, score } from "./helpers.ts";
import { expectedScores } from "./reference.ts";

const CANDIDATES = ["i1", "i2", "i3", "i4", "i5", "i6", "unknown-item"];
// u1's stored profile: gender M, history i2 (4), i5 (5), i9 (unknown item, no rating).
const U1 = {
  userId: "u1",
  attributes: { gender: "M" },
  history: [{ itemId: "i2", rating: 4 }, { itemId: "i5", rating: 5 }, { itemId: "i9" }],
};

function expectClose(actual: number[], expected: number[]) {
  expect(actual).toHaveLength(expected.length);
  for (const [i, a] of actual.entries()) expect(a).toBeCloseTo(expected[i], 5);
}

describe("POST /v1/score", () => {
  beforeAll(() => resetToFixture(env.KSER_KV));

  it("scores with precomputed item vectors, raw-knowledge fallback and masked items (fx-know)", async () => {
    const res = await score({ userId: "u1", candidates: CANDIDATES }, forced("control"));
    expect(res.status).toBe(200);
    const body = await json<ScoreResponse>(res);
    expect(body.variant).toBe("control");
    expect(body.modelId).toBe("fx-know");
    expect(res.headers.get("x-kser-variant")).toBe("control");
    expect(res.headers.get("x-kser-model")).toBe("fx-know");
    expect(body.knowledge).toEqual({ user: "present", itemsPrecomputed: 3, itemsFallback: 1, itemsMissing: 3 });
    expectClose(body.scores, expectedScores("know", { ...U1, candidates: CANDIDATES }));
  });

  it("gives the same scores through the item extractor alone (fx-raw: no precomputed vectors)", async () => {
    const [a, b] = await Promise.all([
      score({ userId: "u1", candidates: CANDIDATES }, forced("control")).then((r) => json<ScoreResponse>(r)),
      score({ userId: "u1", candidates: CANDIDATES }, forced("raw")).then((r) => json<ScoreResponse>(r)),
    ]);
    expect(b.modelId).toBe("fx-raw");
    expect(b.knowledge).toEqual({ user: "present", itemsPrecomputed: 0, itemsFallback: 4, itemsMissing: 3 });
    expectClose(b.scores, a.scores);
  });

  it("serves a model without knowledge or user fields (fx-plain)", async () => {
    const res = await score({ userId: "u1", candidates: CANDIDATES }, forced("plain"));
    const body = await json<ScoreResponse>(res);
    expect(res.status).toBe(200);
    expect(body.knowledge).toEqual({ user: "none", itemsPrecomputed: 0, itemsFallback: 0, itemsMissing: 0 });
    expectClose(body.scores, expectedScores("plain", { ...U1, candidates: CANDIDATES }));
  });

  it("ranks candidates by score, aligned with the request order", async () => {
    const body = await json<ScoreResponse>(await score({ userId: "u1", candidates: CANDIDATES }, forced("control")));
    expect(body.ranked.map((r) => r.itemId).sort()).toEqual([...CANDIDATES].sort());
    for (let i = 1; i < body.ranked.length; i++) expect(body.ranked[i - 1].score).toBeGreaterThanOrEqual(body.ranked[i].score);
    for (const r of body.ranked) expect(r.score).toBe(body.scores[CANDIDATES.indexOf(r.itemId)]);
    expect(new Set(body.scores).size).toBeGreaterThan(1); // the fixture separates items: a constant output would be a bug
  });

  it("lets request attributes and history override the stored profile", async () => {
    const req = { userId: "u1", attributes: { gender: "F" }, history: [{ itemId: "i3", rating: 1 }], candidates: ["i1", "i4"] };
    const body = await json<ScoreResponse>(await score(req, forced("control")));
    expectClose(body.scores, expectedScores("know", req));
    const stored = await json<ScoreResponse>(await score({ userId: "u1", candidates: ["i1", "i4"] }, forced("control")));
    expect(stored.scores[0]).not.toBeCloseTo(body.scores[0], 5);
  });

  it("scores an unknown user with no profile and no knowledge as masked", async () => {
    const req = { userId: "stranger-42", attributes: {}, history: [], candidates: ["i1", "i2"] };
    const body = await json<ScoreResponse>(await score({ userId: req.userId, candidates: req.candidates }, forced("control")));
    expect(body.knowledge.user).toBe("missing");
    expectClose(body.scores, expectedScores("know", req));
  });

  it("scores 1000 candidates in one request", async () => {
    const many = Array.from({ length: 1000 }, (_, i) => `i${(i % 8) + 1}`);
    const res = await score({ userId: "u3", candidates: many }, forced("control"));
    expect(res.status).toBe(200);
    const body = await json<ScoreResponse>(res);
    expect(body.scores).toHaveLength(1000);
    const profile = { userId: "u3", attributes: { gender: "F" }, history: [{ itemId: "i1", rating: 2 }] };
    expectClose(body.scores.slice(0, 8), expectedScores("know", { ...profile, candidates: many.slice(0, 8) }));
  });

  it("reports the request's stages in Server-Timing to an admin who asks, and to nobody else", async () => {
    const req = { userId: "u1", candidates: ["i1", "i2"] };
    const plain = await score(req, forced("control"));
    expect(plain.headers.get("server-timing")).toBeNull();
    const timed = await score(req, { ...forced("control"), "x-kser-debug": "kv, timing" });
    expect(timed.status).toBe(200);
    const stages = (timed.headers.get("server-timing") ?? "").split(", ").map((s) => s.split(";dur=")[0]);
    expect(stages).toEqual(["parse", "context", "model", "inputs", "backbone", "respond", "exposure"]);
    expect(JSON.parse(timed.headers.get("x-kser-kv-reads") ?? "null")).toMatchObject({ reads: expect.any(Number) });
    const anonymous = await score(req, { "x-kser-debug": "timing" });
    expect(anonymous.status).toBe(200);
    expect(anonymous.headers.get("server-timing")).toBeNull();
    const refused = await score({ userId: "u1", candidates: [] }, adminHeaders({ "x-kser-debug": "timing" }));
    expect(refused.status).toBe(400);
    expect(refused.headers.get("server-timing")).toBeNull();
  });
});

describe("model prefetch", () => {
  beforeAll(() => resetToFixture(env.KSER_KV));

  it("loads the other live variants' models in the background after a request", async () => {
    const cached = async () => (await json<{ models: string[] }>(await call("/v1/admin/cache", { headers: adminHeaders() }))).models;
    expect(await cached()).toEqual([]);
    const res = await score({ userId: "u1", candidates: ["i1", "i2"] }, forced("control"));
    expect(res.status).toBe(200);
    const wanted = [...new Set(fixtureRolloutForTests().variants.map((v) => v.modelId))].sort();
    expect(wanted.length).toBeGreaterThan(1);
    // waitUntil work outlives the response: poll the isolate's cache (the load itself is what is checked, not its speed).
    let models = await cached();
    for (let i = 0; i < 600 && wanted.some((id) => !models.includes(id)); i++) {
      await new Promise((r) => setTimeout(r, 25));
      models = await cached();
    }
    expect([...models].sort()).toEqual(wanted);
  });
});
