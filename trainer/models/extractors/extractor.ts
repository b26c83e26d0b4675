/** The extractor contract: per knowledge field, raw chunks (plus that side's own features) to one [B, E] vector. */
import type { Ops } from "../../ops/ops.ts";
import type { ModelConfig } from "../config.ts";

export interface ExtractorOutput<T> {
  /** Aligned knowledge vector [B, E]. */
  know: T;
  /** Per-chunk selection weights [B, K] (0 for missing chunks): the inspectable part. */
  gate: T;
  /**
   * Training only: belongs logits [B, K] of given chunks [B, K, d] under this batch's context and own chunks
   * (kser.ts); `detach` stops the gradient into the context.
   */
  consistency?: (chunks: T, detach: (x: T) => T, own: boolean) => T;
}

/** Training-only terms an extractor adds to the loss (trainer/train/aux-loss.ts); not part of the exported graphs. */
export interface ExtractorTraining {
  /** Weight of the contrastive term: own chunks against other entities' chunks, through `consistency`. */
  contrastiveWeight: number;
  /** Weight of the gate sparsity term: the mean gate of present chunks, per side. */
  gateSparsity: number;
}

export interface Extractor {
  name: string;
  /** False for "none": no extractor graphs, no knowledge inputs on the backbone. */
  usesKnowledge: boolean;
  /** Its training-only loss terms; absent: none (and no negative chunks are fed). */
  training?: ExtractorTraining;
  /** Declares user_chunks, user_chunk_mask and the user-side feature inputs it reads. */
  user<T>(ops: Ops<T>, cfg: ModelConfig): ExtractorOutput<T>;
  /** Declares item_chunks, item_chunk_mask, item_feats. */
  item<T>(ops: Ops<T>, cfg: ModelConfig): ExtractorOutput<T>;
}
