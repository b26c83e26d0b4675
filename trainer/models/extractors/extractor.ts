/** The extractor contract: per knowledge field, raw chunks (plus that side's own features) to one [B, E] vector. */
import type { Ops } from "../../ops/ops.ts";
import type { ModelConfig } from "../config.ts";

export interface ExtractorOutput<T> {
  /** Aligned knowledge vector [B, E]. */
  know: T;
  /** Per-chunk selection weights [B, K] (0 for missing chunks): the inspectable part. */
  gate: T;
  /** Training only: consistency logits [B, K] of given chunks [B, K, d] with this batch's context (kser.ts). */
  consistency?: (chunks: T, detach: (x: T) => T) => T;
  /** Diagnostics: the belongs logits of the own chunks [B, K]. */
  belongs?: T;
}

export interface Extractor {
  name: string;
  /** False for "none": no extractor graphs, no knowledge inputs on the backbone. */
  usesKnowledge: boolean;
  /**
   * Whether training feeds chunks of other entities as negatives for the extractor's consistency head (the
   * contrastive term of forwardTf's auxLoss). Absent: no.
   */
  contrastive?: boolean;
  /** Declares user_chunks, user_chunk_mask and the user-side feature inputs it reads. */
  user<T>(ops: Ops<T>, cfg: ModelConfig): ExtractorOutput<T>;
  /** Declares item_chunks, item_chunk_mask, item_feats. */
  item<T>(ops: Ops<T>, cfg: ModelConfig): ExtractorOutput<T>;
}
