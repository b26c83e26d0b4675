/**
 * A candidate that does not beat the champion by the configured margin is not published: exit 10, the live rollout
 * is exactly what it was, and no manifest of the candidate exists in KV.
 */
import { rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseNightlyConfig } from "../../trainer/nightly/config.ts";
import { EXIT, runNightly } from "../../trainer/nightly/run.ts";
import { readJson } from "../../trainer/nightly/run-dir.ts";
import { serializeRolloutConfig } from "../../trainer/rollout/store.ts";
import { readLive, smallConfig, tempRoot } from "./nightly-fixtures.ts";

let root: string;
beforeAll(async () => {
  root = await tempRoot("gate");
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const quiet = () => {};

describe("kser nightly gate", () => {
  it("a candidate worse than the champion (by the required gain) is gated out with exit 10", async () => {
    const first = await runNightly({ config: parseNightlyConfig(smallConfig(root), "nightly.json"), print: quiet });
    expect(first.exitCode, first.message).toBe(EXIT.OK);
    const before = await readLive(path.join(root, "kv"));
    expect(before.rollout?.variants).toHaveLength(2);

    // A different seed gives a different candidate; an AUC gain of 0.5 is out of reach for any of them.
    const strict = parseNightlyConfig(smallConfig(root, { model: { seed: 43 }, gate: { minAucGain: 0.5 } }), "nightly.json");
    const second = await runNightly({ config: strict, print: quiet });
    expect(second.exitCode).toBe(EXIT.GATED_OUT);
    expect(second.status).toBe("gated-out");
    expect(second.message).toMatch(/aucGain/);

    const dir = second.runDir!;
    const gate = await readJson<{ passed: boolean; checks: { name: string; passed: boolean }[] }>(path.join(dir, "gate.json"));
    expect(gate.passed).toBe(false);
    expect(gate.checks.find((c) => c.name === "aucGain")?.passed).toBe(false);
    const state = await readJson<{ stages: Record<string, unknown>; outcome: { exitCode: number } }>(path.join(dir, "state.json"));
    expect(state.stages.publish).toBeUndefined();
    expect(state.stages.ramp).toBeUndefined();
    expect(state.stages.report).toBeDefined();
    expect(state.outcome.exitCode).toBe(10);

    const { modelId } = await readJson<{ modelId: string }>(path.join(dir, "export.json"));
    const after = await readLive(path.join(root, "kv"), [modelId]);
    expect(serializeRolloutConfig(after.rollout!)).toBe(serializeRolloutConfig(before.rollout!));
    expect(after.manifests[modelId]).toBe(false);
    expect(after.rollout?.variants.some((v) => v.modelId === modelId)).toBe(false);
  }, 180_000);
});
