/** The quality bench's results: one dataset's runs, tables, claims and the measurements beside them. */

import type { ChunkKind } from "../../trainer/data/types.ts";
import type { ProfileChunking } from "../../trainer/knowledge/import-dbbook.ts";
import type { KindProportions } from "../../trainer/knowledge/simulator.ts";
import type { BankVariant, BenchSource, ConfigName, QualitySettings } from "./settings.ts";
import type { Spread } from "./stats.ts";

export interface GateScore {
  /** Mean gate of present chunks per kind (and their count). */
  meanByKind: Record<string, { mean: number; count: number }>;
  /** Spearman between the kinds' mean gate and KIND_QUALITY (4 points: coarse). */
  spearman: number;
  /** Per chunk: Pearson of gate vs (kind is informative), i.e. the point-biserial correlation. */
  pointBiserial: number;
  /** Per chunk: AUC of the gate separating informative chunks from the rest. */
  aucInformative: number;
  /** Per chunk: Spearman of gate vs KIND_QUALITY over all present chunks (ties in quality). */
  chunkSpearman: number;
  chunks: number;
}

export interface TestMetrics {
  auc: number;
  logloss: number;
  gauc: number;
}

/** The deletion test of one gated model: test metrics with each entity's top- or bottom-gated half masked. */
export interface DeletionResult {
  base: TestMetrics;
  top: TestMetrics;
  bottom: TestMetrics;
  /** Chunks masked per field (the same count both ways: g = floor(present / 2) per entity). */
  masked: { user: number; item: number };
  /** Metric drop vs unmasked, in the dataset's metric. */
  cost: { top: number; bottom: number };
}

export interface RunResult {
  backbone: string;
  config: ConfigName;
  /** Which knowledge bank the run read ("default", "high" noise or "clean"). */
  noise: BankVariant;
  seed: number;
  extractor: string;
  strategy: "all-params" | "extractor-only";
  test: TestMetrics;
  valid: { auc: number; logloss: number };
  bestEpoch: number;
  epochsRun: number;
  seconds: number;
  /** Gates against the true chunk kinds (simulated knowledge only). */
  gates?: { user: GateScore; item: GateScore };
  /** Mean gate of present chunks per slot (dbbook: per profile aspect). */
  gateSlots?: { user: (number | null)[]; item: (number | null)[] };
  deletion?: DeletionResult;
  /** Test metrics with every chunk masked (knowledge configs): deletion.ts. */
  knowledgeOff?: TestMetrics;
}

export interface BankSummary {
  bankId: string;
  proportions: KindProportions | null;
  encoder: string;
  /** Present chunks per field. */
  present: { user: number; item: number };
  /** Present chunks per kind per field (simulated knowledge). */
  kinds?: Record<"user" | "item", Record<string, number>>;
  /** Present chunks per slot name (real knowledge chunked into named slots). */
  slots?: Record<"user" | "item", Record<string, number>>;
  meanCosine: { user: number; item: number };
}

export interface CellStats {
  auc: Spread;
  logloss: Spread;
  gauc: Spread;
  /** Seeds in which this cell beat `none` of the same backbone and seed, in the dataset's metric. */
  beatsNone?: { seeds: number; of: number };
}

export interface Claim {
  id: string;
  statement: string;
  /** Per backbone: does it hold, in how many seeds it held, and the numbers. */
  perBackbone: Record<string, { holds: boolean; seedsHolding: number; seeds: number; detail: string }>;
  holds: boolean;
}

export interface GateCorrelation {
  quality: Record<ChunkKind, number>;
  /** Per gated config (default bank): Spearman, point-biserial and AUC over runs x fields. */
  byConfig: Record<
    string,
    {
      spearman: Spread;
      pointBiserial: Spread;
      aucInformative: Spread;
      /** Mean gate per kind per field, averaged over runs. */
      meanByKind: Record<"user" | "item", Record<string, number>>;
      /** Spearman of those averaged per-kind gates with the quality, per field. */
      pooledSpearman: Record<"user" | "item", number>;
    }
  >;
}

/** Per gated config: mean gate per slot name and field, averaged over runs. */
export type SlotGates = Record<string, Record<"user" | "item", Record<string, number>>>;

/** Per knowledge cell: its test metric with knowledge, with every chunk masked, and the difference, over runs. */
export type KnowledgeOffSummary = Record<string, { with: Spread; off: Spread; part: Spread; metric: string }>;

/** Per gated config: the deletion costs over runs. */
export type DeletionSummary = Record<string, { base: Spread; costTop: Spread; costBottom: Spread; metric: string }>;

/** Scores with no model, on the same test split, from the training split. */
export interface Baselines {
  /** Each item's like rate in train, (likes + 1) / (n + 2). */
  itemPopularity: { auc: number; gauc: number };
  /** Mean rating of the sample's history (the train-history mean where a sample has none). */
  historyMean: { auc: number; gauc: number };
  /** Cosine of the user's knowledge with the item's train likers' (data-facts.ts); with a user-knowledge bank. */
  userKnowledgeKnn?: { auc: number; gauc: number };
}

export interface DataFacts {
  baselines: Baselines;
  /**
   * The user-knowledge kNN on the validation split. Against the test value it shows whether the knowledge's signal
   * carries beyond interactions it may have been written from (a validation split carved from train).
   */
  userKnowledgeKnnValid?: { auc: number; gauc: number };
  /** The user-knowledge kNN on the test split with the knowledge before PCA and int8: what compression lost. */
  userKnowledgeKnnUncompressed?: { auc: number; gauc: number };
  /** Pearson over users in both train (with valid) and test of the two positive rates (users split: absent). */
  userRateCorrelation?: { pearson: number; users: number };
  /** How the LLM profiles were chunked (dbbook). */
  chunking?: ProfileChunking;
}

export interface QualityResults {
  source: BenchSource;
  settings: QualitySettings;
  data: { name: string; users: number; items: number; interactions: number; train: number; valid: number; test: number };
  facts: DataFacts;
  banks: Partial<Record<BankVariant, BankSummary>>;
  runs: RunResult[];
  /** backbone -> "config" or "config@variant" -> stats over seeds. */
  table: Record<string, Record<string, CellStats>>;
  claims: Claim[];
  gateCorrelation: GateCorrelation;
  slotGates: SlotGates;
  deletion: DeletionSummary;
  /** Absent from results files made before it was measured. */
  knowledgeOff?: KnowledgeOffSummary;
  seconds: { prepare: number; train: number; total: number };
  peakRssMiB: number;
  complete: boolean;
  /** Trainings that threw (e.g. extractor-only on a backbone whose frozen layers cannot grow), with the error. */
  failures: { backbone: string; config: ConfigName; noise: BankVariant; seed: number; error: string }[];
  /** Runs taken from an earlier results file (--resume) instead of being trained again. */
  resumed: number;
}

export const cellKey = (config: string, noise: BankVariant) => (noise === "default" ? config : `${config}@${noise}`);

/** The dataset's metric of a run's test scores. */
export const metricOf = (r: { test: TestMetrics }, metric: "auc" | "gauc") => r.test[metric];
