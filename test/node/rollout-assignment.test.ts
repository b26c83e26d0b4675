/**
 * Sticky assignment with several challengers, on the CLI's side: over 100,000 ids every ramp, add and remove keeps
 * all users of the untouched variants, shares follow the weights (chi-square), random sequences keep the same
 * guarantees bucket by bucket (fast-check), and kser-rollout/1 configs written by the old planner give exactly the
 * assignment the old code gave.
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { rangesSize } from "../../shared/bucket-ranges.ts";
import { assignVariant, BUCKETS, parseRolloutConfig, type RolloutConfig, rolloutConfigFromWeights } from "../../shared/rollout.ts";
import { bucketMoves } from "../../trainer/rollout/moves.ts";
import { buildConfig, rampVariant, removeVariant } from "../../trainer/rollout/plan.ts";
import {
  applyStep,
  CHI2_P001,
  formatReport,
  IDS,
  measureStep,
  SCENARIOS,
  type Step,
  scenarioConfigs,
} from "../worker/fixtures/rollout-scenarios.ts";
import { V1_CASES } from "../worker/fixtures/rollout-v1-configs.ts";

const names = (config: RolloutConfig) => IDS.map((id) => assignVariant(config, id).name);

describe("assignment over 100,000 ids", () => {
  for (const [scenario, steps] of Object.entries(SCENARIOS)) {
    it(`${scenario}: every ramp, add and remove keeps 100% of the untouched variants' users; shares within chi-square`, () => {
      const configs = scenarioConfigs(steps);
      let before = names(configs[0]);
      for (const [i, step] of steps.entries()) {
        const after = names(configs[i + 1]);
        const r = measureStep(step, configs[i], configs[i + 1], before, after);
        console.info(`[${scenario}] ${formatReport(r)}`);
        for (const kept of Object.values(r.keptUntouched)) expect(kept).toBe(1);
        expect(r.movedElsewhere).toBe(0);
        expect(r.leftGrowing).toBe(0);
        if (r.df > 0) expect(r.chi2).toBeLessThan(CHI2_P001[r.df - 1]);
        before = after;
      }
    });
  }

  it("ramping the first of two challengers leaves the second where it is (the case the fixed layout could not do)", () => {
    const start = rolloutConfigFromWeights({
      salt: "exp-2026-01",
      variants: [
        { name: "control", modelId: "m0", weight: 8000 },
        { name: "kser", modelId: "m1", weight: 1000 },
        { name: "kser2", modelId: "m2", weight: 1000 },
      ],
      updatedAt: "t0",
    });
    const next = rampVariant(start, "kser", 2000, { now: "t1" });
    expect(next.variants.find((v) => v.name === "kser2")!.buckets).toEqual(start.variants.find((v) => v.name === "kser2")!.buckets);
    expect(bucketMoves(start, next).transitions).toEqual({ "control -> kser": 1000 });
  });
});

describe("kser-rollout/1 configs written by the old planner", () => {
  it("read into the assignment the old code gave, id for id (SHA-256 over 100,000 ids)", () => {
    expect(V1_CASES.length).toBeGreaterThanOrEqual(10);
    for (const c of V1_CASES) {
      const config = parseRolloutConfig(JSON.parse(c.json));
      const got = names(config);
      const counts: Record<string, number> = {};
      for (const n of got) counts[n] = (counts[n] ?? 0) + 1;
      expect({ case: `${c.scenario} #${c.step}`, counts }).toEqual({ case: `${c.scenario} #${c.step}`, counts: c.counts });
      expect(createHash("sha256").update(got.join("\n")).digest("hex")).toBe(c.sha256);
    }
  });

  it("ramping any challenger of a legacy config keeps the other challengers' users", () => {
    const legacy = V1_CASES.filter((c) => c.scenario === "three challengers" && c.step === 0).map((c) =>
      parseRolloutConfig(JSON.parse(c.json)),
    )[0];
    const before = names(legacy);
    for (const variant of ["a", "b", "c"]) {
      const step: Step = { op: "ramp", variant, percent: 12.5 };
      const after = applyStep(legacy, step, "t1");
      const r = measureStep(step, legacy, after, before, names(after));
      expect(Object.keys(r.keptUntouched).sort()).toEqual(["a", "b", "c"].filter((v) => v !== variant));
      for (const kept of Object.values(r.keptUntouched)) expect(kept).toBe(1);
      expect(r.movedElsewhere).toBe(0);
    }
  });
});

type Op = { kind: "ramp"; slot: number; weight: number } | { kind: "remove"; slot: number } | { kind: "set"; weights: number[] };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("ramp" as const), slot: fc.nat(4), weight: fc.nat(4000) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("remove" as const), slot: fc.nat(4) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("set" as const), weights: fc.array(fc.nat(2000), { minLength: 5, maxLength: 5 }) }),
  },
);

/** Applies an op through the planner; returns null when it is one the planner rightly refuses (over 100%). */
function apply(config: RolloutConfig, op: Op, now: string): { next: RolloutConfig; changed: string[] } | null {
  const present = config.variants.slice(1).map((v) => v.name);
  const name = `v${op.kind === "set" ? 0 : op.slot}`;
  if (op.kind === "remove") return present.includes(name) ? { next: removeVariant(config, name, now), changed: [name] } : null;
  if (op.kind === "ramp") {
    const others = config.variants.slice(1).reduce((s, v) => s + (v.name === name ? 0 : v.weight), 0);
    if (others + op.weight > BUCKETS) return null;
    return {
      next: rampVariant(config, name, op.weight, { modelId: present.includes(name) ? undefined : `m-${name}`, now }),
      changed: [name],
    };
  }
  const variants = op.weights.map((weight, i) => ({ name: `v${i}`, modelId: `m-v${i}`, weight })).filter((v) => v.weight > 0);
  const next = buildConfig({ salt: config.salt, variants: [{ name: "control", modelId: "m0" }, ...variants], now, live: config });
  const changed = config.variants.concat(next.variants).map((v) => v.name);
  return {
    next,
    changed: changed.filter((n) => config.variants.find((v) => v.name === n)?.weight !== next.variants.find((v) => v.name === n)?.weight),
  };
}

describe("random sequences of ramp, add, remove and set (fast-check)", () => {
  it("move buckets only between a changed variant and the champion; unchanged variants keep every bucket", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 25 }), (ops) => {
        let config = rolloutConfigFromWeights({
          salt: "s",
          variants: [{ name: "control", modelId: "m0", weight: BUCKETS }],
          updatedAt: "t0",
        });
        for (const [i, op] of ops.entries()) {
          const result = apply(config, op, `t${i + 1}`);
          if (!result) continue;
          const { next, changed } = result;
          expect(parseRolloutConfig(JSON.parse(JSON.stringify(next)))).toEqual(next);
          const moves = bucketMoves(config, next);
          expect(moves.reshuffled).toEqual([]);
          for (const v of next.variants.slice(1)) {
            const old = config.variants.find((w) => w.name === v.name);
            if (old && !changed.includes(v.name)) expect(v.buckets).toEqual(old.buckets);
            expect(rangesSize(v.buckets)).toBe(v.weight);
          }
          const champion = next.variants[0].name;
          for (const t of Object.keys(moves.transitions)) {
            const [from, to] = t.split(" -> ");
            if (op.kind !== "set") expect([from, to].sort()).toEqual([champion, changed[0]].sort());
            else expect(changed.includes(from) || changed.includes(to)).toBe(true);
          }
          config = next;
        }
      }),
      { numRuns: 300, seed: 25 },
    );
  });
});
