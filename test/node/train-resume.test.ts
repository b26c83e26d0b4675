/** Learning-rate schedules, and a run killed after an epoch resumes from its checkpoint to the same result. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadTrainState } from "../../trainer/train/run-state.ts";
import { learningRateAt, parseSchedule } from "../../trainer/train/schedule.ts";
import { TrainingStoppedError, trainModel } from "../../trainer/train/train.ts";
import { randomData } from "./fixtures/random-data.ts";

describe("learning-rate schedules", () => {
  it("warms up linearly, then decays by cosine or by steps", () => {
    const cosine = { kind: "cosine", warmupSteps: 4, minLr: 0.1 } as const;
    expect([0, 1, 2, 3].map((s) => learningRateAt(cosine, 1, s, 14))).toEqual([0.25, 0.5, 0.75, 1]);
    expect(learningRateAt(cosine, 1, 4, 14)).toBeCloseTo(1, 12);
    expect(learningRateAt(cosine, 1, 9, 14)).toBeCloseTo(0.55, 12); // half way: (1 + 0.1) / 2
    expect(learningRateAt(cosine, 1, 14, 14)).toBeCloseTo(0.1, 12);
    const step = { kind: "step", every: 3, factor: 0.5 } as const;
    expect([0, 2, 3, 5, 6, 9].map((s) => learningRateAt(step, 0.8, s, 100))).toEqual([0.8, 0.8, 0.4, 0.4, 0.2, 0.1]);
    expect(learningRateAt({ kind: "constant" }, 0.3, 50, 10)).toBe(0.3);
    expect(parseSchedule("step:3:0.5:2")).toEqual({ kind: "step", every: 3, factor: 0.5, warmupSteps: 2 });
    expect(parseSchedule("cosine:10")).toEqual({ kind: "cosine", warmupSteps: 10, minLr: 0 });
    expect(() => parseSchedule("linear")).toThrow(/bad schedule/);
  });
});

describe("resume from the per-epoch checkpoint", () => {
  it("a run stopped after epoch 2 and resumed ends with the metrics and weights of an uninterrupted run", async () => {
    const { data, bank } = randomData({ seed: 3, users: 80, samplesPerUser: 20, chunks: 3, dim: 8 });
    const base = {
      data,
      bank,
      backbone: "deepfm",
      extractor: "kser",
      embeddingDim: 8,
      epochs: 4,
      batchSize: 128,
      seed: 11,
      patience: 10,
      schedule: { kind: "cosine", warmupSteps: 3 } as const,
    };
    const dirA = await mkdtemp(path.join(tmpdir(), "kser-run-a-"));
    const dirB = await mkdtemp(path.join(tmpdir(), "kser-run-b-"));
    try {
      const whole = await trainModel({ ...base, runDir: dirA });
      await expect(trainModel({ ...base, runDir: dirB, stopAfterEpoch: 2 })).rejects.toThrow(TrainingStoppedError);
      const state = await loadTrainState(dirB);
      expect(state?.epoch).toBe(2);
      expect(state?.history.length).toBe(2);
      const resumed = await trainModel({ ...base, runDir: dirB });
      expect(resumed.resumedFrom).toBe(2);
      expect(resumed.history).toEqual(whole.history);
      expect(resumed.metrics).toEqual(whole.metrics);
      for (const [name, p] of whole.params) expect(resumed.params.get(name)!.values, name).toEqual(p.values);
      // A checkpoint of another configuration is refused rather than silently mixed in.
      await expect(trainModel({ ...base, runDir: dirB, learningRate: 5e-3 })).rejects.toThrow(/different run/);
    } finally {
      await rm(dirA, { recursive: true, force: true });
      await rm(dirB, { recursive: true, force: true });
    }
  });
});
