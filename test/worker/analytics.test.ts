// Exposure events through a real ANALYTICS binding: one writeDataPoint per scored request, none for a rejected one,
// index = user id (hashed when over Analytics Engine's 96-byte index limit), blobs carry event, variant and model id.
// The binding is a wrapped binding backed by a recording Worker (test/worker/vitest.config.ts explains why).
import { env } from "cloudflare:workers";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { hash32 } from "../../shared/hash.ts";
import type { ScoreResponse } from "../../shared/score-api.ts";
import { forced, json, resetToFixture, score } from "./helpers.ts";

interface Point {
  indexes?: string[];
  blobs?: string[];
  doubles?: number[];
}
interface RecordingDataset {
  writeDataPoint(point: Point): void;
  recorded(): Point[];
  reset(): void;
}
const analytics = () => env.ANALYTICS as unknown as RecordingDataset;

describe("exposures to Analytics Engine", () => {
  beforeAll(() => resetToFixture(env.KSER_KV));
  beforeEach(() => analytics().reset());

  it("writes exactly one data point per scored request, with index = user id and variant/model id in blobs", async () => {
    const users = ["u1", "u2", "u3", "stranger-7"];
    const bodies: ScoreResponse[] = [];
    for (const userId of users) {
      const res = await score({ userId, candidates: ["i1", "i2", "unknown-item"] });
      expect(res.status).toBe(200);
      bodies.push(await json<ScoreResponse>(res));
    }
    const points = analytics().recorded();
    expect(points).toHaveLength(users.length);
    for (const [i, p] of points.entries()) {
      expect(p.indexes).toEqual([users[i]]);
      expect(p.blobs?.slice(0, 4)).toEqual(["exposure", bodies[i].variant, bodies[i].modelId, users[i]]);
      expect(p.doubles?.[0]).toBe(3); // candidates
      expect(p.doubles?.slice(4, 7)).toEqual([
        bodies[i].knowledge.itemsPrecomputed,
        bodies[i].knowledge.itemsFallback,
        bodies[i].knowledge.itemsMissing,
      ]);
    }
  });

  it("records the served variant of a forced request and marks it forced", async () => {
    const body = await json<ScoreResponse>(await score({ userId: "u1", candidates: ["i1"] }, forced("plain")));
    const points = analytics().recorded();
    expect(points).toHaveLength(1);
    expect(points[0].blobs?.slice(1, 3)).toEqual(["plain", body.modelId]);
    expect(points[0].doubles?.[3]).toBe(1);
  });

  it("writes nothing for a rejected request", async () => {
    expect((await score({ userId: "u1", candidates: [] })).status).toBe(400);
    expect((await score("{not json")).status).toBe(400);
    expect(analytics().recorded()).toHaveLength(0);
  });

  it("hashes a user id longer than the 96-byte index limit", async () => {
    const userId = "x".repeat(120);
    expect((await score({ userId, candidates: ["i1"] })).status).toBe(200);
    const points = analytics().recorded();
    expect(points).toHaveLength(1);
    expect(points[0].indexes).toEqual([`h:${hash32(userId).toString(16)}`]);
  });
});
