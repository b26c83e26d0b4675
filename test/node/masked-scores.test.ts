/**
 * Scoring a trained model with a changed bank: masking nothing gives the scores training reported, masking every
 * chunk gives the scores of the model fed no knowledge at all, and a masked chunk is gone from the bank (mask and
 * values) while the rest stays as it was.
 */
import { describe, expect, it } from "vitest";
import { generateKnowledgeWorld } from "../../trainer/data/knowledge-world.ts";
import { prepareDataset } from "../../trainer/data/prepare.ts";
import type { KnowledgeBank } from "../../trainer/data/types.ts";
import { maskBank, scoreMasked, scoreSplit } from "../../trainer/eval/masked-scores.ts";
import { buildBank } from "../../trainer/knowledge/bank.ts";
import { createHashEncoder } from "../../trainer/knowledge/encoders/hash.ts";
import { DEFAULT_PROPORTIONS } from "../../trainer/knowledge/simulator.ts";
import { worldKnowledge } from "../../trainer/knowledge/world-knowledge.ts";
import { auc } from "../../trainer/train/metrics.ts";
import { predictTf } from "../../trainer/train/model.ts";
import { trainModel } from "../../trainer/train/train.ts";

const world = generateKnowledgeWorld({ seed: 2, users: 120, items: 80 });
const data = prepareDataset(world.raw, { seed: 1 });

/** One epoch of DeepFM + KSER on the tiny world. */
const TINY_RUN = { backbone: "deepfm", extractor: "kser", embeddingDim: 8, epochs: 1, batchSize: 256, seed: 1 };

async function kserModel() {
  const texts = worldKnowledge(world, { seed: 1, chunksPerField: 4, proportions: DEFAULT_PROPORTIONS });
  const bank = await buildBank(texts, createHashEncoder({ dim: 32 }), { chunks: 4 });
  const model = await trainModel({ ...TINY_RUN, data, bank });
  return { bank, model };
}

const all = (bank: KnowledgeBank, side: "user" | "item") => new Uint8Array(bank[side].mask.length).fill(1);

describe("masked scoring", () => {
  it("masking nothing gives training's test scores; masking everything gives the no-knowledge scores", async () => {
    const { bank, model } = await kserModel();
    const plain = await scoreSplit(model, data, bank);
    expect(plain.metrics.auc).toBeCloseTo(model.metrics.test.auc, 5);
    expect(plain.metrics.gauc).toBeCloseTo(model.metrics.test.gauc, 5);
    expect(plain.metrics.logloss).toBeCloseTo(model.metrics.test.logloss, 5);
    const nothing = await scoreMasked(model, data, bank, {});
    expect([...nothing.scores]).toEqual([...plain.scores]);

    const everything = await scoreMasked(model, data, bank, { user: all(bank, "user"), item: all(bank, "item") });
    const t = data.test;
    const Fi = data.spec.itemFields.length;
    const L = data.spec.historyLength;
    const Fu = data.spec.userFields.length;
    const none = await predictTf(model, {
      count: t.count,
      itemFeats: t.itemFeats,
      userFeats: t.userFeats.subarray(0, t.count * Fu),
      histFeats: t.histFeats.subarray(0, t.count * L * Fi),
      histRatings: t.histRatings,
      histMask: t.histMask,
    });
    for (let s = 0; s < t.count; s++) expect(everything.scores[s]).toBeCloseTo(none[s], 5);
    expect(everything.metrics.auc).toBeCloseTo(auc(t.labels, none), 5);
    // The knowledge matters to this model: without it the scores move.
    expect(everything.scores.some((v, s) => Math.abs(v - plain.scores[s]) > 1e-4)).toBe(true);
  }, 60_000);

  it("maskBank removes exactly the flagged chunks and names the result apart", async () => {
    const texts = worldKnowledge(world, { seed: 1, chunksPerField: 4, proportions: DEFAULT_PROPORTIONS });
    const bank = await buildBank(texts, createHashEncoder({ dim: 16 }), { chunks: 4 });
    const drop = new Uint8Array(bank.user.mask.length);
    const present = bank.user.mask.findIndex((m) => m > 0);
    drop[present] = 1;
    const masked = maskBank(bank, { user: drop });
    expect(masked.bankId).not.toBe(bank.bankId);
    expect(masked.item).toBe(bank.item);
    expect(masked.user.mask[present]).toBe(0);
    expect([...masked.user.values.subarray(present * 16, (present + 1) * 16)].every((v) => v === 0)).toBe(true);
    expect(masked.user.kinds?.[present]).toBe(255);
    const others = (b: KnowledgeBank) => [...b.user.mask].filter((_, i) => i !== present);
    expect(others(masked)).toEqual(others(bank));
    expect(bank.user.mask[present]).toBe(1);
    expect(() => maskBank(bank, { user: new Uint8Array(3) })).toThrow(/3 flags/);
  });
});
