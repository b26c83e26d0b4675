/** The backbone contract and registry: a CTR model from feature inputs (and aligned knowledge fields) to a logit. */
import type { Ops } from "../../ops/ops.ts";
import type { ModelConfig } from "../config.ts";

/** The extractors' outputs as the backbone sees them: one [B, E] vector per knowledge field. */
export interface KnowledgeFields<T> {
  user: T;
  item: T;
}

export interface Backbone {
  name: string;
  /** Logit [B]. Declares the feature inputs it reads through the embedding helpers. */
  logit<T>(ops: Ops<T>, cfg: ModelConfig, knowledge: KnowledgeFields<T> | null): T;
  /**
   * Extractor-only growth: where the rows a parameter gains with the knowledge fields are inserted, given its row
   * count without them. Default: after the existing rows (the knowledge vectors come after the feature fields).
   */
  knowledgeRowsAt?(param: string, rowsWithoutKnowledge: number): number;
  /**
   * Set when extractor-only training cannot start from this backbone unchanged: the reason. (Knowledge fields that
   * take part in every field interaction change the backbone's scores whatever their weights start at.)
   */
  noExtractorOnly?: string;
}
