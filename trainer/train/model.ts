/**
 * A trained model (config + weights + metrics) and running it in tfjs: the same graph definitions as the ONNX
 * export, chained user extractor -> item extractor -> backbone through one feeds map.
 */
import * as tf from "@tensorflow/tfjs-core";
import { type EncodedRows, itemFeatureWidth, userFeatureWidth } from "../../shared/feature-encoding.ts";
import type { FeatureSpec, VocabularyBlob } from "../../shared/manifest.ts";
import type { ModelConfig } from "../models/config.ts";
import { backboneGraph, itemExtractorGraph, userExtractorGraph } from "../models/graphs.ts";
import { getExtractor } from "../models/registry.ts";
import { ParamStore, TfOps } from "../ops/tf-ops.ts";
import { extractorAuxLoss } from "./aux-loss.ts";

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
export interface PredictBatch extends EncodedRows {
  /** [count, K, d] and [count, K]; absent = no knowledge for anyone (all chunks masked). */
  userChunks?: Float32Array;
  userChunkMask?: Float32Array;
  itemChunks?: Float32Array;
  itemChunkMask?: Float32Array;
}

/**
 * Runs the three graphs in tfjs on fed tensors; returns the logit [B] (and the extractor outputs), and the
 * extractor's training-only loss terms as auxLoss (aux-loss.ts; only when the feeds hold negative chunks, which only
 * the training loop feeds).
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
    const auxLoss = extractor.training ? extractorAuxLoss(ops.feeds, extractor.training, { user, item }) : undefined;
    return { logit, userGate: user.gate, itemGate: item.gate, auxLoss };
  }
  return { logit: backboneGraph(ops, cfg).logit };
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
