// Fault injection: missing and corrupt KV values, broken model blobs. Every fault gives a clear 503 or the
// fallback variant, a log line saying why, and never an unhandled 500.
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { kvKeys, shardOf } from "../../shared/kv-keys.ts";
import { assignVariant } from "../../shared/rollout.ts";
import type { ScoreResponse } from "../../shared/score-api.ts";
import { fixtureRolloutForTests } from "./fixture-rollout.ts";
import { PROFILE_SET } from "./fixtures/fixture-model.ts";
import { call, flushCaches, forced, json, putJson, resetToFixture, score } from "./helpers.ts";
import { expectedScores } from "./reference.ts";

type ErrorBody = { error: { code: string; message: string } };
type Manifest = { modelId: string; graphs: { backbone: { blob: string; bytes: number } } };
type Readiness = { status: string; reasons: string[]; variants: { variant: string; ok: boolean; problem?: string }[] };

const kv = () => env.KSER_KV;
const cfg = fixtureRolloutForTests();
const controlUser = Array.from({ length: 200 }, (_, i) => `f-${i}`).find((u) => assignVariant(cfg, u).name === "control") as string;

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The JSON log lines written through console.error / console.warn while a test runs. */
function captureLogs() {
  const lines: Record<string, unknown>[] = [];
  const grab = (...args: unknown[]) => {
    try {
      lines.push(JSON.parse(String(args[0])));
    } catch {
      // not one of the worker's JSON lines
    }
  };
  vi.spyOn(console, "error").mockImplementation(grab);
  vi.spyOn(console, "warn").mockImplementation(grab);
  return lines;
}

async function expectFallback(res: Response, logs: Record<string, unknown>[], reasonPart: string) {
  expect(res.status).toBe(200);
  expect(res.headers.get("x-kser-variant")).toBe("plain");
  expect(res.headers.get("x-kser-fallback")).toBe("control");
  const body = await json<ScoreResponse>(res);
  expect(body.modelId).toBe("fx-plain");
  const line = logs.find((l) => l.event === "variant_failed");
  expect(line).toMatchObject({ variant: "control", modelId: "fx-know", fallback: "plain" });
  expect(String(line?.reason)).toContain(reasonPart);
}

describe("fault injection", () => {
  let logs: Record<string, unknown>[];
  beforeEach(async () => {
    await resetToFixture(kv());
    logs = captureLogs();
  });
  afterEach(() => vi.restoreAllMocks());

  it("missing rollout config: 503 rollout_unavailable; alive, but not ready, naming the config", async () => {
    await kv().delete(kvKeys.rolloutConfig());
    await flushCaches();
    const res = await score({ userId: "u1", candidates: ["i1"] });
    expect(res.status).toBe(503);
    expect((await json<ErrorBody>(res)).error.code).toBe("rollout_unavailable");
    expect(logs.some((l) => l.event === "rollout_missing")).toBe(true);
    expect((await call("/v1/health")).status).toBe(200);
    const ready = await call("/v1/ready");
    expect(ready.status).toBe(503);
    const body = await json<Readiness>(ready);
    expect(body.status).toBe("not_ready");
    expect(body.reasons.join(" ")).toContain("rollout/config");
  });

  it("corrupt vocabulary blob: every variant fails after a flush, and readiness says so while liveness holds", async () => {
    expect((await call("/v1/ready")).status).toBe(200);
    const m = (await kv().get(kvKeys.model("fx-know"), "json")) as Manifest & { vocabulary: { blob: string } };
    const key = kvKeys.blob(m.vocabulary.blob);
    const bytes = new Uint8Array((await kv().get(key, "arrayBuffer")) as ArrayBuffer);
    bytes[0] ^= 0x20;
    await kv().put(key, bytes);
    await flushCaches();
    const res = await score({ userId: controlUser, candidates: ["i1"] });
    expect(res.status).toBe(503);
    expect((await call("/v1/health")).status).toBe(200);
    const ready = await call("/v1/ready");
    expect(ready.status).toBe(503);
    const body = await json<Readiness>(ready);
    expect(body.variants.map((v) => v.ok)).toEqual([false, false, false]);
    expect(body.reasons).toHaveLength(3);
    for (const reason of body.reasons) expect(reason).toContain("vocabulary blob");
  });

  it("a corrupt rollout config with a previous one cached: served with the previous, logged once however many requests", async () => {
    expect((await score({ userId: "u1", candidates: ["i1"] })).status).toBe(200);
    await kv().put(kvKeys.rolloutConfig(), "{ definitely not json");
    for (let i = 0; i < 20; i++) expect((await score({ userId: `r-${i}`, candidates: ["i1"] })).status).toBe(200);
    expect(logs.filter((l) => l.event === "rollout_corrupt_using_previous")).toHaveLength(1);
    expect((await call("/v1/ready")).status).toBe(200);
  });

  it("corrupt rollout config: 503 naming the config", async () => {
    await kv().put(kvKeys.rolloutConfig(), "{ definitely not json");
    await flushCaches();
    const res = await score({ userId: "u1", candidates: ["i1"] });
    expect(res.status).toBe(503);
    const body = await json<ErrorBody>(res);
    expect(body.error.message).toContain("rollout/config");
    expect(Object.keys(body.error).sort()).toEqual(["code", "message"]);
    expect(body.error.message).not.toMatch(/\n\s+at |\.ts:\d+/); // no stack trace in the answer
    expect(logs.some((l) => l.event === "rollout_corrupt")).toBe(true);
  });

  it("missing manifest: the fallback variant serves, and the log says why", async () => {
    await kv().delete(kvKeys.model("fx-know"));
    await expectFallback(await score({ userId: controlUser, candidates: ["i1", "i2"] }), logs, "missing");
  });

  it("corrupt manifest: fallback", async () => {
    await kv().put(kvKeys.model("fx-know"), '{"schema":"kser-model/1","modelId":');
    await expectFallback(await score({ userId: controlUser, candidates: ["i1"] }), logs, "manifest is corrupt");
  });

  it("manifest failing the schema: fallback", async () => {
    const m = (await kv().get(kvKeys.model("fx-know"), "json")) as Record<string, unknown>;
    await putJson(kv(), kvKeys.model("fx-know"), { ...m, embeddingDim: -3 });
    await expectFallback(await score({ userId: controlUser, candidates: ["i1"] }), logs, "embeddingDim");
  });

  it("model blob altered in KV: the sha256 check catches it, fallback", async () => {
    const m = (await kv().get(kvKeys.model("fx-know"), "json")) as Manifest;
    const bytes = new Uint8Array((await kv().get(kvKeys.blob(m.graphs.backbone.blob), "arrayBuffer")) as ArrayBuffer);
    bytes[bytes.length - 1] ^= 0xff; // same length, one flipped byte
    await kv().put(kvKeys.blob(m.graphs.backbone.blob), bytes);
    await expectFallback(await score({ userId: controlUser, candidates: ["i1"] }), logs, "sha256");
  });

  it("model blob missing: fallback", async () => {
    const m = (await kv().get(kvKeys.model("fx-know"), "json")) as Manifest;
    await kv().delete(kvKeys.blob(m.graphs.backbone.blob));
    await expectFallback(await score({ userId: controlUser, candidates: ["i1"] }), logs, "missing");
  });

  it("intact blob that is not a valid ONNX model: ORT fails to load it, fallback", async () => {
    const garbage = new TextEncoder().encode("this is not an onnx model ".repeat(20));
    const sha = await sha256Hex(garbage);
    await kv().put(kvKeys.blob(sha), garbage);
    const m = (await kv().get(kvKeys.model("fx-know"), "json")) as Manifest;
    await putJson(kv(), kvKeys.model("fx-know"), {
      ...m,
      graphs: { ...m.graphs, backbone: { ...m.graphs.backbone, blob: sha, bytes: garbage.length } },
    });
    await expectFallback(await score({ userId: controlUser, candidates: ["i1"] }), logs, "ORT could not load");
  });

  it("no fallback configured: 503 model_unavailable", async () => {
    await putJson(kv(), kvKeys.rolloutConfig(), { ...cfg, fallback: undefined });
    await kv().delete(kvKeys.model("fx-know"));
    await flushCaches();
    const res = await score({ userId: controlUser, candidates: ["i1"] });
    expect(res.status).toBe(503);
    const body = await json<ErrorBody>(res);
    expect(body.error.code).toBe("model_unavailable");
    expect(body.error.message).toContain("fx-know");
  });

  it("fallback broken too: 503 model_unavailable, both failures logged", async () => {
    await kv().delete(kvKeys.model("fx-know"));
    await kv().delete(kvKeys.model("fx-plain"));
    const res = await score({ userId: controlUser, candidates: ["i1"] });
    expect(res.status).toBe(503);
    expect((await json<ErrorBody>(res)).error.code).toBe("model_unavailable");
    expect(logs.map((l) => l.event)).toEqual(expect.arrayContaining(["variant_failed", "fallback_failed"]));
  });

  it("a forced variant that cannot load reports 503 instead of silently falling back", async () => {
    await kv().delete(kvKeys.model("fx-raw"));
    const res = await score({ userId: controlUser, candidates: ["i1"] }, forced("raw"));
    expect(res.status).toBe(503);
  });

  it("recovers once KV is fixed: failed loads are not cached", async () => {
    await kv().delete(kvKeys.model("fx-know"));
    expect((await score({ userId: controlUser, candidates: ["i1"] })).headers.get("x-kser-variant")).toBe("plain");
    await resetToFixture(kv());
    expect((await score({ userId: controlUser, candidates: ["i1"] })).headers.get("x-kser-variant")).toBe("control");
  });

  it("corrupt user knowledge shard: scored as a user without knowledge, shard logged", async () => {
    const key = kvKeys.knowledgeShard("bank1", "user", shardOf("u1", 2));
    await kv().put(key, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]));
    const res = await score({ userId: "u1", candidates: ["i1", "i4", "i6"] }, forced("control"));
    expect(res.status).toBe(200);
    const body = await json<ScoreResponse>(res);
    expect(body.knowledge.user).toBe("missing");
    const u1 = {
      userId: "u1",
      attributes: { gender: "M" },
      history: [{ itemId: "i2", rating: 4 }, { itemId: "i5", rating: 5 }, { itemId: "i9" }],
    };
    const expected = expectedScores("know", { ...u1, candidates: ["i1", "i4", "i6"] }, { userKnowledge: false });
    for (const [i, s] of body.scores.entries()) expect(s).toBeCloseTo(expected[i], 5);
    expect(logs.find((l) => l.event === "shard_unusable")).toMatchObject({ key });
  });

  it("corrupt precomputed item-vector shards: items go through the item extractor instead", async () => {
    for (const s of [0, 1]) await kv().put(kvKeys.itemVectorShard("fx-know", s), new Uint8Array(64));
    const res = await score({ userId: "u1", candidates: ["i1", "i2", "i3", "i4"] }, forced("control"));
    const body = await json<ScoreResponse>(res);
    expect(body.knowledge).toMatchObject({ itemsPrecomputed: 0, itemsFallback: 4, itemsMissing: 0 });
    const u1 = {
      userId: "u1",
      attributes: { gender: "M" },
      history: [{ itemId: "i2", rating: 4 }, { itemId: "i5", rating: 5 }, { itemId: "i9" }],
    };
    const expected = expectedScores("know", { ...u1, candidates: ["i1", "i2", "i3", "i4"] });
    for (const [i, s] of body.scores.entries()) expect(s).toBeCloseTo(expected[i], 5);
  });

  it("corrupt user profile: scored as an unknown profile, logged", async () => {
    await kv().put(kvKeys.userProfile(PROFILE_SET, "u3"), "[[[");
    const res = await score({ userId: "u3", candidates: ["i2"] }, forced("control"));
    expect(res.status).toBe(200);
    const body = await json<ScoreResponse>(res);
    expect(body.scores[0]).toBeCloseTo(expectedScores("know", { userId: "u3", attributes: {}, history: [], candidates: ["i2"] })[0], 5);
    expect(logs.some((l) => l.event === "profile_corrupt")).toBe(true);
  });
});
