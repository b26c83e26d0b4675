/**
 * Shared by the models tests: a model config for any backbone x extractor on a tiny feature spec, seeded weights
 * (the init, then a name-seeded perturbation so that outputs are far from constant and parity is not trivial),
 * random valid inputs, and the tfjs forward pass returning every graph output.
 */
import * as tf from "@tensorflow/tfjs-core";
import { fieldWidth } from "../../shared/feature-encoding.ts";
import type { ModelConfig } from "../../trainer/models/config.ts";
import { getExtractor } from "../../trainer/models/registry.ts";
import { ParamStore, paramSeed, TfOps } from "../../trainer/ops/tf-ops.ts";
import { featureFeeds, forwardTf, type ParamValues, type PredictBatch, type TrainedModel } from "../../trainer/train/model.ts";
import { mulberry32, randomNormal } from "../../trainer/util/random.ts";
import { randomData } from "./fixtures/random-data.ts";

export const EMBEDDING_DIM = 8;
export const KNOWLEDGE = { user: { chunks: 3, dim: 8 }, item: { chunks: 4, dim: 8 } };

const { data } = randomData({ seed: 1, users: 4, samplesPerUser: 2 });
export const SPEC = data.spec;

export function configFor(backbone: string, extractor: string, seed = 5): ModelConfig {
  return {
    backbone,
    extractor,
    embeddingDim: EMBEDDING_DIM,
    spec: SPEC,
    knowledge: getExtractor(extractor).usesKnowledge ? KNOWLEDGE : null,
    seed,
  };
}

/** Random valid inputs: ids in range, partly padded history, partly missing chunks, some entities with none. */
export function randomBatch(cfg: ModelConfig, count: number, seed: number): PredictBatch {
  const r = mulberry32(seed);
  const { spec } = cfg;
  // One vocabulary size per slot: a multi-valued field (bag) has several slots.
  const itemSlots = spec.itemFields.flatMap((f) => new Array<number>(fieldWidth(f)).fill(f.vocabSize));
  const userSlots = spec.userFields.flatMap((f) => new Array<number>(fieldWidth(f)).fill(f.vocabSize));
  const Fi = itemSlots.length;
  const Fu = userSlots.length;
  const L = spec.historyLength;
  const int = (n: number) => Math.floor(r() * n);
  const batch: PredictBatch = {
    count,
    itemFeats: Int32Array.from({ length: count * Fi }, (_, i) => int(itemSlots[i % Fi])),
    userFeats: Int32Array.from({ length: count * Fu }, (_, i) => int(userSlots[i % Fu])),
    histFeats: Int32Array.from({ length: count * L * Fi }, (_, i) => int(itemSlots[i % Fi])),
    histRatings: Int32Array.from({ length: count * L }, () => int(spec.ratingVocab)),
    // Row 3 (when present) has an empty history.
    histMask: Float32Array.from({ length: count * L }, (_, i) => (Math.floor(i / L) === 3 ? 0 : r() < 0.7 ? 1 : 0)),
  };
  if (cfg.knowledge) {
    const { user, item } = cfg.knowledge;
    batch.userChunks = Float32Array.from({ length: count * user.chunks * user.dim }, () => r() * 2 - 1);
    batch.itemChunks = Float32Array.from({ length: count * item.chunks * item.dim }, () => r() * 2 - 1);
    batch.userChunkMask = Float32Array.from({ length: count * user.chunks }, (_, i) =>
      Math.floor(i / user.chunks) % 5 === 0 ? 0 : r() < 0.8 ? 1 : 0,
    );
    batch.itemChunkMask = Float32Array.from({ length: count * item.chunks }, (_, i) =>
      Math.floor(i / item.chunks) % 7 === 0 ? 0 : r() < 0.8 ? 1 : 0,
    );
  }
  return batch;
}

/** Feeds for a batch: features plus knowledge chunks when the config has knowledge. */
export function batchFeeds(cfg: ModelConfig, b: PredictBatch): Map<string, tf.Tensor> {
  const feeds = featureFeeds(cfg.spec, b);
  if (cfg.knowledge) {
    const n = b.count;
    for (const side of ["user", "item"] as const) {
      const { chunks: K, dim: d } = cfg.knowledge[side];
      feeds.set(`${side}_chunks`, tf.tensor3d(side === "user" ? b.userChunks! : b.itemChunks!, [n, K, d]));
      feeds.set(`${side}_chunk_mask`, tf.tensor2d(side === "user" ? b.userChunkMask! : b.itemChunkMask!, [n, K]));
    }
  }
  return feeds;
}

/** Seeded weights: the model's own init, then N(0, s) added per parameter from a name-derived seed. */
export function seededWeights(cfg: ModelConfig): ParamValues {
  const store = new ParamStore(true, cfg.seed);
  try {
    tf.tidy(() => {
      forwardTf(new TfOps(store, batchFeeds(cfg, randomBatch(cfg, 2, 1))), cfg);
    });
    const values = store.snapshot();
    for (const [name, p] of values) {
      const r = mulberry32(paramSeed(cfg.seed, name));
      const gaussian = () => randomNormal(r);
      const fanIn = p.shape.length >= 2 ? p.shape[p.shape.length - 2] : 1;
      const std = name.startsWith("emb/") ? 0.5 : p.shape.length >= 2 ? 0.5 / Math.sqrt(fanIn) : 0.1;
      for (let i = 0; i < p.values.length; i++) p.values[i] += std * gaussian();
    }
    return values;
  } finally {
    store.dispose();
  }
}

export function trainedModelOf(cfg: ModelConfig, params: ParamValues): TrainedModel {
  return {
    config: cfg,
    spec: cfg.spec,
    vocabulary: data.vocabulary,
    params,
    metrics: { valid: { auc: Number.NaN, logloss: Number.NaN }, test: { auc: Number.NaN, logloss: Number.NaN, gauc: Number.NaN } },
    history: [],
  };
}

export interface GraphOutputs {
  logit: Float32Array;
  userKnow?: Float32Array;
  itemKnow?: Float32Array;
  userGate?: Float32Array;
  itemGate?: Float32Array;
}

/** Every graph output in tfjs (user extractor -> item extractor -> backbone, chained through the feeds). */
export function forwardAll(cfg: ModelConfig, params: ParamValues, b: PredictBatch): GraphOutputs {
  const store = ParamStore.fromValues(params);
  try {
    const tensors = tf.tidy(() => {
      const ops = new TfOps(store, batchFeeds(cfg, b));
      const out = forwardTf(ops, cfg);
      const r: Record<string, tf.Tensor> = { logit: out.logit };
      if (out.userGate && out.itemGate) {
        r.userKnow = ops.feeds.get("user_know")!;
        r.itemKnow = ops.feeds.get("item_know")!;
        r.userGate = out.userGate;
        r.itemGate = out.itemGate;
      }
      return r;
    });
    const out: Record<string, Float32Array> = {};
    for (const [k, t] of Object.entries(tensors)) {
      out[k] = Float32Array.from(t.dataSync() as Float32Array);
      t.dispose();
    }
    return out as unknown as GraphOutputs;
  } finally {
    store.dispose();
  }
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
