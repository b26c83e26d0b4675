/**
 * A nightly run SIGKILLed while the candidate trains (when the log says epoch 2 of 3 ended) is continued by the
 * next invocation and ends with exactly the metrics, model id and rollout of an uninterrupted run.
 */
import { rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listRuns, readJson } from "../../trainer/nightly/run-dir.ts";
import { kserNightly, readLive, smallConfig, tempRoot, writeConfig } from "./nightly-fixtures.ts";

let rootA: string;
let rootB: string;
beforeAll(async () => {
  rootA = await tempRoot("straight");
  rootB = await tempRoot("killed");
});
afterAll(async () => {
  await rm(rootA, { recursive: true, force: true });
  await rm(rootB, { recursive: true, force: true });
});

interface Metrics {
  candidate: { auc: number; logloss: number; gauc: number; history: unknown[] };
  champion: { auc: number; logloss: number; gauc: number };
}

describe("kser nightly resume", () => {
  it("killed during training, re-invoked, ends with the uninterrupted run's result", async () => {
    const overrides = { model: { epochs: 3 } };
    const fileA = await writeConfig(rootA, "nightly.json", smallConfig(rootA, overrides));
    const fileB = await writeConfig(rootB, "nightly.json", smallConfig(rootB, overrides));

    const straight = await kserNightly(["--config", fileA]);
    expect(straight.code, straight.out).toBe(0);

    const killed = await kserNightly(["--config", fileB], { killWhen: /\[train\] epoch 2:/ });
    expect(killed.signal).toBe("SIGKILL");
    const [unfinished] = await listRuns(path.join(rootB, "runs"));
    expect(unfinished.state.outcome).toBeUndefined();
    expect(unfinished.state.stages.champion).toBeDefined();
    expect(unfinished.state.stages.train).toBeUndefined();

    // The next invocation (as cron would run it: same command, no flags) continues the unfinished run.
    const resumed = await kserNightly(["--config", fileB]);
    expect(resumed.code, resumed.out).toBe(0);
    expect(resumed.out).toMatch(/ingest: done in an earlier attempt, skipped/);
    expect(resumed.out).toMatch(/\[train\] resumed from the checkpoint after epoch [12]\b/);

    const runsA = await listRuns(path.join(rootA, "runs"));
    const runsB = await listRuns(path.join(rootB, "runs"));
    expect(runsB).toHaveLength(1);
    expect(runsB[0].state.attempts).toBe(2);
    // The epoch-1 checkpoint was on disk before epoch 2 began; the kill may land before or after epoch 2's.
    expect(runsB[0].state.stages.train?.summary.resumedFrom).toBeGreaterThanOrEqual(1);
    const a = await readJson<Metrics>(path.join(runsA[0].dir, "metrics.json"));
    const b = await readJson<Metrics>(path.join(runsB[0].dir, "metrics.json"));
    expect(b.candidate).toEqual(a.candidate);
    expect(b.champion).toEqual(a.champion);
    // Extractor-only: the frozen backbone is epoch 0, then the three trained epochs.
    expect(a.candidate.history.map((h) => (h as { epoch: number }).epoch)).toEqual([0, 1, 2, 3]);
    const exportA = await readJson<{ modelId: string }>(path.join(runsA[0].dir, "export.json"));
    const exportB = await readJson<{ modelId: string }>(path.join(runsB[0].dir, "export.json"));
    expect(exportB.modelId).toBe(exportA.modelId);

    const liveA = await readLive(path.join(rootA, "kv"), [exportA.modelId]);
    const liveB = await readLive(path.join(rootB, "kv"), [exportB.modelId]);
    expect(liveB.manifests[exportB.modelId]).toBe(true);
    expect(liveB.rollout?.variants).toEqual(liveA.rollout?.variants);
    expect(liveB.rollout?.variants.map((v) => v.name)).toEqual(["control", "candidate"]);
  }, 240_000);
});
