// Requests that overlap in one isolate while KV values break and are restored. workerd cancels a request's pending
// I/O when that request ends, so a request that awaited a read another request started could wait forever; these
// tests drive the worker through that pattern and give every request a deadline.
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { kvKeys } from "../../shared/kv-keys.ts";
import type { ScoreResponse } from "../../shared/score-api.ts";
import { decodeShard, encodeShard } from "../../shared/vector-codec.ts";
import { pause } from "../../worker/src/request-reads.ts";
import { flushCaches, json, resetToFixture, score } from "./helpers.ts";

type Manifest = { graphs: { backbone: { blob: string } } };
const kv = () => env.KSER_KV;
const CANDIDATES = ["i1", "i2", "i3", "i4", "i5", "i6"];
const USERS = Array.from({ length: 60 }, (_, i) => `user-${i + 1}`);

type Answer = { status: number | "timeout"; body?: ScoreResponse };

/** A score request for `userId` that settles within `ms`: the response, or "timeout". */
async function scoreWithin(userId: string, ms: number): Promise<Response | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    return await Promise.race([score({ userId, candidates: CANDIDATES }), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Concurrent score requests for `users`, the i-th sent i * gapMs after the first, each with a deadline of `ms`. */
async function scoresOf(users: string[], ms: number, gapMs = 0): Promise<Map<string, Answer>> {
  const answers = await Promise.all(users.map((u, i) => pause(i * gapMs).then(() => scoreWithin(u, ms))));
  const out = new Map<string, Answer>();
  for (const [i, res] of answers.entries()) {
    if (res === "timeout") out.set(users[i], { status: "timeout" });
    else out.set(users[i], { status: res.status, body: res.status === 200 ? await json<ScoreResponse>(res) : undefined });
  }
  return out;
}

/** scoresOf ten users at a time: the deadline then detects a hang, not a busy 2-core machine. */
async function scoresInGroups(users: string[], ms: number): Promise<Map<string, Answer>> {
  const out = new Map<string, Answer>();
  for (let i = 0; i < users.length; i += 10) for (const [u, a] of await scoresOf(users.slice(i, i + 10), ms)) out.set(u, a);
  return out;
}

function expectSameScores(before: Map<string, Answer>, after: Map<string, Answer>, label: string) {
  for (const [user, was] of before) {
    const now = after.get(user);
    expect(now?.status, `${user}, ${label}`).toBe(200);
    expect(now?.body?.variant, `${user}, ${label}`).toBe(was.body?.variant);
    expect(now?.body?.scores, `${user}, ${label}`).toEqual(was.body?.scores);
  }
}

/**
 * Rewrites the fixture's user knowledge and item-vector shards with `filler` extra entities each (ids no request
 * names), so that a shard read takes about as long as one of a published model's shards rather than a few bytes'.
 */
async function padShards(filler: number): Promise<void> {
  const keys = [0, 1].flatMap((s) => [kvKeys.knowledgeShard("bank1", "user", s), kvKeys.itemVectorShard("fx-know", s)]);
  for (const key of keys) {
    const shard = decodeShard((await kv().get(key, "arrayBuffer")) as ArrayBuffer);
    const size = shard.chunks * shard.dim;
    const entities = shard.ids.map((id) => ({ id, ...(shard.get(id) as { values: Float32Array; mask: Float32Array }) }));
    for (let i = 0; i < filler; i++) {
      entities.push({ id: `filler-${i}`, values: new Float32Array(size).fill(i % 7), mask: new Float32Array(shard.chunks).fill(1) });
    }
    await kv().put(key, encodeShard({ codec: shard.codec, chunks: shard.chunks, dim: shard.dim, entities }));
  }
}

describe("cross-request isolation", () => {
  beforeEach(async () => {
    await resetToFixture(kv());
    await padShards(10_000);
    await flushCaches();
  });

  it("a model blob corrupted under concurrent requests, then restored and flushed: every later request answers within 2 s with its earlier scores", async () => {
    const before = await scoresInGroups(USERS, 10_000);
    for (const [user, a] of before) expect(a.status, user).toBe(200);

    const m = (await kv().get(kvKeys.model("fx-know"), "json")) as Manifest;
    const key = kvKeys.blob(m.graphs.backbone.blob);
    const original = new Uint8Array((await kv().get(key, "arrayBuffer")) as ArrayBuffer);
    await kv().put(key, crypto.getRandomValues(new Uint8Array(original.length)));
    await flushCaches();
    // One request first: its fallback model is then loaded, so later requests whose model fails answer at once.
    expect((await scoresOf(["user-0"], 10_000)).get("user-0")?.status).toBe(200);
    const during = await scoresOf(USERS.slice(0, 40), 10_000, 3);
    for (const [user, a] of during) expect(a.status, user).toBe(200);

    await kv().put(key, original);
    await flushCaches();
    for (let round = 1; round <= 2; round++) expectSameScores(before, await scoresInGroups(USERS, 2000), `round ${round}`);
  });

  it("flushes while requests are scoring: none fails or waits, and every score is as before", async () => {
    const before = await scoresInGroups(USERS, 10_000);
    const during = new Map<string, Answer>();
    for (let i = 0; i < USERS.length; i += 10) {
      // A flush lands while this group's requests are loading models, reading shards or running sessions.
      const group = scoresOf(USERS.slice(i, i + 10), 10_000, 2);
      await pause(5 + i / 2);
      await flushCaches();
      for (const [u, a] of await group) during.set(u, a);
    }
    expectSameScores(before, during, "under flushes");
  });
});
