/**
 * Sticky bucketing inside workerd: uniform, sticky, ramp-monotone; with two and three challengers every ramp, add
 * and remove the CLI plans keeps all users of the untouched variants; kser-rollout/1 configs written by the old
 * planner give the old assignment; what a rollback writes gives the prior assignment back; and the worker routes
 * users to the variant the bucketing picks.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import {
  assignVariant,
  BUCKETS,
  bucketOf,
  parseRolloutConfig,
  type RolloutConfig,
  rolloutConfigFromWeights,
} from "../../shared/rollout.ts";
import { rampVariant } from "../../trainer/rollout/plan.ts";
import { serializeRolloutConfig } from "../../trainer/rollout/store.ts";
import { chooseVariant } from "../../worker/src/rollout.ts";
import { CHI2_P001, formatReport, IDS, measureStep, SCENARIOS, scenarioConfigs } from "./fixtures/rollout-scenarios.ts";
import { V1_CASES } from "./fixtures/rollout-v1-configs.ts";
import { adminHeaders, call, json, putJson, resetToFixture, score } from "./helpers.ts";

const N = 100_000;
const ids = IDS;

function config(weights: [string, number][], salt = "exp-1"): RolloutConfig {
  return rolloutConfigFromWeights({
    salt,
    variants: weights.map(([name, weight]) => ({ name, modelId: `m-${name}`, weight })),
    updatedAt: "2026-01-01T00:00:00Z",
  });
}

/** The config the worker reads from KV after `text` is written to rollout/config (GET /v1/admin/rollout). */
async function workerReads(text: string): Promise<RolloutConfig> {
  await env.KSER_KV.put("rollout/config", text);
  const res = await call("/v1/admin/rollout", { headers: adminHeaders() });
  expect(res.status).toBe(200);
  return (await json<{ config: RolloutConfig }>(res)).config;
}

const workerNames = (config: RolloutConfig) => ids.map((id) => chooseVariant(config, id).variant.name);

async function sha256(names: string[]): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(names.join("\n")));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
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

describe("several challengers, as the worker reads the configs the CLI writes (100,000 ids)", () => {
  for (const [scenario, steps] of Object.entries(SCENARIOS)) {
    it(`${scenario}: every ramp, add and remove keeps 100% of the untouched variants' users; shares within chi-square`, async () => {
      const planned = scenarioConfigs(steps);
      let config = await workerReads(serializeRolloutConfig(planned[0]));
      let before = workerNames(config);
      for (const [i, step] of steps.entries()) {
        const next = await workerReads(serializeRolloutConfig(planned[i + 1]));
        expect(next).toEqual(planned[i + 1]);
        const after = workerNames(next);
        const r = measureStep(step, config, next, before, after);
        console.info(`[workerd ${scenario}] ${formatReport(r)}`);
        for (const kept of Object.values(r.keptUntouched)) expect(kept).toBe(1);
        expect(r.movedElsewhere).toBe(0);
        expect(r.leftGrowing).toBe(0);
        if (r.df > 0) expect(r.chi2).toBeLessThan(CHI2_P001[r.df - 1]);
        [config, before] = [next, after];
      }
    });
  }
});

describe("kser-rollout/1 configs written by the old planner", () => {
  it("give the assignment the old code gave, id for id (SHA-256 over 100,000 ids)", async () => {
    for (const c of V1_CASES) {
      const got = workerNames(await workerReads(c.json));
      const counts: Record<string, number> = {};
      for (const n of got) counts[n] = (counts[n] ?? 0) + 1;
      expect({ case: `${c.scenario} #${c.step}`, counts }).toEqual({ case: `${c.scenario} #${c.step}`, counts: c.counts });
      expect(await sha256(got)).toBe(c.sha256);
    }
    const res = await call("/v1/admin/assignment?userId=user-7", { headers: adminHeaders() });
    const last = parseRolloutConfig(JSON.parse(V1_CASES.at(-1)!.json));
    expect((await json<{ variant: string }>(res)).variant).toBe(assignVariant(last, "user-7").name);
  });

  it("ramping the first of two challengers keeps the second's users, and what rollback writes restores the old assignment", async () => {
    const v1 = V1_CASES.filter((c) => c.scenario === "two challengers").at(-1)!;
    const legacy = await workerReads(v1.json);
    const before = workerNames(legacy);
    const ramped = await workerReads(serializeRolloutConfig(rampVariant(legacy, "kser", 2500, { now: "2026-02-01T00:00:00Z" })));
    const after = workerNames(ramped);
    const kser2 = before.flatMap((n, i) => (n === "kser2" ? [i] : []));
    expect(kser2.length).toBeGreaterThan(14_000);
    expect(kser2.every((i) => after[i] === "kser2")).toBe(true);
    expect(before.every((n, i) => n !== "kser" || after[i] === "kser")).toBe(true);
    // `kser rollout rollback` writes the history entry as parsed (kser-rollout/2 with the old layout's buckets).
    const restored = await workerReads(serializeRolloutConfig(parseRolloutConfig(JSON.parse(v1.json))));
    expect(restored.schema).toBe("kser-rollout/2");
    expect(await sha256(workerNames(restored))).toBe(v1.sha256);
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
    await putJson(
      env.KSER_KV,
      "rollout/config",
      rolloutConfigFromWeights({
        salt: "s2",
        variants: [
          { name: "plain", modelId: "fx-plain", weight: 0 },
          { name: "raw", modelId: "fx-raw", weight: 10000 },
        ],
        updatedAt: "2026-02-01T00:00:00Z",
      }),
    );
    const res = await score({ userId: "anyone", candidates: ["i1"] });
    expect(res.headers.get("x-kser-variant")).toBe("raw");
    const assign = await json<{ variant: string; bucket: number }>(
      await call("/v1/admin/assignment?userId=anyone", { headers: adminHeaders() }),
    );
    expect(assign.variant).toBe("raw");
    expect(assign.bucket).toBe(bucketOf("anyone", "s2"));
  });
});
