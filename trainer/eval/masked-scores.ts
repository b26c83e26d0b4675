/**
 * Scores a trained model on a split with a changed knowledge bank: the deletion test (mask an entity's most or
 * least gated chunks and see what that costs) and banks that keep only some chunks. maskBank removes chunks the
 * way a bank represents an absent chunk (mask 0, values 0); scoreSplit joins samples to the bank as training does
 * (the user by id, the target item by its raw id, so a new item keeps its knowledge) and runs predictTf.
 */
import { createHash } from "node:crypto";
import type { KnowledgeBank, KnowledgeBankField, PreparedDataset } from "../data/types.ts";
import { NO_KIND } from "../knowledge/bank.ts";
import { getExtractor } from "../models/registry.ts";
import { gatherChunks, joinSplit } from "../train/knowledge-join.ts";
import { predictTf, type TrainedModel } from "../train/model.ts";
import { type HoldoutMetrics, holdoutMetrics, splitBatch } from "./holdout.ts";

const BATCH = 2048;

/** Per field, ids.length * chunks flags: 1 = remove that chunk. An absent field keeps every chunk. */
export interface ChunkDrop {
  user?: Uint8Array;
  item?: Uint8Array;
}

function dropField(field: KnowledgeBankField, drop: Uint8Array | undefined): KnowledgeBankField {
  if (!drop) return field;
  const K = field.chunks;
  const d = field.dim;
  if (drop.length !== field.ids.length * K)
    throw new RangeError(`chunk drop has ${drop.length} flags, the field has ${field.ids.length} x ${K} chunks`);
  const values = field.values.slice();
  const mask = field.mask.slice();
  const kinds = field.kinds?.slice();
  for (let i = 0; i < drop.length; i++) {
    if (!drop[i]) continue;
    mask[i] = 0;
    values.fill(0, i * d, (i + 1) * d);
    if (kinds) kinds[i] = NO_KIND;
  }
  return { ...field, values, mask, ...(kinds ? { kinds } : {}) };
}

/** The bank without the dropped chunks; its id names the base bank and a hash of what was dropped. */
export function maskBank(bank: KnowledgeBank, drop: ChunkDrop): KnowledgeBank {
  const h = createHash("sha256");
  for (const side of ["user", "item"] as const) h.update(side).update(drop[side] ?? new Uint8Array(0));
  return {
    ...bank,
    bankId: `${bank.bankId}-drop${h.digest("hex").slice(0, 8)}`,
    user: dropField(bank.user, drop.user),
    item: dropField(bank.item, drop.item),
  };
}

export interface SplitScores {
  metrics: HoldoutMetrics;
  scores: Float32Array;
}

/**
 * Scores every sample of a split of the dataset the model was trained on (its vocabulary). `bank` null: a
 * knowledge model sees no chunk at all.
 */
export async function scoreSplit(
  model: TrainedModel,
  data: PreparedDataset,
  bank: KnowledgeBank | null,
  which: "test" | "valid" = "test",
): Promise<SplitScores> {
  const split = data[which];
  if (JSON.stringify(model.vocabulary.fields) !== JSON.stringify(data.vocabulary.fields))
    throw new Error("scoreSplit: the model was trained on another encoding of the data (use evaluateOnHoldout)");
  const knows = getExtractor(model.config.extractor).usesKnowledge && model.config.knowledge !== null;
  const join = knows && bank ? joinSplit(data, bank, split) : null;
  const scores = new Float32Array(split.count);
  for (let start = 0; start < split.count; start += BATCH) {
    const end = Math.min(split.count, start + BATCH);
    const batch = splitBatch(data.spec, split, start, end);
    if (join && bank) {
      const user = gatherChunks(bank.user, join.userRow.subarray(start, end));
      const item = gatherChunks(bank.item, join.itemRow.subarray(start, end));
      Object.assign(batch, { userChunks: user.values, userChunkMask: user.mask, itemChunks: item.values, itemChunkMask: item.mask });
    }
    scores.set(await predictTf(model, batch), start);
  }
  return { metrics: holdoutMetrics(split, scores), scores };
}

/** scoreSplit with some chunks removed from the bank. */
export function scoreMasked(
  model: TrainedModel,
  data: PreparedDataset,
  bank: KnowledgeBank,
  drop: ChunkDrop,
  which: "test" | "valid" = "test",
): Promise<SplitScores> {
  return scoreSplit(model, data, maskBank(bank, drop), which);
}
