/** The knowledge-off measure: a model scored with every chunk masked loses what its knowledge gave it. */
import { beforeAll, describe, expect, it } from "vitest";
import { knowledgeOff } from "../../bench/quality/deletion.ts";
import { initBackend } from "../../trainer/accel/index.ts";
import { scoreSplit } from "../../trainer/eval/masked-scores.ts";
import { trainModel } from "../../trainer/train/train.ts";
import { randomData } from "./fixtures/random-data.ts";

beforeAll(async () => {
  await initBackend("wasm", () => {});
});

describe("knowledge off", () => {
  it("costs a model that reads its knowledge the AUC the knowledge gave it, and scores as the model does on no knowledge", async () => {
    // Item quality drives the clicks and only the item knowledge states it.
    const { data, bank } = randomData({ seed: 12, users: 300, items: 150, samplesPerUser: 30, genres: 3 });
    const model = await trainModel({
      data,
      bank,
      backbone: "deepfm",
      extractor: "raw",
      embeddingDim: 8,
      batchSize: 128,
      epochs: 3,
      seed: 2,
    });
    const off = await knowledgeOff(model, data, bank);
    expect(off.auc).toBeLessThan(model.metrics.test.auc - 0.01);
    const none = (f: typeof bank.user) => ({ ...f, mask: new Float32Array(f.mask.length) });
    const withoutKnowledge = await scoreSplit(model, data, { ...bank, user: none(bank.user), item: none(bank.item) });
    expect(off.auc).toBeCloseTo(withoutKnowledge.metrics.auc, 10);
  }, 60_000);
});
