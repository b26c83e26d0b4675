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
}
