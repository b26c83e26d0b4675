/**
 * The model registry of the nightly runs, <runsDir>/models/<modelId>: every published model with its lineage, so
 * a later run can evaluate the live champion and start extractor-only training from its backbone.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { loadModel, saveModel } from "../train/checkpoint.ts";
import type { TrainedModel } from "../train/model.ts";
import { writeJsonAtomic } from "../util/atomic-write.ts";
import { EXIT, StageError } from "./outcome.ts";
import { readJson } from "./run-dir.ts";

export const modelsDir = (runsDir: string) => path.join(runsDir, "models");

export interface Lineage {
  modelId: string;
  /** The backbone-only model this one started from (itself for a backbone), for extractor-only training. */
  backboneModelId: string | null;
  runDir: string;
}

export async function registerModel(runsDir: string, modelId: string, model: TrainedModel, lineage: Lineage): Promise<void> {
  const dir = path.join(modelsDir(runsDir), modelId);
  await saveModel(model, dir);
  await writeJsonAtomic(path.join(dir, "lineage.json"), lineage);
}

export async function registeredModel(runsDir: string, modelId: string): Promise<{ model: TrainedModel; lineage: Lineage }> {
  const dir = path.join(modelsDir(runsDir), modelId);
  if (!existsSync(path.join(dir, "model.json")))
    throw new StageError(
      EXIT.BAD_INPUT,
      "bad-input",
      `the live champion ${modelId} is not in ${modelsDir(runsDir)}: the nightly run can only evaluate models it trained`,
    );
  return { model: await loadModel(dir), lineage: await readJson<Lineage>(path.join(dir, "lineage.json")) };
}

/** Strips what trainModel adds beyond a TrainedModel (timing, backend), so saved models compare equal. */
export function plainModel(result: TrainedModel): TrainedModel {
  const { config, spec, vocabulary, params, metrics, history } = result;
  return { config, spec, vocabulary, params, metrics, history };
}
