/**
 * `kser export`: turns a `kser train` run into what the worker serves: a KV bundle (ONNX graphs, vocabulary,
 * precomputed item vectors, knowledge shards, user profiles) for `kser publish`, after checking ONNX-vs-tfjs
 * parity on a real request; optionally the three graphs as .onnx files. Nothing is written when the checks fail.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { type BackendPreference, initBackend } from "../../accel/index.ts";
import { loadDataset } from "../../data/store.ts";
import { exportModel } from "../../export/export-model.ts";
import type { ServingBundle } from "../../export/serving-bundle.ts";
import { writeBundle } from "../../publish/kv-bundle.ts";
import { loadModelFolder } from "../../train/checkpoint.ts";
import { STRATEGIES, type Strategy } from "../../train/strategy.ts";
import { UserFacingError } from "../../util/errors.ts";
import { knowledgeFor } from "../model-inputs.ts";
import { backendOption, positive } from "../options.ts";

/** The demo's and the nightly default's bound: float32 graphs in two runtimes agree far closer than this. */
const DEFAULT_MAX_PARITY = 1e-5;

/**
 * `--out` is replaced as a whole (writeBundle swaps directories), so only a new path, an empty folder or a
 * previous bundle may be named: a typo such as `--out .` must not delete anything.
 */
function checkOut(dir: string): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new UserFacingError(`--out ${dir} is a file; give a folder for the bundle`);
  if (readdirSync(dir).length === 0 || existsSync(path.join(dir, "index.json"))) return;
  throw new UserFacingError(`--out ${dir} is a folder with other files in it; give a new folder (a previous bundle is replaced)`);
}

/** The strategy `kser train` recorded next to the model (metrics.json of its run folder); all-params if none. */
async function recordedStrategy(modelDir: string): Promise<Strategy> {
  for (const file of [path.join(modelDir, "metrics.json"), path.join(path.dirname(modelDir), "metrics.json")]) {
    if (!existsSync(file)) continue;
    let strategy: unknown;
    try {
      strategy = (JSON.parse(await readFile(file, "utf8")) as { strategy?: unknown }).strategy;
    } catch (error) {
      throw new UserFacingError(`${file}: not valid JSON (${(error as Error).message})`);
    }
    if (typeof strategy === "string" && (STRATEGIES as readonly string[]).includes(strategy)) return strategy as Strategy;
  }
  return "all-params";
}

/** Names the first vocabulary field that differs and how, or null when the dataset is the one the model was trained on. */
function vocabularyMismatch(model: Record<string, string[]>, data: Record<string, string[]>): string | null {
  for (const name of new Set([...Object.keys(model), ...Object.keys(data)])) {
    const [a, b] = [model[name], data[name]];
    if (!a || !b) return `${name}: ${a ? "absent from the dataset" : "absent from the model"}`;
    if (a.length !== b.length) return `${name}: ${a.length} entries in the model, ${b.length} in the dataset`;
    const i = a.findIndex((v, j) => v !== b[j]);
    if (i >= 0) return `${name}: entry ${i} is ${JSON.stringify(a[i])} in the model, ${JSON.stringify(b[i])} in the dataset`;
  }
  return null;
}

export function register(program: Command): void {
  program
    .command("export")
    .description("export a trained model for serving: ONNX graphs + KV bundle for kser publish, parity checked")
    .requiredOption("--model <dir>", "the kser train run folder (or its model/ folder)")
    .requiredOption("--data <dir>", "the prepared dataset the model was trained on (vocabulary, user profiles)")
    .option("--bank <dir>", "the knowledge bank it was trained with (needed by knowledge extractors)")
    .option("--allow-other-bank", "export with a bank other than the one the model was trained with (another model id)")
    .requiredOption("--out <dir>", "bundle folder to write (new, empty, or a previous bundle, which is replaced)")
    .option("--onnx <dir>", "also write the graphs as backbone.onnx, user-extractor.onnx, item-extractor.onnx")
    .option("--latency-candidates <n>", "candidates per request when timing the ONNX chain", positive(true), 100)
    .option("--max-parity <x>", "largest |ONNX - tfjs| score difference accepted", positive(false), DEFAULT_MAX_PARITY)
    .addOption(backendOption("tfjs backend for the parity check"))
    .addHelpText("after", "\nThen: kser publish --bundle <out> [--target cloudflare], and kser rollout ramp|set with the printed model id.")
    .action(exportCommand);
}

interface ExportOptions {
  model: string;
  data: string;
  bank?: string;
  allowOtherBank?: boolean;
  out: string;
  onnx?: string;
  latencyCandidates: number;
  maxParity: number;
  backend: string;
}

/** Writes the graphs as named .onnx files into dir; returns their paths. */
async function writeOnnxFiles(dir: string, graphs: ServingBundle["graphs"]): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  const named = [
    ["backbone.onnx", graphs.backbone],
    ["user-extractor.onnx", graphs.userExtractor],
    ["item-extractor.onnx", graphs.itemExtractor],
  ] as const;
  for (const [name, graph] of named) {
    if (!graph) continue;
    await writeFile(path.join(dir, name), graph.bytes);
    files.push(path.join(dir, name));
  }
  return files;
}

async function exportCommand(opts: ExportOptions): Promise<void> {
  checkOut(opts.out);
  const { model, dir: modelDir } = await loadModelFolder(opts.model);
  const data = await loadDataset(opts.data);
  const mismatch = vocabularyMismatch(model.vocabulary.fields, data.vocabulary.fields);
  if (mismatch) throw new UserFacingError(`${opts.data} is not the dataset ${modelDir} was trained on (vocabulary ${mismatch})`);
  const bank = knowledgeFor(model, opts.bank, (line) => console.log(line), {
    allowOtherBank: opts.allowOtherBank,
    modelName: modelDir,
  });

  const backend = await initBackend(opts.backend as BackendPreference, (m) => console.log(m));
  const strategy = await recordedStrategy(modelDir);
  const { summary, built } = await exportModel(model, data, bank, {
    latencyCandidates: opts.latencyCandidates,
    strategy,
    knowledgeCodec: bank?.codec,
  });
  if (!(summary.parity <= opts.maxParity))
    throw new UserFacingError(
      `ONNX and tfjs scores differ by up to ${summary.parity.toExponential(2)} over ${summary.parityCandidates} candidates ` +
        `(--max-parity ${opts.maxParity}, tfjs backend ${backend.name}): nothing written`,
      3,
    );
  await writeBundle(opts.out, built.bundle);
  const onnxFiles = opts.onnx ? await writeOnnxFiles(opts.onnx, built.graphs) : [];
  console.log(
    `exported ${summary.modelId} (${strategy}): ${summary.entries} KV entries, model ${(summary.modelBytes / 1e6).toFixed(2)} MB, ` +
      `parity ${summary.parity.toExponential(2)} over ${summary.parityCandidates} candidates, ` +
      `ONNX chain (user and item extractor, backbone; onnxruntime-web, 1 thread) p95 ${summary.latencyMs.p95.toFixed(2)} ms for ${summary.latencyMs.candidates} candidates`,
  );
  console.log(`wrote ${opts.out}${onnxFiles.length ? ` and ${onnxFiles.join(", ")}` : ""}`);
  console.log(
    `next: kser publish --bundle ${opts.out}, then kser rollout ramp <variant> <percent> --model ${summary.modelId} ` +
      `(or, for the first model, kser rollout set --variant <name>:${summary.modelId})`,
  );
  console.log(JSON.stringify({ ...summary, strategy, bundle: opts.out, onnx: onnxFiles }));
}
