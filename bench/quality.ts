/**
 * Quality bench (npm run bench:quality -- --data ../shared/data/ml-100k --seeds 3): test AUC and LogLoss, mean and
 * std over seeds, for each backbone x {none, raw, kar, kser, kser extractor-only, kser-nofilter, kser-noalign}; raw
 * (and optionally others) again on a high-noise knowledge bank; the ESFNet gates against the simulator's true chunk
 * kinds; the paper's claims checked true/false. Writes the full results JSON to --out (after every training, so a
 * cut-short run keeps what it measured) and prints one JSON summary as the LAST line. See docs/quality.md.
 *
 *   --data DIR          MovieLens-100K folder (u.data, u.item, u.user); or --source synthetic [--users N]
 *   --seeds N           model seeds 1..N (default 3)
 *   --backbones a,b     default deepfm,dcnv2,din
 *   --extractors a,b    configs: none,raw,kar,kser,kser-xo,kser-nofilter,kser-noalign (default all)
 *   --noisy a,b         configs also trained at high noise (default raw; "" for none)
 *   --epochs N --patience N --batch N --lr X --embedding N --users N
 *   --quick             smoke run: deepfm, 1 seed, 1 epoch, 200 users (full run default: 2 epochs, patience 1, batch 1024, E 16)
 *   --out FILE          default runs/quality-<timestamp>.json
 *   --resume FILE       keep the runs of an earlier (cut-short) results file of the same settings; train the rest
 *   --summarize FILE    print the summary of an existing results file (e.g. a run cut short) and exit
 *                       [--markdown: the table, claims and gate scores as Markdown]
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { loadRawDataset } from "../trainer/data/load.ts";
import { DEFAULT_PROPORTIONS } from "../trainer/knowledge/simulator.ts";
import { initBackend } from "../trainer/runtime/backend.ts";
import {
  CONFIGS,
  type ConfigName,
  DEFAULT_BACKBONES,
  highNoiseProportions,
  type QualityResults,
  type QualitySettings,
  runQuality,
} from "./quality/run.ts";
import { markdown, summary } from "./quality/summary.ts";

const { values } = parseArgs({
  options: {
    data: { type: "string" },
    source: { type: "string" },
    seeds: { type: "string" },
    backbones: { type: "string" },
    extractors: { type: "string" },
    noisy: { type: "string" },
    epochs: { type: "string" },
    patience: { type: "string" },
    batch: { type: "string" },
    lr: { type: "string" },
    embedding: { type: "string" },
    users: { type: "string" },
    "budget-minutes": { type: "string" },
    quick: { type: "boolean", default: false },
    out: { type: "string" },
    backend: { type: "string", default: "auto" },
    summarize: { type: "string" },
    markdown: { type: "boolean", default: false },
    resume: { type: "string" },
  },
});

// --summarize FILE: print the table, claims and the JSON summary of a results file (e.g. of a run cut short).
if (values.summarize) {
  const r = JSON.parse(readFileSync(values.summarize, "utf8")) as QualityResults & { backend?: string };
  const s = summary(r);
  if (values.markdown) console.log(markdown(r));
  else for (const line of s.lines) console.log(line);
  console.log(JSON.stringify({ backend: r.backend, out: values.summarize, ...s.json }));
  process.exit(0);
}

const list = (v: string | undefined, fallback: string[]) =>
  v === undefined
    ? fallback
    : v
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean);
const num = (v: string | undefined, fallback: number) => (v === undefined ? fallback : Number(v));
const quick = values.quick ?? false;

const configs = list(values.extractors, [...CONFIGS]);
const noisy = list(values.noisy, ["raw"]);
for (const c of [...configs, ...noisy])
  if (!(CONFIGS as readonly string[]).includes(c)) throw new Error(`unknown config "${c}" (known: ${CONFIGS.join(", ")})`);
const seedCount = num(values.seeds, quick ? 1 : 3);
const settings: QualitySettings = {
  backbones: list(values.backbones, quick ? ["deepfm"] : DEFAULT_BACKBONES),
  configs: configs as ConfigName[],
  noisyConfigs: noisy as ConfigName[],
  seeds: Array.from({ length: seedCount }, (_, i) => i + 1),
  epochs: num(values.epochs, quick ? 1 : 2),
  patience: num(values.patience, 1),
  batchSize: num(values.batch, 1024),
  learningRate: num(values.lr, 1e-3),
  embeddingDim: num(values.embedding, 16),
  knowledgeDropout: 0.1,
  dataSeed: 1,
  chunks: 6,
  encoderDim: 256,
  pcaDim: 32,
  proportions: DEFAULT_PROPORTIONS,
  noisyProportions: highNoiseProportions(0.2),
  users: num(values.users, quick ? 200 : 0),
};
const budgetMinutes = num(values["budget-minutes"], 60);

const source = values.source ?? (values.data ? "ml-100k" : undefined);
if (!source) throw new Error("give --data DIR (MovieLens-100K) or --source synthetic");
const outFile = values.out ?? path.join("runs", `quality-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
mkdirSync(path.dirname(path.resolve(outFile)), { recursive: true });

const backend = (await initBackend(values.backend as "auto")).name;
const raw = await loadRawDataset({
  source: source as "ml-100k",
  data: values.data,
  seed: 1,
  users: source === "synthetic" && settings.users > 0 ? settings.users : undefined,
});
const trainings =
  settings.seeds.length *
  settings.backbones.length *
  ((settings.configs.includes("kser-xo") && !settings.configs.includes("none") ? 1 : 0) +
    settings.configs.length +
    settings.noisyConfigs.filter((c) => c !== "none").length);
console.log(
  `[plan] backend ${backend}; ${trainings} trainings = ${settings.seeds.length} seeds x ${settings.backbones.length} backbones (${settings.backbones.join(", ")}) x ` +
    `(${settings.configs.join(", ")}${settings.noisyConfigs.length ? ` + ${settings.noisyConfigs.map((c) => `${c}@high`).join(", ")}` : ""}); ` +
    `up to ${settings.epochs} epochs, patience ${settings.patience}, batch ${settings.batchSize}, lr ${settings.learningRate}, E ${settings.embeddingDim}, ` +
    `knowledge ${settings.chunks} chunks x hash ${settings.encoderDim}-d -> PCA ${settings.pcaDim}-d int8; ` +
    `budget ${budgetMinutes} min -> ${((budgetMinutes * 60) / Math.max(1, trainings)).toFixed(0)} s per training`,
);

const write = (r: QualityResults) => {
  partial = r;
  writeFileSync(outFile, `${JSON.stringify({ backend, outFile, ...r }, null, 1)}\n`);
};
const finish = (r: QualityResults) => {
  const s = summary(r);
  for (const line of s.lines) console.log(line);
  console.log(`[out] full results in ${outFile}`);
  console.log(
    JSON.stringify({
      backend,
      out: outFile,
      budgetMinutes,
      withinBudget: r.resumed > 0 ? null : r.seconds.total <= budgetMinutes * 60,
      ...s.json,
    }),
  );
};
let partial: QualityResults | null = null;
// Cut short (timeout, Ctrl-C): summarise what was measured, marked complete: false, and exit 124.
for (const signal of ["SIGTERM", "SIGINT"] as const)
  process.on(signal, () => {
    console.log(`[stopped] ${signal} after ${partial?.runs.length ?? 0} trainings: summary of the partial results`);
    if (partial) finish(partial);
    process.exit(124);
  });
const resume = values.resume ? (JSON.parse(readFileSync(values.resume, "utf8")) as QualityResults) : undefined;
// After each training, let the event loop turn: training itself never returns to it (its awaits resolve as
// microtasks), so without this a SIGTERM or Ctrl-C waited for the end of the whole grid.
const progress = (r: QualityResults) => {
  write(r);
  return new Promise<void>((resolve) => setImmediate(resolve));
};
const results = await runQuality({ raw, settings, log: (l) => console.log(l), onProgress: progress, resume });
write(results);
finish(results);
process.exit(0); // nothing left to do; do not wait on backend handles
