// Sticky bucketing: uniform, sticky, ramp-monotone; and the worker routes users to the variant the bucketing picks.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { assignVariant, BUCKETS, bucketOf, parseRolloutConfig, ROLLOUT_SCHEMA, type RolloutConfig } from "../../shared/rollout.ts";
import { chooseVariant } from "../../worker/src/rollout.ts";
import { adminHeaders, call, json, putJson, resetToFixture, score } from "./helpers.ts";

const N = 100_000;
const ids = Array.from({ length: N }, (_, i) => `user-${i}`);

function config(weights: [string, number][], salt = "exp-1"): RolloutConfig {
  return parseRolloutConfig({
    schema: ROLLOUT_SCHEMA,
    salt,
    variants: weights.map(([name, weight]) => ({ name, modelId: `m-${name}`, weight })),
    updatedAt: "2026-01-01T00:00:00Z",
  });
}

function chiSquare(observed: number[], expected: number[]): number {
  return observed.reduce((s, o, i) => s + (o - expected[i]) ** 2 / expected[i], 0);
}

describe("bucketing", () => {
  it("spreads 100,000 ids uniformly over 100 bucket ranges (chi-square, df 99, p = 0.001 bound 148.2)", () => {
    const counts = new Array(100).fill(0);
    for (const id of ids) counts[Math.floor(bucketOf(id, "exp-1") / (BUCKETS / 100))]++;
    expect(chiSquare(counts, new Array(100).fill(N / 100))).toBeLessThan(148.2);
  });

  it("splits traffic by the configured weights (chi-square, df 2, p = 0.001 bound 13.82)", () => {
    const cfg = config([
      ["control", 5000],
      ["b", 3000],
      ["c", 2000],
    ]);
    const counts = { control: 0, b: 0, c: 0 } as Record<string, number>;
    for (const id of ids) counts[chooseVariant(cfg, id).variant.name]++;
    expect(chiSquare([counts.control, counts.b, counts.c], [0.5 * N, 0.3 * N, 0.2 * N])).toBeLessThan(13.82);
  });

  it("is sticky: the same id always gets the same variant, and another salt re-randomises", () => {
    const cfg = config([
      ["control", 5000],
      ["b", 5000],
    ]);
    const first = ids.slice(0, 2000).map((id) => assignVariant(cfg, id).name);
    const again = ids.slice(0, 2000).map((id) => assignVariant(cfg, id).name);
    expect(again).toEqual(first);
    const other = ids.slice(0, 2000).map(
      (id) =>
        assignVariant(
          config(
            [
              ["control", 5000],
              ["b", 5000],
            ],
            "exp-2",
          ),
          id,
        ).name,
    );
    const moved = other.filter((v, i) => v !== first[i]).length;
    expect(moved).toBeGreaterThan(800); // about half move under an independent salt
    expect(moved).toBeLessThan(1200);
  });

  it("is ramp-monotone: raising a challenger's weight only adds users to it", () => {
    let previous = new Set<string>();
    for (let w = 0; w <= BUCKETS; w += 500) {
      const cfg = config([
        ["control", BUCKETS - w],
        ["challenger", w],
      ]);
      const inChallenger = new Set(ids.filter((id) => assignVariant(cfg, id).name === "challenger"));
      const left = [...previous].filter((id) => !inChallenger.has(id));
      expect(left).toEqual([]);
      expect(inChallenger.size).toBeGreaterThanOrEqual(previous.size);
      previous = inChallenger;
    }
    expect(previous.size).toBe(N);
  });
});

describe("variant routing in the worker", () => {
  beforeAll(() => resetToFixture(env.KSER_KV));

  it("serves each user the variant assignVariant picks, on every request", async () => {
    const cfgRes = await call("/v1/admin/rollout", { headers: adminHeaders() });
    const { config: live } = await json<{ config: RolloutConfig }>(cfgRes);
    const users = Array.from({ length: 30 }, (_, i) => `visitor-${i}`);
    const seen = new Set<string>();
    for (const userId of users) {
      const expected = assignVariant(live, userId);
      for (let k = 0; k < 2; k++) {
        const res = await score({ userId, candidates: ["i1", "i2"] });
        expect(res.status).toBe(200);
        expect(res.headers.get("x-kser-variant")).toBe(expected.name);
        expect(res.headers.get("x-kser-model")).toBe(expected.modelId);
      }
      seen.add(expected.name);
    }
    expect(seen.size).toBe(3); // 30 users over 50/30/20 reach every variant (fails with probability < 1e-4)
  });

  it("follows a new rollout config from KV", async () => {
    await putJson(env.KSER_KV, "rollout/config", {
      schema: ROLLOUT_SCHEMA,
      salt: "s2",
      variants: [
        { name: "plain", modelId: "fx-plain", weight: 0 },
        { name: "raw", modelId: "fx-raw", weight: 10000 },
      ],
      updatedAt: "2026-02-01T00:00:00Z",
    });
    const res = await score({ userId: "anyone", candidates: ["i1"] });
    expect(res.headers.get("x-kser-variant")).toBe("raw");
    const assign = await json<{ variant: string; bucket: number }>(
      await call("/v1/admin/assignment?userId=anyone", { headers: adminHeaders() }),
    );
    expect(assign.variant).toBe("raw");
    expect(assign.bucket).toBe(bucketOf("anyone", "s2"));
  });
});
