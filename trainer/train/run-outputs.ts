/**
 * What a finished run leaves in its directory: model/ (the trained model, checkpoint.ts format), metrics.json
 * (AUC, LogLoss, GAUC, history, speed) and, for knowledge extractors, gates.json.
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { KnowledgeBank, PreparedDataset } from "../data/types.ts";
import { getExtractor } from "../models/registry.ts";
import { writeJsonAtomic } from "../util/atomic-write.ts";
import { saveModel } from "./checkpoint.ts";
import { computeGates, type GatesReport } from "./gates.ts";
import type { TrainedModel } from "./model.ts";
import type { TrainResult } from "./train.ts";

export function metricsJson(result: TrainResult, extra: Record<string, unknown> = {}) {
  const seconds = (result.timing.inputMs + result.timing.forwardBackwardMs + result.timing.optimizerMs) / 1000;
  return {
    backbone: result.config.backbone,
    extractor: result.config.extractor,
    backend: result.backend,
    valid: result.metrics.valid,
    test: result.metrics.test,
    history: result.history,
    resumedFrom: result.resumedFrom,
    trainExamplesPerSecond: seconds > 0 ? Math.round(result.timing.examples / seconds) : null,
    ...extra,
  };
}

export async function writeRunOutputs(
  runDir: string,
  result: TrainResult,
  data: PreparedDataset,
  bank: KnowledgeBank | null,
  extra: Record<string, unknown> = {},
): Promise<{ gates: GatesReport | null }> {
  await mkdir(runDir, { recursive: true });
  const { timing: _t, backend: _b, resumedFrom: _r, ...model } = result;
  await saveModel(model as TrainedModel, path.join(runDir, "model"));
  await writeJsonAtomic(path.join(runDir, "metrics.json"), metricsJson(result, extra));
  const gates = bank && getExtractor(result.config.extractor).usesKnowledge ? computeGates(model, data, bank) : null;
  if (gates) await writeJsonAtomic(path.join(runDir, "gates.json"), gates);
  return { gates };
}
