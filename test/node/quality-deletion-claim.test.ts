/** The deletion claim: the top-gated half must cost twice the bottom half, and more than the seeds' noise. */
import { describe, expect, it } from "vitest";
import { judgeDeletion } from "../../bench/quality/claims.ts";
import type { RunResult } from "../../bench/quality/types.ts";

const runs = (costs: [number, number][]) =>
  costs.map(([top, bottom], i) => ({ seed: i + 1, deletion: { cost: { top, bottom } } }) as unknown as RunResult);
const judge = judgeDeletion("gauc");

describe("the deletion claim", () => {
  it("holds when the top half costs clearly more than the bottom half in every seed", () => {
    const v = judge(
      runs([
        [0.12, 0.001],
        [0.13, 0.0],
        [0.125, 0.002],
        [0.118, -0.001],
        [0.131, 0.001],
      ]),
    );
    expect(v.holds).toBe(true);
    expect(v.seedsHolding).toBe(5);
  });

  it("fails when the mean top cost is twice the bottom's but within its noise", () => {
    // Mean top 0.0001, std about 0.0008: the ratio rule alone would pass it.
    const v = judge(
      runs([
        [0.001, 0.0],
        [-0.0008, 0.0],
        [0.0009, 0.0001],
        [-0.0006, -0.0001],
        [0.0, 0.0],
      ]),
    );
    expect(v.holds).toBe(false);
  });

  it("fails when the bottom half costs as much as the top half", () => {
    expect(
      judge(
        runs([
          [0.05, 0.04],
          [0.06, 0.05],
          [0.05, 0.045],
        ]),
      ).holds,
    ).toBe(false);
  });
});
