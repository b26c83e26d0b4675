/**
 * Builds the model inputs for one score request the way the worker does (FeatureEncoder rows plus the user's and
 * each candidate's raw knowledge chunks), so trainer-side scores can be compared with what the worker answers.
 */
import { FeatureEncoder } from "../../shared/feature-encoding.ts";
import type { HistoryEntry } from "../../shared/user-profile.ts";
import type { KnowledgeBank, KnowledgeBankField } from "../data/types.ts";
import type { PredictBatch, TrainedModel } from "../train/model.ts";

export interface ScoreRequestInput {
  userId: string;
  attributes: Record<string, string>;
  history: HistoryEntry[];
  candidates: string[];
}

function chunkRows(field: KnowledgeBankField, ids: string[]): { values: Float32Array; mask: Float32Array } {
  const { chunks: K, dim: d } = field;
  const rowOf = new Map(field.ids.map((id, i) => [id, i]));
  const values = new Float32Array(ids.length * K * d);
  const mask = new Float32Array(ids.length * K);
  ids.forEach((id, i) => {
    const row = rowOf.get(id);
    if (row === undefined) return; // no knowledge: all chunks masked
    values.set(field.values.subarray(row * K * d, (row + 1) * K * d), i * K * d);
    mask.set(field.mask.subarray(row * K, (row + 1) * K), i * K);
  });
  return { values, mask };
}

export function requestBatch(model: TrainedModel, bank: KnowledgeBank | null, request: ScoreRequestInput): PredictBatch {
  const rows = new FeatureEncoder(model.spec, model.vocabulary).encode(request);
  const batch: PredictBatch = { ...rows };
  if (bank && model.config.knowledge) {
    const user = chunkRows(
      bank.user,
      request.candidates.map(() => request.userId),
    );
    const item = chunkRows(bank.item, request.candidates);
    batch.userChunks = user.values;
    batch.userChunkMask = user.mask;
    batch.itemChunks = item.values;
    batch.itemChunkMask = item.mask;
  }
  return batch;
}
