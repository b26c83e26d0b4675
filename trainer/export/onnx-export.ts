/**
 * Exports a trained model as ONNX graphs built from the same definitions it trained with, and precomputes the
 * item extractor's output for every item of a knowledge bank (publish time).
 */
import * as tf from "@tensorflow/tfjs-core";
import { ITEM_ID_FIELD, itemFeatureWidth } from "../../shared/feature-encoding.ts";
import type { KnowledgeBank } from "../data/types.ts";
import type { ModelConfig } from "../models/config.ts";
import { backboneGraph, itemExtractorGraph, userExtractorGraph } from "../models/graphs.ts";
import { getExtractor } from "../models/registry.ts";
import { OnnxOps, type OnnxValue } from "../ops/onnx-ops.ts";
import { ParamStore, TfOps } from "../ops/tf-ops.ts";
import type { ParamValues, TrainedModel } from "../train/model.ts";

export interface ExportedGraph {
  bytes: Uint8Array;
  inputs: string[];
  outputs: string[];
  /** Inputs that may be fed with batch 1 for a whole request (the same row for every candidate). */
  requestInputs?: string[];
}

/**
 * The backbone's user-side inputs: identical for every candidate of a request, so the exported backbone takes them
 * with batch 1 and computes the user side once per request (OnnxOpsOptions.requestInputs).
 */
export const BACKBONE_REQUEST_INPUTS = ["user_feats", "hist_feats", "hist_ratings", "hist_mask", "user_know"] as const;

function buildGraph(
  params: ParamValues,
  name: string,
  define: (ops: OnnxOps) => Record<string, OnnxValue>,
  requestInputs?: readonly string[],
): ExportedGraph {
  const ops = new OnnxOps(params, { requestInputs });
  const outputs = define(ops);
  for (const [outName, value] of Object.entries(outputs)) ops.output(value, outName);
  const inputs = ops.inputNames();
  const graph: ExportedGraph = { bytes: ops.build(name), inputs, outputs: Object.keys(outputs) };
  if (requestInputs) graph.requestInputs = inputs.filter((i) => requestInputs.includes(i));
  return graph;
}

export function exportOnnx(model: TrainedModel): {
  backbone: ExportedGraph;
  userExtractor: ExportedGraph | null;
  itemExtractor: ExportedGraph | null;
} {
  const cfg: ModelConfig = model.config;
  const withKnowledge = getExtractor(cfg.extractor).usesKnowledge;
  return {
    backbone: buildGraph(model.params, `${cfg.backbone}-backbone`, (ops) => backboneGraph(ops, cfg), BACKBONE_REQUEST_INPUTS),
    userExtractor: withKnowledge ? buildGraph(model.params, `${cfg.extractor}-user`, (ops) => userExtractorGraph(ops, cfg)) : null,
    itemExtractor: withKnowledge ? buildGraph(model.params, `${cfg.extractor}-item`, (ops) => itemExtractorGraph(ops, cfg)) : null,
  };
}

const ITEM_BATCH = 1024;

/**
 * item_know for every item in bank.item (tfjs), keyed by raw item id. Items unknown to the vocabulary use the OOV
 * feature row, as serving would. Empty when the extractor uses no knowledge.
 */
export function computeItemVectors(model: TrainedModel, bank: KnowledgeBank): Map<string, Float32Array> {
  const cfg = model.config;
  const out = new Map<string, Float32Array>();
  if (!getExtractor(cfg.extractor).usesKnowledge || !cfg.knowledge) return out;
  const { chunks: K, dim: d } = cfg.knowledge.item;
  if (bank.item.chunks !== K || bank.item.dim !== d)
    throw new Error(`bank item chunks ${bank.item.chunks}x${bank.item.dim} do not match the model's ${K}x${d}`);
  const E = cfg.embeddingDim;
  const Fi = itemFeatureWidth(cfg.spec);
  const params = ParamStore.fromValues(model.params);
  try {
    const ids = bank.item.ids;
    for (let start = 0; start < ids.length; start += ITEM_BATCH) {
      const n = Math.min(ITEM_BATCH, ids.length - start);
      const feats = new Int32Array(n * Fi);
      for (let i = 0; i < n; i++) feats.set(itemFeatureRowOf(model, ids[start + i]), i * Fi);
      const know = tf.tidy(() => {
        const feeds = new Map<string, tf.Tensor>([
          ["item_feats", tf.tensor2d(feats, [n, Fi], "int32")],
          ["item_chunks", tf.tensor3d(bank.item.values.subarray(start * K * d, (start + n) * K * d), [n, K, d])],
          ["item_chunk_mask", tf.tensor2d(bank.item.mask.subarray(start * K, (start + n) * K), [n, K])],
        ]);
        return itemExtractorGraph(new TfOps(params, feeds), cfg).item_know;
      });
      const values = know.dataSync() as Float32Array;
      know.dispose();
      for (let i = 0; i < n; i++) out.set(ids[start + i], values.slice(i * E, (i + 1) * E));
    }
  } finally {
    params.dispose();
  }
  return out;
}

/** Item-field indices of a raw item id, from the vocabulary the model was trained with. */
function itemFeatureRowOf(model: TrainedModel, itemId: string): number[] {
  const cache = itemRowCache.get(model) ?? buildItemRowCache(model);
  return cache.get(itemId) ?? new Array(itemFeatureWidth(model.spec)).fill(0);
}

const itemRowCache = new WeakMap<TrainedModel, Map<string, number[]>>();
function buildItemRowCache(model: TrainedModel): Map<string, number[]> {
  const { vocabulary } = model;
  const map = new Map<string, number[]>();
  (vocabulary.fields[ITEM_ID_FIELD] ?? []).forEach((id, i) => {
    if (i > 0) map.set(id, vocabulary.itemFeatures[i]);
  });
  itemRowCache.set(model, map);
  return map;
}
