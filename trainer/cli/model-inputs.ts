/**
 * What the commands that run a trained model (`kser export`, `kser eval`) need besides the model: its knowledge
 * bank, checked against the chunk shapes the model was trained on, with one-line errors a user can act on.
 */
import type { StoredBank } from "../knowledge/bank.ts";
import { loadBank } from "../knowledge/bank.ts";
import { getExtractor } from "../models/registry.ts";
import type { TrainedModel } from "../train/model.ts";
import { UserFacingError } from "../util/errors.ts";

export interface KnowledgeForOptions {
  /** Reads the bank (a caller checking several models passes one that reads it once). */
  load?: (dir: string) => StoredBank;
  /** Accept a bank other than the one the model was trained with (`--allow-other-bank`). */
  allowOtherBank?: boolean;
  /** How the model is named in messages (its folder). */
  modelName?: string;
}

/**
 * The bank at `bankDir` for a knowledge model (required), null for one without knowledge (a given bank is noted).
 * A bank other than the one the model was trained with is refused (naming both ids) unless allowOtherBank.
 */
export function knowledgeFor(
  model: TrainedModel,
  bankDir: string | undefined,
  note: (line: string) => void,
  { load = loadBank, allowOtherBank = false, modelName = "the model" }: KnowledgeForOptions = {},
): StoredBank | null {
  const cfg = model.config;
  if (!getExtractor(cfg.extractor).usesKnowledge || !cfg.knowledge) {
    if (bankDir) note(`note: ${cfg.extractor} reads no knowledge; --bank is not used`);
    return null;
  }
  if (!bankDir) throw new UserFacingError(`${cfg.backbone} + ${cfg.extractor} reads knowledge: give --bank DIR`);
  const bank = load(bankDir);
  for (const side of ["user", "item"] as const) {
    const want = cfg.knowledge[side];
    const have = bank[side];
    if (want.chunks !== have.chunks || want.dim !== have.dim)
      throw new UserFacingError(
        `${bankDir}: ${side} knowledge is ${have.chunks} chunks x ${have.dim} dims, the model was trained on ${want.chunks} x ${want.dim}`,
      );
  }
  if (model.bankId === undefined) {
    note(`note: ${modelName} does not record the bank it was trained with; ${bankDir} (bank ${bank.bankId}) is not checked`);
  } else if (model.bankId !== bank.bankId) {
    const what = `${bankDir} is bank ${bank.bankId}, ${modelName} was trained with bank ${model.bankId ?? "none"}`;
    if (!allowOtherBank) throw new UserFacingError(`${what}; give --allow-other-bank to use it anyway`);
    note(`note: ${what} (--allow-other-bank)`);
  }
  return bank;
}
