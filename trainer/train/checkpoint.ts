/**
 * Saves and loads a TrainedModel as a folder: model.json (config, spec, vocabulary, metrics, history, parameter
 * index) and weights.bin (every parameter's float32 values, little endian, in index order).
 */
import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { UserFacingError } from "../util/errors.ts";
import type { ParamValues, TrainedModel } from "./model.ts";

const FORMAT = "kser-trained-model/1";

interface ModelJson extends Omit<TrainedModel, "params"> {
  format: typeof FORMAT;
  params: { name: string; shape: number[]; offset: number; length: number }[];
}

export async function saveModel(model: TrainedModel, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const index: ModelJson["params"] = [];
  let offset = 0;
  for (const [name, p] of model.params) {
    index.push({ name, shape: p.shape, offset, length: p.values.length });
    offset += p.values.length;
  }
  const weights = new Float32Array(offset);
  for (const entry of index) weights.set(model.params.get(entry.name)!.values, entry.offset);
  const { params: _params, ...rest } = model;
  const json: ModelJson = { format: FORMAT, ...rest, params: index };
  // model.json last: it names the weights, so a crash never leaves it pointing at half-written ones.
  await writeFileAtomic(path.join(dir, "weights.bin"), new Uint8Array(weights.buffer));
  await writeFileAtomic(path.join(dir, "model.json"), JSON.stringify(json));
}

export async function loadModel(dir: string): Promise<TrainedModel> {
  const file = path.join(dir, "model.json");
  let json: ModelJson;
  try {
    json = JSON.parse(await readFile(file, "utf8")) as ModelJson;
  } catch (error) {
    throw new Error(`${file}: ${error instanceof SyntaxError ? `not valid JSON (${error.message})` : (error as Error).message}`);
  }
  if (json?.format !== FORMAT) throw new Error(`${file} is not a ${FORMAT} checkpoint`);
  const weightsFile = path.join(dir, "weights.bin");
  const bytes = await readFile(weightsFile).catch(() => {
    throw new Error(`${weightsFile} is missing or unreadable (model.json lists ${json.params?.length ?? 0} parameters)`);
  });
  if (bytes.byteLength % 4 !== 0) throw new Error(`${weightsFile} is not whole float32 values (${bytes.byteLength} bytes)`);
  const weights = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const params: ParamValues = new Map();
  for (const e of json.params) {
    if (e.offset + e.length > weights.length)
      throw new Error(
        `${weightsFile} is shorter than model.json says (${e.name} ends at value ${e.offset + e.length}, the file has ${weights.length})`,
      );
    params.set(e.name, { shape: e.shape, values: weights.slice(e.offset, e.offset + e.length) });
  }
  const { format: _format, params: _index, ...rest } = json;
  return { ...rest, params };
}

/**
 * The model a user names on the command line: a model folder (model.json + weights.bin) or a `kser train` run
 * folder holding one in model/. Returns the folder it used; a folder with neither is a clear error.
 */
export async function loadModelFolder(dir: string): Promise<{ model: TrainedModel; dir: string }> {
  for (const candidate of [dir, path.join(dir, "model")]) {
    if (existsSync(path.join(candidate, "model.json"))) {
      try {
        return { model: await loadModel(candidate), dir: candidate };
      } catch (error) {
        throw new UserFacingError((error as Error).message);
      }
    }
  }
  throw new UserFacingError(
    `${dir}: no model.json here or in ${path.join(dir, "model")} (give a kser train run folder or its model/ folder)`,
  );
}
