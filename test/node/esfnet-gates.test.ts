/**
 * ESFNet's gates select: on a small generated dataset whose knowledge is half informative chunks and half
 * homogeneous filler (near-identical for everyone), KSER trained end to end (the chunk kinds are never an input)
 * gives the filler lower gates than the informative chunks, on both sides. And with every chunk masked the gates are
 * exactly 0 and the output finite (the learned "no knowledge" vector).
 */
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { prepareDataset } from "../../trainer/data/prepare.ts";
import { generateSyntheticDataset } from "../../trainer/data/synthetic.ts";
import { CHUNK_KINDS } from "../../trainer/data/types.ts";
import { buildBank } from "../../trainer/knowledge/bank.ts";
import { createHashEncoder } from "../../trainer/knowledge/encoders/hash.ts";
import { simulateKnowledge } from "../../trainer/knowledge/simulator.ts";
import { itemExtractorGraph, userExtractorGraph } from "../../trainer/models/graphs.ts";
import { ParamStore, TfOps } from "../../trainer/ops/tf-ops.ts";
import { computeGates } from "../../trainer/train/gates.ts";
import { forwardTf } from "../../trainer/train/model.ts";
import { trainModel } from "../../trainer/train/train.ts";
import { batchFeeds, configFor, randomBatch, seededWeights } from "./models-fixtures.ts";

describe("ESFNet gates", () => {
  it("gate homogeneous filler below informative chunks (kinds unseen in training)", async () => {
    const seed = 11;
    const raw = generateSyntheticDataset({ seed, users: 400, items: 300, interactionsPerUser: 30 });
    const data = prepareDataset(raw, { seed });
    const texts = simulateKnowledge(raw, data, {
      seed,
      chunksPerField: 6,
      proportions: { informative: 0.5, homogeneous: 0.5, hallucinated: 0, redundant: 0 },
    });
    const bank = await buildBank(texts, createHashEncoder({ dim: 32 }), { chunks: 6 });
    const model = await trainModel({
      data,
      bank,
      backbone: "deepfm",
      extractor: "kser",
      embeddingDim: 8,
      epochs: 5,
      batchSize: 256,
      seed,
      log: () => {},
    });
    const gates = computeGates(model, data, bank);
    for (const side of ["user", "item"] as const) {
      const byKind = gates[side].meanByKind!;
      // Rank check per chunk: the chance that an informative chunk's gate beats a filler chunk's (an AUC; ties 1/2).
      const K = bank[side].chunks;
      const informative: number[] = [];
      const filler: number[] = [];
      gates[side].entities.forEach((e, i) => {
        e.gates.forEach((g, k) => {
          if (!(e.mask[k] > 0)) return;
          const kind = CHUNK_KINDS[bank[side].kinds![i * K + k]];
          if (kind === "informative") informative.push(g);
          if (kind === "homogeneous") filler.push(g);
        });
      });
      let wins = 0;
      for (const a of informative) for (const b of filler) wins += a > b ? 1 : a === b ? 0.5 : 0;
      const separation = wins / (informative.length * filler.length);
      console.log(
        `${side}: mean gate informative ${byKind.informative.mean.toFixed(3)} (${informative.length}), homogeneous ${byKind.homogeneous.mean.toFixed(3)} (${filler.length}); P(informative > filler) ${separation.toFixed(3)}`,
      );
      expect(informative.length).toBeGreaterThan(100);
      expect(filler.length).toBeGreaterThan(100);
      expect(byKind.homogeneous.mean).toBeLessThan(byKind.informative.mean);
      expect(separation).toBeGreaterThan(0.65);
    }
  }, 120_000);

  it("all chunks masked: gates exactly 0, knowledge vectors, logit and sparsity penalty finite", () => {
    const cfg = configFor("deepfm", "kser");
    const params = ParamStore.fromValues(seededWeights(cfg));
    const b = randomBatch(cfg, 9, 3);
    b.userChunkMask!.fill(0);
    b.itemChunkMask!.fill(0);
    tf.tidy(() => {
      const ops = new TfOps(params, batchFeeds(cfg, b));
      const user = userExtractorGraph(ops, cfg);
      const item = itemExtractorGraph(ops, cfg);
      for (const t of [user.user_gate, item.item_gate]) expect(Array.from(t.dataSync()).every((v) => v === 0)).toBe(true);
      for (const t of [user.user_know, item.item_know]) expect(Array.from(t.dataSync()).every(Number.isFinite)).toBe(true);
      const out = forwardTf(new TfOps(params, batchFeeds(cfg, b)), cfg);
      expect(Array.from(out.logit.dataSync()).every(Number.isFinite)).toBe(true);
      expect(out.auxLoss?.dataSync()[0] ?? 0).toBe(0);
    });
    params.dispose();
  });
});
