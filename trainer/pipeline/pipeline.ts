/**
 * The data -> knowledge -> train pipeline, one step per function, driven by an experiment config
 * (trainer/pipeline/config.ts): the CLI, the nightly run, the demo and the benches assemble their runs from these
 * steps instead of calling the data, knowledge and training modules by hand.
 */

import type { VectorCodec } from "../../shared/vector-codec.ts";
import { prepareDataset } from "../data/prepare.ts";
import { loadDataset } from "../data/store.ts";
import { generateSyntheticDataset } from "../data/synthetic.ts";
import type { KnowledgeBank, PreparedDataset, RawDataset } from "../data/types.ts";
import { buildBank, loadBank, type StoredBank } from "../knowledge/bank.ts";
import { type CompressResult, compressBank } from "../knowledge/compress.ts";
import { KNOWLEDGE_DEFAULTS } from "../knowledge/defaults.ts";
import { createHashEncoder } from "../knowledge/encoders/hash.ts";
import { simulateKnowledge } from "../knowledge/simulator.ts";
import { loadModelFolder } from "../train/checkpoint.ts";
import { type TrainOptions, type TrainResult, trainModel } from "../train/train.ts";
import type { ExperimentConfig } from "./config.ts";

/** The data a run trains on; raw only where it was generated here (the simulator needs it). */
export interface ExperimentData {
  raw: RawDataset | null;
  data: PreparedDataset;
}

export async function loadExperimentData(config: ExperimentConfig["data"]): Promise<ExperimentData> {
  if (config.source === "prepared") return { raw: null, data: await loadDataset(config.path) };
  const raw = generateSyntheticDataset({ seed: config.seed, users: config.users, items: config.items });
  return { raw, data: prepareDataset(raw, { seed: config.seed }) };
}

export interface SimulatedBankOptions {
  seed: number;
  chunks?: number;
  encoderDim?: number;
  dim?: number;
  codec?: VectorCodec;
}

/** Simulated knowledge texts, hash-encoded into K chunks per entity, PCA-compressed and quantised. */
export async function simulatedBank(raw: RawDataset, data: PreparedDataset, options: SimulatedBankOptions): Promise<CompressResult> {
  const k = { ...KNOWLEDGE_DEFAULTS, ...options };
  const texts = simulateKnowledge(raw, data, { seed: k.seed, chunksPerField: k.chunks });
  const encoded = await buildBank(texts, createHashEncoder({ dim: k.encoderDim }), { chunks: k.chunks });
  return compressBank(encoded, { dim: k.dim, codec: k.codec, seed: k.seed });
}

/** The knowledge bank the config names (null for none), and the compression report where it was built here. */
export async function experimentKnowledge(
  config: ExperimentConfig["knowledge"],
  { raw, data }: ExperimentData,
): Promise<{ bank: StoredBank | null; report: CompressResult["report"] | null }> {
  if (config.kind === "none") return { bank: null, report: null };
  if (config.kind === "bank") return { bank: loadBank(config.path), report: null };
  if (!raw) throw new Error("the knowledge simulator needs generated data");
  const { bank, report } = await simulatedBank(raw, data, { ...config, seed: config.seed ?? data.seed });
  return { bank, report };
}

/** What trainModel runs besides its inputs, hooks and where it writes. */
export type TrainExtras = Omit<TrainOptions, "data" | "bank" | "backbone" | "extractor">;

/** A model and how it trains; a training field left out takes its TRAINING_DEFAULTS value. */
export interface TrainingPlan {
  model: ExperimentConfig["model"];
  training: Partial<ExperimentConfig["training"]>;
}

/** Trains the config's model with its training section; `extras` adds hooks, a run folder, a starting model. */
export async function trainExperiment(
  config: TrainingPlan,
  data: PreparedDataset,
  bank: KnowledgeBank | null,
  extras: TrainExtras = {},
): Promise<TrainResult> {
  const { from, ...training } = config.training;
  const start = extras.from ?? (from ? (await loadModelFolder(from)).model : undefined);
  return trainModel({ data, bank, ...config.model, ...training, ...extras, from: start });
}
