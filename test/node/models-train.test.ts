/**
 * Training smoke test per backbone (with the KSER extractor) and per new extractor (raw, kar on DeepFM): on the
 * learnable random dataset, a couple of epochs give a finite, falling loss and a validation AUC above chance.
 */
import { describe, expect, it } from "vitest";
import { backboneNames } from "../../trainer/models/registry.ts";
import { trainModel } from "../../trainer/train/train.ts";
import { randomData } from "./fixtures/random-data.ts";

const dataset = randomData({ seed: 21, users: 100, samplesPerUser: 30, chunks: 3, dim: 8 });

async function smoke(backbone: string, extractor: string) {
  const model = await trainModel({
    data: dataset.data,
    bank: dataset.bank,
    backbone,
    extractor,
    embeddingDim: 8,
    epochs: 3,
    batchSize: 128,
    learningRate: 3e-3,
    seed: 4,
  });
  const losses = model.history.map((h) => h.trainLoss);
  console.log(
    `${backbone} + ${extractor}: train loss ${losses.map((l) => l.toFixed(4)).join(" -> ")}, valid AUC ${model.metrics.valid.auc.toFixed(4)}`,
  );
  expect(losses.every(Number.isFinite)).toBe(true);
  expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
  expect(model.metrics.valid.auc).toBeGreaterThan(0.55);
  expect(model.metrics.test.auc).toBeGreaterThan(0.55);
}

describe("training smoke test", () => {
  it.each(backboneNames())("%s + kser learns", (backbone) => smoke(backbone, "kser"));
  it.each(["raw", "kar"])("deepfm + %s learns", (extractor) => smoke("deepfm", extractor));
});
