/**
 * The ESFNet selection made inspectable: the gate of every chunk of every entity in a bank, and the mean gate per
 * chunk kind when the bank knows its kinds (simulated knowledge). Item gates depend on the item's own features
 * only, so each item has exactly one. User gates depend on the user's history too; a user's gates are the mean
 * over that user's samples in all splits, or, for a user without samples, the gates under an empty context
 * (out-of-vocabulary features, no history). Masked chunks have gate 0 and are left out of the summary.
 */
import * as tf from "@tensorflow/tfjs-core";
import { allocateRows, copyRow, itemFeatureWidth, rowShape } from "../../shared/feature-encoding.ts";
import type { KnowledgeBank, KnowledgeBankField, PreparedDataset, SampleSplit } from "../data/types.ts";
import { CHUNK_KINDS } from "../data/types.ts";
import { itemExtractorGraph, userExtractorGraph } from "../models/graphs.ts";
import { getExtractor } from "../models/registry.ts";
import { ParamStore, TfOps } from "../ops/tf-ops.ts";
import { featureFeeds, type TrainedModel } from "./model.ts";

const BATCH = 2048;

export interface FieldGates {
  chunks: number;
  /** Per entity: gate per chunk slot (0 where the chunk is missing) and the slot mask. */
  entities: { id: string; gates: number[]; mask: number[] }[];
  /** Mean gate of present chunks per kind (CHUNK_KINDS order), when the bank has kinds. */
  meanByKind?: Record<string, { mean: number; count: number }>;
  /** Mean gate of present chunks per slot. */
  meanBySlot: number[];
}

export interface GatesReport {
  extractor: string;
  bankId: string;
  user: FieldGates;
  item: FieldGates;
}

function summarise(field: KnowledgeBankField, gates: Float32Array): Omit<FieldGates, "entities" | "chunks"> {
  const K = field.chunks;
  const slotSum = new Float64Array(K);
  const slotCount = new Float64Array(K);
  const kindSum = new Float64Array(CHUNK_KINDS.length);
  const kindCount = new Float64Array(CHUNK_KINDS.length);
  for (let i = 0; i < field.ids.length * K; i++) {
    if (!(field.mask[i] > 0)) continue;
    slotSum[i % K] += gates[i];
    slotCount[i % K]++;
    const kind = field.kinds?.[i];
    if (kind !== undefined && kind < CHUNK_KINDS.length) {
      kindSum[kind] += gates[i];
      kindCount[kind]++;
    }
  }
  const meanBySlot = Array.from(slotSum, (s, k) => (slotCount[k] > 0 ? s / slotCount[k] : 0));
  if (!field.kinds) return { meanBySlot };
  const meanByKind = Object.fromEntries(
    CHUNK_KINDS.map((kind, k) => [kind, { mean: kindCount[k] > 0 ? kindSum[k] / kindCount[k] : Number.NaN, count: kindCount[k] }]),
  );
  return { meanBySlot, meanByKind };
}

function fieldReport(field: KnowledgeBankField, gates: Float32Array): FieldGates {
  const K = field.chunks;
  return {
    chunks: K,
    entities: field.ids.map((id, e) => ({
      id,
      gates: Array.from(gates.subarray(e * K, (e + 1) * K)),
      mask: Array.from(field.mask.subarray(e * K, (e + 1) * K)),
    })),
    ...summarise(field, gates),
  };
}

function runGate(params: ParamStore, model: TrainedModel, side: "user" | "item", feeds: Map<string, tf.Tensor>): Float32Array {
  const out = tf.tidy(() => {
    const ops = new TfOps(params, feeds);
    return side === "user" ? userExtractorGraph(ops, model.config).user_gate : itemExtractorGraph(ops, model.config).item_gate;
  });
  const values = Float32Array.from(out.dataSync() as Float32Array);
  out.dispose();
  return values;
}

function itemGates(params: ParamStore, model: TrainedModel, field: KnowledgeBankField): Float32Array {
  const K = field.chunks;
  const d = field.dim;
  const Fi = itemFeatureWidth(model.spec);
  const rowOf = new Map(model.vocabulary.fields.item_id.map((id, i) => [id, i]));
  const gates = new Float32Array(field.ids.length * K);
  for (let start = 0; start < field.ids.length; start += BATCH) {
    const n = Math.min(BATCH, field.ids.length - start);
    const feats = new Int32Array(n * Fi);
    for (let i = 0; i < n; i++) {
      const row = rowOf.get(field.ids[start + i]);
      if (row !== undefined && row > 0) feats.set(model.vocabulary.itemFeatures[row], i * Fi);
    }
    const feeds = new Map<string, tf.Tensor>([
      ["item_feats", tf.tensor2d(feats, [n, Fi], "int32")],
      ["item_chunks", tf.tensor3d(field.values.subarray(start * K * d, (start + n) * K * d), [n, K, d])],
      ["item_chunk_mask", tf.tensor2d(field.mask.subarray(start * K, (start + n) * K), [n, K])],
    ]);
    gates.set(runGate(params, model, "item", feeds), start * K);
    tf.dispose([...feeds.values()]);
  }
  return gates;
}

function userGates(params: ParamStore, model: TrainedModel, data: PreparedDataset, field: KnowledgeBankField): Float32Array {
  const K = field.chunks;
  const d = field.dim;
  const rowOfUser = new Map(field.ids.map((id, e) => [id, e]));
  const sums = new Float64Array(field.ids.length * K);
  const counts = new Float64Array(field.ids.length);
  // Samples of every split whose user is in the bank, then one empty-context row per bank user.
  const rows: { split: SampleSplit | null; sample: number; entity: number }[] = [];
  for (const split of [data.train, data.valid, data.test]) {
    for (let s = 0; s < split.count; s++) {
      const e = rowOfUser.get(data.userIds[split.userIndex[s]]);
      if (e !== undefined) rows.push({ split, sample: s, entity: e });
    }
  }
  const emptyContext = field.ids.map((_, e) => ({ split: null, sample: 0, entity: e }));
  const spec = model.spec;
  const shape = rowShape(spec);
  const pass = (list: typeof rows, accumulate: (entity: number, gates: Float32Array, offset: number) => void) => {
    for (let start = 0; start < list.length; start += BATCH) {
      const part = list.slice(start, start + BATCH);
      const n = part.length;
      // The user extractor reads the user's fields and history, not the target item's.
      const b = allocateRows(shape, n);
      const chunks = new Float32Array(n * K * d);
      const mask = new Float32Array(n * K);
      part.forEach((r, i) => {
        if (r.split) copyRow(shape, r.split, r.sample, b, i);
        chunks.set(field.values.subarray(r.entity * K * d, (r.entity + 1) * K * d), i * K * d);
        mask.set(field.mask.subarray(r.entity * K, (r.entity + 1) * K), i * K);
      });
      const feeds = featureFeeds(spec, b);
      feeds.set("user_chunks", tf.tensor3d(chunks, [n, K, d]));
      feeds.set("user_chunk_mask", tf.tensor2d(mask, [n, K]));
      const gates = runGate(params, model, "user", feeds);
      tf.dispose([...feeds.values()]);
      for (const [i, r] of part.entries()) accumulate(r.entity, gates, i * K);
    }
  };
  pass(rows, (e, g, o) => {
    for (let k = 0; k < K; k++) sums[e * K + k] += g[o + k];
    counts[e]++;
  });
  pass(
    emptyContext.filter((r) => counts[r.entity] === 0),
    (e, g, o) => {
      for (let k = 0; k < K; k++) sums[e * K + k] = g[o + k];
      counts[e] = 1;
    },
  );
  return Float32Array.from(sums, (s, i) => s / counts[Math.floor(i / K)]);
}

/** Gates of every chunk of every bank entity under a trained model. */
export function computeGates(model: TrainedModel, data: PreparedDataset, bank: KnowledgeBank): GatesReport {
  if (!getExtractor(model.config.extractor).usesKnowledge || !model.config.knowledge)
    throw new Error(`extractor "${model.config.extractor}" has no gates`);
  const params = ParamStore.fromValues(model.params);
  try {
    return {
      extractor: model.config.extractor,
      bankId: bank.bankId,
      user: fieldReport(bank.user, userGates(params, model, data, bank.user)),
      item: fieldReport(bank.item, itemGates(params, model, bank.item)),
    };
  } finally {
    params.dispose();
  }
}
