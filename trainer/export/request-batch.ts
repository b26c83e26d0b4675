/**
 * Builds the model inputs for one score request the way the worker does (FeatureEncoder rows plus the user's and
 * each candidate's raw knowledge chunks), so trainer-side scores can be compared with what the worker answers.
 */
import { FeatureEncoder } from "../../shared/feature-encoding.ts";
import type { HistoryEntry } from "../../shared/user-profile.ts";
import type { KnowledgeBank, KnowledgeBankField } from "../data/types.ts";
import { bankRows, gatherChunks } from "../train/knowledge-join.ts";
import type { PredictBatch, TrainedModel } from "../train/model.ts";

export interface ScoreRequestInput {
  userId: string;
  attributes: Record<string, string>;
  history: HistoryEntry[];
  candidates: string[];
}

/** The chunks of each id's entity; an id the bank lacks has no knowledge (all chunks masked). */
const chunkRows = (field: KnowledgeBankField, ids: string[]) => gatherChunks(field, bankRows(field, ids));

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
