/**
 * A trained model (config + weights + metrics) and running it in tfjs: the same graph definitions as the ONNX
 * export, chained user extractor -> item extractor -> backbone through one feeds map.
 */
import * as tf from "@tensorflow/tfjs-core";
import { itemFeatureWidth, userFeatureWidth } from "../../shared/feature-encoding.ts";
import type { FeatureSpec, VocabularyBlob } from "../../shared/manifest.ts";
import type { ModelConfig } from "../models/config.ts";
import { backboneGraph, itemExtractorGraph, userExtractorGraph } from "../models/graphs.ts";
import { getExtractor } from "../models/registry.ts";
import { ParamStore, TfOps } from "../ops/tf-ops.ts";

export type ParamValues = Map<string, { shape: number[]; values: Float32Array }>;

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  validAuc: number;
  validLogloss: number;
  /** Mean per-user AUC on validation (absent in runs saved before it was recorded). */
  validGauc?: number;
}

export interface TrainedModel {
  config: ModelConfig;
  spec: FeatureSpec;
  /** The vocabulary the ids were encoded with (item id -> item feature row for precomputation and serving). */
  vocabulary: VocabularyBlob;
  params: ParamValues;
  metrics: { valid: { auc: number; logloss: number }; test: { auc: number; logloss: number; gauc: number } };
  history: EpochRecord[];
  /** The knowledge bank the model was trained with (null: none); absent in models saved before it was recorded. */
  bankId?: string | null;
}

/** Model inputs for a batch of rows (shared/feature-encoding.ts layout), with optional raw knowledge chunks. */
export interface PredictBatch {
  count: number;
  itemFeats: Int32Array;
  userFeats: Int32Array;
  histFeats: Int32Array;
  histRatings: Int32Array;
  histMask: Float32Array;
  /** [count, K, d] and [count, K]; absent = no knowledge for anyone (all chunks masked). */
  userChunks?: Float32Array;
  userChunkMask?: Float32Array;
  itemChunks?: Float32Array;
  itemChunkMask?: Float32Array;
}

/**
 * Runs the three graphs in tfjs on fed tensors; returns the logit [B] (and the extractor outputs). auxLoss, a
 * training-only term added to the BCE and not part of the exported graphs: when the feeds hold negative chunks
 * (`${side}_negative_chunks` and `_mask`: chunks of other entities, fed only by the training loop) and the extractor
 * has a consistency head, CONSISTENCY_WEIGHT x the binary cross-entropy of telling an entity's own chunks from
 * other entities' chunks under the entity's context, per side.
 */
export function forwardTf(
  ops: TfOps,
  cfg: ModelConfig,
): { logit: tf.Tensor; userGate?: tf.Tensor; itemGate?: tf.Tensor; auxLoss?: tf.Scalar } {
  const extractor = getExtractor(cfg.extractor);
  if (extractor.usesKnowledge) {
    // The extractor sides as userExtractorGraph / itemExtractorGraph build them, plus their training-only parts.
    const user = extractor.user(ops, cfg);
    const item = extractor.item(ops, cfg);
    ops.feeds.set("user_know", user.know);
    ops.feeds.set("item_know", item.know);
    const logit = backboneGraph(ops, cfg).logit;
    const terms = [contrastiveTerm(ops, "user", user.consistency), contrastiveTerm(ops, "item", item.consistency)].filter(
      (t): t is tf.Scalar => t !== null,
    );
    const sparsity = Number(process.env.SPARS ?? 0);
    if (sparsity > 0 && extractor.contrastive) {
      const meanGate = (gate: tf.Tensor, mask: tf.Tensor) => tf.div(tf.sum(gate), tf.add(tf.sum(mask), 1e-6));
      terms.push(tf.mul(tf.add(meanGate(user.gate, ops.feeds.get("user_chunk_mask")!), meanGate(item.gate, ops.feeds.get("item_chunk_mask")!)), sparsity / CONSISTENCY_WEIGHT) as tf.Scalar);
    }
    const auxLoss = terms.length > 0 ? (tf.mul(tf.addN(terms), CONSISTENCY_WEIGHT) as tf.Scalar) : undefined;
    return { logit, userGate: user.gate, itemGate: item.gate, auxLoss };
  }
  return { logit: backboneGraph(ops, cfg).logit };
}

export const CONSISTENCY_WEIGHT = Number(process.env.CW ?? 0.1);

/** Mean BCE of own chunks (label 1) and negative chunks (label 0) over the present ones; null without negatives. */
/** The identity with no gradient. */
const detach = (x: tf.Tensor): tf.Tensor =>
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.clone(args[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor | tf.Tensor[]) => tf.zerosLike(dy as tf.Tensor),
  }))(x);

function contrastiveTerm(
  ops: TfOps,
  side: "user" | "item",
  consistency?: (chunks: tf.Tensor, detach: (x: tf.Tensor) => tf.Tensor) => tf.Tensor,
): tf.Scalar | null {
  const negative = ops.feeds.get(`${side}_negative_chunks`);
  const negativeMask = ops.feeds.get(`${side}_negative_mask`);
  if (!consistency || !negative || !negativeMask) return null;
  const mask = ops.feeds.get(`${side}_chunk_mask`)!;
  const own = consistency(ops.feeds.get(`${side}_chunks`)!, detach);
  const other = consistency(negative, detach);
  // BCE on logits: softplus(-x) for label 1, softplus(x) for label 0.
  const softplus = (x: tf.Tensor) => tf.add(tf.relu(x), tf.log1p(tf.exp(tf.neg(tf.abs(x)))));
  const masked = (loss: tf.Tensor, m: tf.Tensor) => tf.div(tf.sum(tf.mul(loss, m)), tf.add(tf.sum(m), 1e-6));
  const term = tf.add(masked(softplus(tf.neg(own)), mask), masked(softplus(other), negativeMask)) as tf.Scalar;
  if (process.env.DEBUGCW && Math.random() < 0.01) console.log(`contrastive ${side}: ${term.dataSync()[0].toFixed(4)}`);
  return term;
}

/** The training loss: the data loss plus the forward pass's auxiliary term when it has one. */
export function withAuxLoss(dataLoss: tf.Scalar, out: { auxLoss?: tf.Scalar }): tf.Scalar {
  return out.auxLoss ? tf.add(dataLoss, out.auxLoss) : dataLoss;
}

/** Feeds for the feature inputs of a batch (tensors owned by the caller's tidy scope). */
export function featureFeeds(spec: FeatureSpec, b: PredictBatch): Map<string, tf.Tensor> {
  const n = b.count;
  const Fi = itemFeatureWidth(spec);
  const Fu = userFeatureWidth(spec);
  const L = spec.historyLength;
  const feeds = new Map<string, tf.Tensor>([
    ["item_feats", tf.tensor2d(b.itemFeats.subarray(0, n * Fi), [n, Fi], "int32")],
    ["hist_feats", tf.tensor3d(b.histFeats.subarray(0, n * L * Fi), [n, L, Fi], "int32")],
    ["hist_ratings", tf.tensor2d(b.histRatings.subarray(0, n * L), [n, L], "int32")],
    ["hist_mask", tf.tensor2d(b.histMask.subarray(0, n * L), [n, L], "float32")],
  ]);
  if (Fu > 0) feeds.set("user_feats", tf.tensor2d(b.userFeats.subarray(0, n * Fu), [n, Fu], "int32"));
  return feeds;
}

const inferenceParams = new WeakMap<TrainedModel, ParamStore>();

function paramsOf(model: TrainedModel): ParamStore {
  let store = inferenceParams.get(model);
  if (!store) {
    store = ParamStore.fromValues(model.params);
    inferenceParams.set(model, store);
  }
  return store;
}

/** Scores (sigmoid of the logit) for a batch, computed in tfjs from the trained weights. */
export async function predictTf(model: TrainedModel, batch: PredictBatch): Promise<Float32Array> {
  const cfg = model.config;
  const out = tf.tidy(() => {
    const feeds = featureFeeds(cfg.spec, batch);
    if (cfg.knowledge && getExtractor(cfg.extractor).usesKnowledge) {
      const n = batch.count;
      for (const side of ["user", "item"] as const) {
        const { chunks: K, dim: d } = cfg.knowledge[side];
        const values = side === "user" ? batch.userChunks : batch.itemChunks;
        const mask = side === "user" ? batch.userChunkMask : batch.itemChunkMask;
        feeds.set(`${side}_chunks`, values ? tf.tensor3d(values.subarray(0, n * K * d), [n, K, d]) : tf.zeros([n, K, d]));
        feeds.set(`${side}_chunk_mask`, mask ? tf.tensor2d(mask.subarray(0, n * K), [n, K]) : tf.zeros([n, K]));
      }
    }
    return tf.sigmoid(forwardTf(new TfOps(paramsOf(model), feeds), cfg).logit);
  });
  const scores = (await out.data()) as Float32Array;
  out.dispose();
  return scores;
}
