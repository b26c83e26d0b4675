/**
 * The training hyperparameters' defaults, stated once: trainModel fills what a caller leaves out with them, and the
 * experiment config (trainer/pipeline/config.ts) and the CLI flags show and use the same values.
 */
import type { LrSchedule } from "./schedule.ts";
import type { Strategy } from "./strategy.ts";

/** Validation score that picks the best epoch: "auc", or "gauc" (mean per-user AUC). */
export type SelectionMetric = "auc" | "gauc";

export const TRAINING_DEFAULTS = {
  seed: 42,
  epochs: 10,
  batchSize: 1024,
  learningRate: 1e-3,
  weightDecay: 0.01,
  /** Epochs without a better validation score before stopping. */
  patience: 3,
  /** Probability of masking a whole entity's knowledge in a training sample (per side). */
  knowledgeDropout: 0.1,
  schedule: { kind: "constant" } as LrSchedule,
  strategy: "all-params" as Strategy,
  selectBy: "auc" as SelectionMetric,
  /** Lazy sparse AdamW updates of the embedding rows a batch touched (false: dense updates of every row). */
  sparseEmbeddings: true,
} as const;
