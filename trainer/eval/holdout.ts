/**
 * Scores a trained model on a holdout split of a prepared dataset (the test split by default): the nightly's
 * candidate-vs-champion comparison and `kser eval`. The split is encoded with the dataset's vocabulary; a model
 * trained on an earlier night has its own, so each sample is decoded to raw values and re-encoded with the model's
 * vocabulary (values it never saw become OOV, exactly as serving treats them). For a knowledge model the ESFNet
 * gates are read per chunk on the same samples and averaged per chunk kind.
 */
import * as tf from "@tensorflow/tfjs-core";
import { fieldWidth, itemFeatureWidth, rowRange, rowShape, userFeatureWidth } from "../../shared/feature-encoding.ts";
import type { CategoricalField, FeatureSpec } from "../../shared/manifest.ts";
import { CHUNK_KINDS, type KnowledgeBank, type KnowledgeBankField, type PreparedDataset, type SampleSplit } from "../data/types.ts";
import type { ModelConfig } from "../models/config.ts";
import { getExtractor } from "../models/registry.ts";
import { ParamStore, TfOps } from "../ops/tf-ops.ts";
import { bankRows, gatherChunks, sampleItemIds } from "../train/knowledge-join.ts";
import { auc, gauc, logloss } from "../train/metrics.ts";
import { featureFeeds, forwardTf, type PredictBatch, type TrainedModel } from "../train/model.ts";
import { UserFacingError } from "../util/errors.ts";

export interface HoldoutMetrics {
  auc: number;
  logloss: number;
  gauc: number;
  samples: number;
}

export interface GateReport {
  /** Mean gate of present chunks, per chunk kind (simulated knowledge knows each chunk's kind). */
  byKind: Record<"user" | "item", Record<string, { mean: number; count: number }>>;
  /** Mean gate per chunk slot, with the share of each kind in that slot. */
  bySlot: Record<"user" | "item", { slot: number; mean: number; count: number; kinds: Record<string, number> }[]>;
}

const BATCH = 2048;

/** index-in-`from` -> index-in-`to` for one field (0 = OOV when `to` lacks the value). */
function remap(from: string[], to: string[]): Int32Array {
  const at = new Map(to.map((v, i) => [v, i]));
  return Int32Array.from(from, (v, i) => (i === 0 ? 0 : (at.get(v) ?? 0)));
}

/** The split's feature arrays re-encoded into the model's vocabulary. */
function splitFor(model: TrainedModel, data: PreparedDataset, split: SampleSplit): SampleSplit {
  const same = JSON.stringify(model.vocabulary.fields) === JSON.stringify(data.vocabulary.fields);
  if (same) return split;
  if (model.spec.historyLength !== data.spec.historyLength)
    throw new UserFacingError(
      `the model was trained with history length ${model.spec.historyLength}, the dataset has ${data.spec.historyLength}`,
    );
  // One map per slot: a multi-valued field's slots all map through its vocabulary.
  const maps = (fields: CategoricalField[], own: CategoricalField[]) =>
    own.flatMap((f) => {
      const source = data.vocabulary.fields[f.name];
      const theirs = fields.find((g) => g.name === f.name);
      if (!source || !theirs) throw new UserFacingError(`the model's field ${f.name} is missing from the dataset`);
      if (fieldWidth(theirs) !== fieldWidth(f))
        throw new UserFacingError(`the model's field ${f.name} has ${fieldWidth(f)} slots, the dataset's ${fieldWidth(theirs)}`);
      return new Array<Int32Array>(fieldWidth(f)).fill(remap(source, model.vocabulary.fields[f.name]));
    });
  const itemMaps = maps(data.spec.itemFields, model.spec.itemFields);
  const userMaps = maps(data.spec.userFields, model.spec.userFields);
  const Fu = userMaps.length;
  if (itemMaps.length !== itemFeatureWidth(data.spec) || Fu !== userFeatureWidth(data.spec))
    throw new UserFacingError("the model's feature fields differ from the dataset's");
  const map = (arr: Int32Array, m: Int32Array[]) => Int32Array.from(arr, (v, i) => m[i % m.length][v]);
  return {
    ...split,
    itemFeats: map(split.itemFeats, itemMaps),
    histFeats: map(split.histFeats, itemMaps),
    userFeats: Fu ? map(split.userFeats, userMaps) : split.userFeats,
  };
}

/** Samples start..end of a split as model inputs (views, no copies). */
export function splitBatch(spec: FeatureSpec, split: SampleSplit, start: number, end: number): PredictBatch {
  return rowRange(rowShape(spec), split, start, end);
}

function chunkFeeds(bank: KnowledgeBank, side: "user" | "item", ids: string[]) {
  const rows = bankRows(bank[side], ids);
  return { ...gatherChunks(bank[side], rows), rows };
}

export interface HoldoutResult {
  metrics: HoldoutMetrics;
  scores: Float32Array;
  gates: GateReport | null;
}

type ChunkFeeds = ReturnType<typeof chunkFeeds>;
type SlotSum = { sum: number; count: number; kinds: Record<string, number> };
/** Running gate sums of one field: per chunk kind [sum, count], and per slot. */
type GateSums = { kind: Map<string, [number, number]>; slot: SlotSum[] };

/** Adds a batch's gates (n x K) of one field to its sums; chunks that are absent, or of entities not in the bank, are skipped. */
function addGates(acc: GateSums, g: Float32Array, feeds: ChunkFeeds, field: KnowledgeBankField, n: number): void {
  const K = field.chunks;
  for (let i = 0; i < n; i++) {
    const row = feeds.rows[i];
    if (row < 0) continue;
    for (let c = 0; c < K; c++) {
      if (feeds.mask[i * K + c] === 0) continue;
      const kind = field.kinds ? (CHUNK_KINDS[field.kinds[row * K + c]] ?? "unknown") : "unknown";
      const k = acc.kind.get(kind) ?? [0, 0];
      k[0] += g[i * K + c];
      k[1]++;
      acc.kind.set(kind, k);
      acc.slot[c] ??= { sum: 0, count: 0, kinds: {} };
      acc.slot[c].sum += g[i * K + c];
      acc.slot[c].count++;
      acc.slot[c].kinds[kind] = (acc.slot[c].kinds[kind] ?? 0) + 1;
    }
  }
}

function gateReport(sums: Record<"user" | "item", GateSums>): GateReport {
  const byKind = (s: GateSums) => Object.fromEntries([...s.kind].map(([k, [sum, c]]) => [k, { mean: sum / c, count: c }]));
  const bySlot = (s: GateSums) => s.slot.map((x, slot) => ({ slot, mean: x.sum / x.count, count: x.count, kinds: x.kinds }));
  return { byKind: { user: byKind(sums.user), item: byKind(sums.item) }, bySlot: { user: bySlot(sums.user), item: bySlot(sums.item) } };
}

/** One batch through the model: click probabilities and, for gated extractors, each field's gates. */
function forwardBatch(
  cfg: ModelConfig,
  params: ParamStore,
  batch: PredictBatch,
  n: number,
  know: Record<"user" | "item", ChunkFeeds> | null,
) {
  return tf.tidy(() => {
    const feeds = featureFeeds(cfg.spec, batch);
    if (know && cfg.knowledge) {
      for (const side of ["user", "item"] as const) {
        const { chunks: K, dim: d } = cfg.knowledge[side];
        feeds.set(`${side}_chunks`, tf.tensor3d(know[side].values, [n, K, d]));
        feeds.set(`${side}_chunk_mask`, tf.tensor2d(know[side].mask, [n, K]));
      }
    }
    const r = forwardTf(new TfOps(params, feeds), cfg);
    return { score: tf.sigmoid(r.logit), user: r.userGate, item: r.itemGate };
  });
}

export async function evaluateOnHoldout(
  model: TrainedModel,
  data: PreparedDataset,
  bank: KnowledgeBank | null,
  which: "test" | "valid" = "test",
): Promise<HoldoutResult> {
  const split = data[which];
  const encoded = splitFor(model, data, split);
  const cfg = model.config;
  const usesKnowledge = getExtractor(cfg.extractor).usesKnowledge && cfg.knowledge !== null;
  if (usesKnowledge && !bank) throw new UserFacingError(`model ${cfg.backbone}+${cfg.extractor} needs the knowledge bank`);
  const itemIdOf = sampleItemIds(data, split);
  const scores = new Float32Array(split.count);
  const sums: Record<"user" | "item", GateSums> = { user: { kind: new Map(), slot: [] }, item: { kind: new Map(), slot: [] } };
  const params = ParamStore.fromValues(model.params);
  try {
    for (let start = 0; start < split.count; start += BATCH) {
      const n = Math.min(split.count, start + BATCH) - start;
      const userIds = Array.from({ length: n }, (_, i) => data.userIds[split.userIndex[start + i]]);
      const itemIds = Array.from({ length: n }, (_, i) => itemIdOf(start + i) ?? "\u0000oov");
      const know = usesKnowledge && bank ? { user: chunkFeeds(bank, "user", userIds), item: chunkFeeds(bank, "item", itemIds) } : null;
      const out = forwardBatch(cfg, params, splitBatch(data.spec, encoded, start, start + n), n, know);
      scores.set((await out.score.data()) as Float32Array, start);
      out.score.dispose();
      for (const side of ["user", "item"] as const) {
        const gate = out[side];
        if (!gate) continue;
        const g = (await gate.data()) as Float32Array;
        gate.dispose();
        if (know && bank) addGates(sums[side], g, know[side], bank[side], n);
      }
    }
  } finally {
    params.dispose();
  }
  return { metrics: holdoutMetrics(split, scores), scores, gates: usesKnowledge ? gateReport(sums) : null };
}

/** AUC, LogLoss and GAUC of a split's scores. */
export function holdoutMetrics(split: SampleSplit, scores: Float32Array): HoldoutMetrics {
  return {
    auc: auc(split.labels, scores),
    logloss: logloss(split.labels, scores),
    gauc: gauc(split.labels, scores, split.userIndex),
    samples: split.count,
  };
}
