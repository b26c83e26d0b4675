/**
 * What the commands that run a trained model (`kser export`, `kser eval`) need besides the model: its knowledge
 * bank, checked against the chunk shapes the model was trained on, with one-line errors a user can act on.
 */
import type { StoredBank } from "../knowledge/bank.ts";
import { loadBank } from "../knowledge/bank.ts";
import { getExtractor } from "../models/registry.ts";
import type { TrainedModel } from "../train/model.ts";
import { UserFacingError } from "../util/errors.ts";

/**
 * The bank at `bankDir` for a knowledge model (required), null for one without knowledge (a given bank is noted).
 * `load` reads it (a caller checking several models passes one that reads it once).
 */
export function knowledgeFor(
  model: TrainedModel,
  bankDir: string | undefined,
  note: (line: string) => void,
  load: (dir: string) => StoredBank = loadBank,
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
  return bank;
}
