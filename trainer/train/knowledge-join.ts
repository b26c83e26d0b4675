/**
 * Joins CTR samples to the knowledge bank: a sample's user chunks come from bank.user by its user id, its item
 * chunks from bank.item by the raw id of its target item (also for an item out of the vocabulary). An entity missing from the bank points at an extra
 * all-masked row at the end of the bank tensors. Scoring outside training gathers the chunks of bank rows directly.
 */
import * as tf from "@tensorflow/tfjs-core";
import { ITEM_ID_FIELD, itemFeatureWidth } from "../../shared/feature-encoding.ts";
import type { KnowledgeBank, KnowledgeBankField, PreparedDataset, SampleSplit } from "../data/types.ts";

export interface BankTensors {
  /** [N + 1, K, d]; row N is the "no knowledge" row (zeros, masked). */
  values: tf.Tensor3D;
  /** [N + 1, K]. */
  mask: tf.Tensor2D;
  absentRow: number;
}

export function bankTensors(field: KnowledgeBankField): BankTensors {
  const n = field.ids.length;
  const values = new Float32Array((n + 1) * field.chunks * field.dim);
  values.set(field.values.subarray(0, n * field.chunks * field.dim));
  const mask = new Float32Array((n + 1) * field.chunks);
  mask.set(field.mask.subarray(0, n * field.chunks));
  return {
    values: tf.keep(tf.tensor3d(values, [n + 1, field.chunks, field.dim])),
    mask: tf.keep(tf.tensor2d(mask, [n + 1, field.chunks])),
    absentRow: n,
  };
}

export function disposeBankTensors(b: BankTensors): void {
  b.values.dispose();
  b.mask.dispose();
}

/** Row of each sample's user and target item in the bank (absentRow when the bank lacks it). */
export function joinSplit(data: PreparedDataset, bank: KnowledgeBank, split: SampleSplit): { userRow: Int32Array; itemRow: Int32Array } {
  const userIndex = new Map(bank.user.ids.map((id, i) => [id, i]));
  const itemIndex = new Map(bank.item.ids.map((id, i) => [id, i]));
  const itemId = sampleItemIds(data, split);
  const userRow = new Int32Array(split.count);
  const itemRow = new Int32Array(split.count);
  for (let s = 0; s < split.count; s++) {
    userRow[s] = userIndex.get(data.userIds[split.userIndex[s]]) ?? bank.user.ids.length;
    const id = itemId(s);
    itemRow[s] = (id !== undefined ? itemIndex.get(id) : undefined) ?? bank.item.ids.length;
  }
  return { userRow, itemRow };
}

/**
 * The raw item id of each sample of a split (the bank is keyed by raw id): the dataset's own record when it has
 * one, so a new item out of the vocabulary still has its knowledge, as in serving; else through the vocabulary,
 * whose row 0 is the OOV token (undefined: no item knowledge).
 */
export function sampleItemIds(data: PreparedDataset, split: SampleSplit): (sample: number) => string | undefined {
  if (split.targetItem && data.itemIds) {
    const rows = split.targetItem;
    const ids = data.itemIds;
    return (s) => ids[rows[s]];
  }
  const itemVocab = data.vocabulary.fields[ITEM_ID_FIELD];
  const Fi = itemFeatureWidth(data.spec);
  return (s) => (split.itemFeats[s * Fi] > 0 ? itemVocab[split.itemFeats[s * Fi]] : undefined);
}

/** Row of each id in the field, -1 where the bank lacks it. */
export function bankRows(field: KnowledgeBankField, ids: readonly string[]): Int32Array {
  const rowOf = new Map(field.ids.map((id, i) => [id, i]));
  return Int32Array.from(ids, (id) => rowOf.get(id) ?? -1);
}

/** The chunks of the given bank rows ([n, K, d] and [n, K]); a row outside the bank (-1, or past its end) is an absent entity: zeros. */
export function gatherChunks(field: KnowledgeBankField, rows: Int32Array): { values: Float32Array; mask: Float32Array } {
  const K = field.chunks;
  const d = field.dim;
  const values = new Float32Array(rows.length * K * d);
  const mask = new Float32Array(rows.length * K);
  rows.forEach((row, i) => {
    if (row < 0 || row >= field.ids.length) return;
    values.set(field.values.subarray(row * K * d, (row + 1) * K * d), i * K * d);
    mask.set(field.mask.subarray(row * K, (row + 1) * K), i * K);
  });
  return { values, mask };
}
