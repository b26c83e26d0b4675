/** Training: the loss falls and the model learns; the NaN guard fires; a seed fixes the result; checkpoints round-trip. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { splitBatch } from "../../trainer/eval/holdout.ts";
import { loadModel, saveModel } from "../../trainer/train/checkpoint.ts";
import { auc, gauc, logloss } from "../../trainer/train/metrics.ts";
import { predictTf } from "../../trainer/train/model.ts";
import { TrainingDivergedError, trainModel } from "../../trainer/train/train.ts";
import { randomData } from "./fixtures/random-data.ts";

const small = () => randomData({ seed: 5, users: 160, samplesPerUser: 40, chunks: 3, dim: 16 });

describe("metrics", () => {
  it("computes AUC with ties, LogLoss and GAUC", () => {
    expect(auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBeCloseTo(0.75, 10);
    expect(auc([0, 1], [0.5, 0.5])).toBe(0.5);
    expect(logloss([1, 0], [0.5, 0.5])).toBeCloseTo(Math.log(2), 10);
    // User 0 perfect (2 samples), user 1 inverted (2 samples), user 2 one class only (skipped).
    expect(gauc([0, 1, 0, 1, 1], [0.1, 0.9, 0.9, 0.1, 0.5], [0, 0, 1, 1, 2])).toBeCloseTo(0.5, 10);
  });
});

describe("trainModel", () => {
  it("lowers the loss and learns a learnable dataset (DeepFM + KSER)", async () => {
    const { data, bank } = small();
    const model = await trainModel({
      data,
      bank,
      backbone: "deepfm",
      extractor: "kser",
      embeddingDim: 8,
      epochs: 3,
      batchSize: 256,
      seed: 1,
    });
    expect(model.history.length).toBeGreaterThanOrEqual(2);
    expect(model.history[model.history.length - 1].trainLoss).toBeLessThan(model.history[0].trainLoss);
    expect(model.metrics.valid.auc).toBeGreaterThan(0.6);
    expect(model.metrics.test.auc).toBeGreaterThan(0.6);
    expect(Number.isFinite(model.metrics.test.gauc)).toBe(true);

    // Entities without knowledge (all chunks masked) still get finite, sane scores.
    const n = 3;
    const scores = await predictTf(model, splitBatch(data.spec, data.test, 0, n));
    for (const s of scores) expect(s > 0 && s < 1).toBe(true);

    const dir = await mkdtemp(path.join(tmpdir(), "kser-ckpt-"));
    try {
      await saveModel(model, dir);
      const loaded = await loadModel(dir);
      expect(loaded.config).toEqual(model.config);
      expect([...loaded.params.keys()]).toEqual([...model.params.keys()]);
      for (const [name, p] of model.params) expect(loaded.params.get(name)!.values).toEqual(p.values);
      expect(Array.from(await predictTf(loaded, splitBatch(data.spec, data.test, 0, n)))).toEqual(Array.from(scores));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("gives identical metrics for the same seed", async () => {
    const { data } = small();
    const run = () =>
      trainModel({ data, bank: null, backbone: "deepfm", extractor: "none", embeddingDim: 8, epochs: 2, batchSize: 256, seed: 9 });
    const a = await run();
    const b = await run();
    expect(b.metrics).toEqual(a.metrics);
    expect(b.history).toEqual(a.history);
  });

  it("stops with a clear error when the loss becomes NaN/Inf", async () => {
    const { data } = small();
    await expect(
      trainModel({
        data,
        bank: null,
        backbone: "deepfm",
        extractor: "none",
        embeddingDim: 8,
        epochs: 2,
        batchSize: 256,
        learningRate: 1e30,
      }),
    ).rejects.toThrow(TrainingDivergedError);
  });

  it("rejects a knowledge extractor without a bank", async () => {
    const { data } = small();
    await expect(trainModel({ data, bank: null, backbone: "deepfm", extractor: "kser" })).rejects.toThrow(/needs a knowledge bank/);
  });
});
