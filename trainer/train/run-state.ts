/**
 * The per-epoch training checkpoint of a run directory: parameters, optimizer moments and step, the RNG state,
 * the epoch reached, the best-so-far weights and the history. Everything a resumed run needs to end exactly where
 * an uninterrupted one would. Layout: <runDir>/checkpoint/{state.json, tensors.bin}; tensors.bin is written first
 * and state.json (which names it) last, each by write-then-rename, so a kill mid-save leaves the previous epoch's.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../util/atomic-write.ts";
import type { EpochRecord, ParamValues } from "./model.ts";
import type { AdamWState } from "./optimizer.ts";

const FORMAT = "kser-train-state/1";

export interface TrainState {
  /** Last finished epoch. */
  epoch: number;
  rngState: number;
  params: ParamValues;
  optimizer: AdamWState;
  best: { auc: number; epoch: number; weights: ParamValues } | null;
  history: EpochRecord[];
  /** What the run was started with (a resume must match it). */
  fingerprint: string;
}

interface Entry {
  group: "param" | "m" | "v" | "best";
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

export const checkpointDir = (runDir: string) => path.join(runDir, "checkpoint");

export async function saveTrainState(runDir: string, s: TrainState): Promise<void> {
  const dir = checkpointDir(runDir);
  await mkdir(dir, { recursive: true });
  const entries: Entry[] = [];
  const chunks: Float32Array[] = [];
  let offset = 0;
  const add = (group: Entry["group"], name: string, shape: number[], values: Float32Array) => {
    entries.push({ group, name, shape, offset, length: values.length });
    chunks.push(values);
    offset += values.length;
  };
  for (const [name, p] of s.params) {
    add("param", name, p.shape, p.values);
    const mv = s.optimizer.moments.get(name);
    if (mv) {
      add("m", name, p.shape, mv.m);
      add("v", name, p.shape, mv.v);
    }
  }
  if (s.best) for (const [name, p] of s.best.weights) add("best", name, p.shape, p.values);
  const all = new Float32Array(offset);
  for (const [i, c] of chunks.entries()) all.set(c, entries[i].offset);
  const tensorsFile = `tensors-${s.epoch}.bin`;
  await writeFileAtomic(path.join(dir, tensorsFile), new Uint8Array(all.buffer));
  const json = {
    format: FORMAT,
    epoch: s.epoch,
    rngState: s.rngState,
    optimizerStep: s.optimizer.step,
    best: s.best ? { auc: s.best.auc, epoch: s.best.epoch } : null,
    history: s.history,
    fingerprint: s.fingerprint,
    tensorsFile,
    entries,
  };
  await writeFileAtomic(path.join(dir, "state.json"), JSON.stringify(json));
  // The previous epoch's tensors are no longer referenced.
  if (s.epoch > 1) await rmQuiet(path.join(dir, `tensors-${s.epoch - 1}.bin`));
}

async function rmQuiet(file: string): Promise<void> {
  const { rm } = await import("node:fs/promises");
  await rm(file, { force: true });
}

export async function loadTrainState(runDir: string): Promise<TrainState | null> {
  const dir = checkpointDir(runDir);
  if (!existsSync(path.join(dir, "state.json"))) return null;
  const json = JSON.parse(await readFile(path.join(dir, "state.json"), "utf8"));
  if (json.format !== FORMAT) throw new Error(`${dir}/state.json is not a ${FORMAT} checkpoint`);
  const bytes = await readFile(path.join(dir, json.tensorsFile));
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const params: ParamValues = new Map();
  const best: ParamValues = new Map();
  const moments = new Map<string, { m: Float32Array; v: Float32Array }>();
  for (const e of json.entries as Entry[]) {
    if (e.offset + e.length > all.length) throw new Error(`${dir}/${json.tensorsFile} is shorter than state.json says`);
    const values = all.slice(e.offset, e.offset + e.length);
    if (e.group === "param") params.set(e.name, { shape: e.shape, values });
    else if (e.group === "best") best.set(e.name, { shape: e.shape, values });
    else {
      const mv = moments.get(e.name) ?? { m: new Float32Array(0), v: new Float32Array(0) };
      mv[e.group] = values;
      moments.set(e.name, mv);
    }
  }
  return {
    epoch: json.epoch,
    rngState: json.rngState,
    params,
    optimizer: { step: json.optimizerStep, moments },
    best: json.best ? { ...json.best, weights: best } : null,
    history: json.history,
    fingerprint: json.fingerprint,
  };
}
