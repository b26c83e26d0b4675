/**
 * The parts of KSER's method that do not show in parity tests: the gate depends on a chunk's slot (its aspect), the
 * contrastive term trains ESFNet's agreement heads without teaching the entity's own embeddings its chunks, and
 * extractor-only training never returns a model that validates worse than its frozen backbone.
 */
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../trainer/accel/index.ts";
import { splitBatch } from "../../trainer/eval/holdout.ts";
import { getExtractor } from "../../trainer/models/registry.ts";
import { ParamStore, TfOps } from "../../trainer/ops/tf-ops.ts";
import { extractorAuxLoss } from "../../trainer/train/aux-loss.ts";
import { predictTf } from "../../trainer/train/model.ts";
import { trainModel } from "../../trainer/train/train.ts";
import { randomData } from "./fixtures/random-data.ts";
import { batchFeeds, configFor, randomBatch, seededWeights } from "./models-fixtures.ts";

const cfg = configFor("deepfm", "kser");
const kser = getExtractor("kser");

beforeAll(async () => {
  await initBackend("wasm", () => {});
});

describe("ESFNet gate", () => {
  it("depends on the chunk's slot: a slot's learned bias moves that slot's gates only", () => {
    const weights = seededWeights(cfg);
    const b = randomBatch(cfg, 12, 4);
    b.itemChunkMask!.fill(1);
    const gateWith = (slotBias: number[]) => {
      const params = ParamStore.fromValues(
        new Map([...weights, ["ext/item/esf/slot", { shape: [4], values: Float32Array.from(slotBias) }]]),
      );
      try {
        return tf.tidy(() => kser.item(new TfOps(params, batchFeeds(cfg, b)), cfg).gate.arraySync() as number[][]);
      } finally {
        params.dispose();
      }
    };
    const base = gateWith([0, 0, 0, 0]);
    const raised = gateWith([0, 0, 3, 0]);
    for (let i = 0; i < base.length; i++) {
      for (const k of [0, 1, 3]) expect(raised[i][k]).toBeCloseTo(base[i][k], 6);
      expect(raised[i][2]).toBeGreaterThan(base[i][2]);
    }
  });
});

describe("the contrastive term", () => {
  it("trains the agreement heads and leaves the entity's embeddings (its context) alone", () => {
    // Variables (not constants) with the seeded weights, so gradients can be taken.
    const params = new ParamStore(true, 5);
    for (const [name, p] of seededWeights(cfg)) params.tensors.set(name, tf.variable(tf.tensor(p.values, p.shape), true, name));
    const b = randomBatch(cfg, 16, 7);
    const feeds = batchFeeds(cfg, b);
    const shifted = (name: string) => tf.concat([tf.slice(feeds.get(name)!, [1], [-1]), tf.slice(feeds.get(name)!, [0], [1])], 0);
    for (const side of ["user", "item"] as const) {
      feeds.set(`${side}_negative_chunks`, shifted(`${side}_chunks`));
      feeds.set(`${side}_negative_mask`, shifted(`${side}_chunk_mask`));
    }
    const variables = [...params.tensors].filter(([name]) => name.startsWith("emb/") || name.includes("/esf/belongs/"));
    const { grads } = tf.variableGrads(
      () => {
        const ops = new TfOps(params, feeds);
        const sides = { user: kser.user(ops, cfg), item: kser.item(ops, cfg) };
        return extractorAuxLoss(feeds, { contrastiveWeight: 1, gateSparsity: 0 }, sides)!;
      },
      variables.map(([, v]) => v as tf.Variable),
    );
    const norm = (name: string) => (grads[name] ? tf.norm(grads[name]).dataSync()[0] : 0);
    for (const [name] of variables) {
      if (name.startsWith("emb/")) expect(norm(name), name).toBe(0);
      else expect(norm(name), name).toBeGreaterThan(0);
    }
    tf.dispose([...feeds.values(), ...Object.values(grads)]);
    params.dispose();
  });

  it("scores an own chunk against the entity's OTHER chunks, as the gate does, not against a set holding itself", () => {
    const params = ParamStore.fromValues(seededWeights(cfg));
    const b = randomBatch(cfg, 6, 11);
    b.itemChunkMask!.fill(1);
    const K = cfg.knowledge!.item.chunks;
    const belongs = (mask: Float32Array, own: boolean) => {
      const feeds = batchFeeds(cfg, { ...b, itemChunkMask: mask });
      const out = tf.tidy(() => {
        const side = kser.item(new TfOps(params, feeds), cfg);
        return side.consistency!(feeds.get("item_chunks")!, (x) => x, own).arraySync() as number[][];
      });
      tf.dispose([...feeds.values()]);
      return out;
    };
    const asOwn = belongs(b.itemChunkMask!, true);
    for (let k = 0; k < K; k++) {
      // Chunk k scored as a stranger's chunk against the entity without it: what the gate sees at chunk k.
      const without = Float32Array.from(b.itemChunkMask!, (m, i) => (i % K === k ? 0 : m));
      const asStranger = belongs(without, false);
      for (let row = 0; row < b.count; row++) expect(asOwn[row][k]).toBeCloseTo(asStranger[row][k], 5);
    }
    params.dispose();
  });

  it("is absent outside a training step (no negative chunks fed)", () => {
    const params = ParamStore.fromValues(seededWeights(cfg));
    const feeds = batchFeeds(cfg, randomBatch(cfg, 4, 1));
    tf.tidy(() => {
      const ops = new TfOps(params, feeds);
      expect(extractorAuxLoss(feeds, kser.training!, { user: kser.user(ops, cfg), item: kser.item(ops, cfg) })).toBeUndefined();
    });
    params.dispose();
  });
});

describe("extractor-only training", () => {
  it("returns its frozen backbone unchanged when no epoch validates better (here: a learning rate that wrecks it)", async () => {
    const { data, bank } = randomData({ seed: 8, users: 60, samplesPerUser: 20, chunks: 3, dim: 8 });
    const common = { data, backbone: "deepfm", embeddingDim: 8, batchSize: 128, seed: 3 };
    const backbone = await trainModel({ ...common, bank: null, extractor: "none", epochs: 2 });
    const wrecked = await trainModel({
      ...common,
      bank,
      extractor: "kser",
      epochs: 1,
      learningRate: 5,
      strategy: "extractor-only",
      from: backbone,
    });
    expect(wrecked.history[0].epoch).toBe(0);
    expect(wrecked.history[0].validAuc).toBeCloseTo(backbone.metrics.valid.auc, 6);
    expect(wrecked.metrics.valid.auc).toBeGreaterThanOrEqual(backbone.metrics.valid.auc - 1e-9);
    if (wrecked.history[1].validAuc <= wrecked.history[0].validAuc) {
      expect(wrecked.metrics.test.auc).toBeCloseTo(backbone.metrics.test.auc, 6);
      const n = 8;
      const batch = splitBatch(data.spec, data.test, 0, n);
      const before = await predictTf(backbone, batch);
      const after = await predictTf(wrecked, batch);
      for (let i = 0; i < n; i++) expect(after[i]).toBeCloseTo(before[i], 6);
    }
  }, 60_000);
});
