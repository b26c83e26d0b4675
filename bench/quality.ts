/**
 * Quality bench (npm run bench:quality -- --source dbbook,synthetic,ml-100k): for each dataset, every configuration
 * x model seed (default 5) trained and scored on test (AUC, GAUC, LogLoss: mean ± std, seeds beating none), trivial
 * baselines on the same split, the ESFNet gates (against the true chunk kinds where the knowledge is simulated, per
 * profile aspect on dbbook), the deletion test of every gated model, and the dataset's claims true/false. Writes each
 * dataset's full results JSON (after every training, so a cut-short run keeps what it measured) and prints one JSON
 * summary of all datasets as the LAST line. Settings per dataset: bench/quality/settings.ts. See docs/quality.md.
 *
 *   --source S          ml-100k, dbbook, synthetic; repeat or comma-separate to run several (default ml-100k with --data)
 *   --data DIR          the dataset folder of the one file-based source given, or SOURCE=DIR (repeatable);
 *                       defaults ../shared/data/ml-100k and ../shared/data/llm-profiles-dbbook
 *   --seeds N           model seeds 1..N (default 5)
 *   --backbones a,b     --extractors a,b (configs: none,raw,kar,kser,kser-xo,kser-nofilter,kser-noalign)
 *   --noisy a,b         ml-100k: configs also trained on the high-noise bank (default raw; "" for none)
 *   --clean a,b         synthetic: configs also trained on the informative-only bank (default raw; "" for none)
 *   --epochs N --patience N --batch N --lr X --embedding N --users N --items N (synthetic world size)
 *   --quick             smoke run on tiny data: 1 seed, 1 epoch (ml-100k and dbbook: 200 users; synthetic: 300 x 200)
 *   --out FILE          results file (several sources: FILE with -SOURCE before the extension); default runs/
 *   --resume FILE       keep the runs of an earlier (cut-short) results file of the same settings (repeatable, per source)
 *   --data-seed N       the data split, row order and knowledge seed (default per dataset, bench/quality/settings.ts)
 *   --budget-minutes N  per dataset (default 60): the JSON says whether each grid fit
 *   --summarize FILE    print the summary of existing results files (repeatable) and exit [--markdown]
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { initBackend } from "../trainer/accel/index.ts";
import { claimsFor } from "./quality/claims.ts";
import { markdown } from "./quality/markdown.ts";
import { plan, runQuality } from "./quality/run.ts";
import {
  BENCH_SOURCES,
  type BenchSource,
  CONFIGS,
  type ConfigName,
  type QualitySettings,
  type SettingOverrides,
  SOURCE_DEFAULTS,
  settingsFor,
} from "./quality/settings.ts";
import { setupSource } from "./quality/sources.ts";
import { summary } from "./quality/summary.ts";
import type { QualityResults } from "./quality/types.ts";

const { values } = parseArgs({
  options: {
    data: { type: "string", multiple: true },
    source: { type: "string", multiple: true },
    seeds: { type: "string" },
    backbones: { type: "string" },
    extractors: { type: "string" },
    noisy: { type: "string" },
    clean: { type: "string" },
    epochs: { type: "string" },
    patience: { type: "string" },
    "data-seed": { type: "string" },
    batch: { type: "string" },
    lr: { type: "string" },
    embedding: { type: "string" },
    users: { type: "string" },
    items: { type: "string" },
    "budget-minutes": { type: "string" },
    quick: { type: "boolean", default: false },
    out: { type: "string" },
    backend: { type: "string", default: "auto" },
    summarize: { type: "string", multiple: true },
    markdown: { type: "boolean", default: false },
    resume: { type: "string", multiple: true },
  },
});

const list = (v: string | undefined) =>
  v
    ?.split(",")
    .map((x) => x.trim())
    .filter(Boolean);
const num = (v: string | undefined, flag: string) => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${flag}: not a number: ${JSON.stringify(v)}`);
  return n;
};
const configList = (v: string | undefined, flag: string) => {
  const l = list(v);
  for (const c of l ?? [])
    if (!(CONFIGS as readonly string[]).includes(c)) throw new Error(`--${flag}: unknown config "${c}" (known: ${CONFIGS.join(", ")})`);
  return l as ConfigName[] | undefined;
};
const budgetMinutes = num(values["budget-minutes"], "budget-minutes") ?? 60;

/** The per-source JSON of the last line: where the results are, whether the grid fit the budget, its summary. */
function sourceJson(r: QualityResults, out: string) {
  return { out, budgetMinutes, withinBudget: r.resumed > 0 ? null : r.seconds.total <= budgetMinutes * 60, ...summary(r).json };
}

function lastLine(backend: string | undefined, done: { r: QualityResults; out: string }[]) {
  const claims = Object.fromEntries(done.flatMap(({ r }) => r.claims.map((c) => [c.id, c.holds])));
  return JSON.stringify({
    backend,
    budgetMinutes,
    complete: done.every(({ r }) => r.complete),
    runs: done.reduce((a, { r }) => a + r.runs.length, 0),
    seconds: Number(done.reduce((a, { r }) => a + r.seconds.total, 0).toFixed(1)),
    peakRssMiB: Math.max(0, ...done.map(({ r }) => r.peakRssMiB)),
    claims,
    sources: Object.fromEntries(done.map(({ r, out }) => [r.source, sourceJson(r, out)])),
  });
}

// --summarize FILE...: print the summaries (or Markdown) of results files, e.g. of a run cut short. Claims are
// judged again from the file's runs, by today's rules.
if (values.summarize) {
  const done = values.summarize.map((out) => {
    const r = JSON.parse(readFileSync(out, "utf8")) as QualityResults & { backend?: string };
    return { r: { ...r, claims: claimsFor(r.source ?? "ml-100k", r.runs, r.settings.backbones, r.settings.metric) }, out };
  });
  for (const { r } of done) {
    if (values.markdown) console.log(`## ${r.source}\n\n${markdown(r)}\n`);
    else for (const line of summary(r).lines) console.log(line);
  }
  console.log(lastLine((done[0]?.r as { backend?: string } | undefined)?.backend, done));
  process.exit(0);
}

const sources = [...new Set((values.source ?? (values.data ? ["ml-100k"] : [])).flatMap((v) => list(v) ?? []))];
if (sources.length === 0) throw new Error(`give --source (${BENCH_SOURCES.join(", ")}) or --data DIR (MovieLens-100K)`);
for (const s of sources)
  if (!(BENCH_SOURCES as readonly string[]).includes(s)) throw new Error(`unknown --source "${s}" (known: ${BENCH_SOURCES.join(", ")})`);

function dataDir(source: BenchSource): string | undefined {
  const given = values.data ?? [];
  const named = given.find((d) => d.startsWith(`${source}=`));
  if (named) return named.slice(source.length + 1);
  const plain = given.filter((d) => !BENCH_SOURCES.some((s) => d.startsWith(`${s}=`)));
  const fileSources = sources.filter((s) => SOURCE_DEFAULTS[s as BenchSource].data !== null);
  if (plain.length > 1 || (plain.length === 1 && fileSources.length > 1))
    throw new Error("several datasets read files: give --data SOURCE=DIR for each");
  return SOURCE_DEFAULTS[source].data === null ? undefined : (plain[0] ?? SOURCE_DEFAULTS[source].data ?? undefined);
}

function outFile(source: BenchSource): string {
  if (!values.out) return path.join("runs", `quality-${source}-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  if (sources.length === 1) return values.out;
  const ext = path.extname(values.out);
  return `${values.out.slice(0, values.out.length - ext.length)}-${source}${ext || ".json"}`;
}

function overridesFor(source: BenchSource): SettingOverrides {
  const variantFlag = source === "ml-100k" ? values.noisy : source === "synthetic" ? values.clean : undefined;
  return {
    seeds: num(values.seeds, "seeds"),
    backbones: list(values.backbones),
    configs: configList(values.extractors, "extractors"),
    variantConfigs: configList(variantFlag, source === "ml-100k" ? "noisy" : "clean"),
    epochs: num(values.epochs, "epochs"),
    patience: num(values.patience, "patience"),
    batchSize: num(values.batch, "batch"),
    learningRate: num(values.lr, "lr"),
    embeddingDim: num(values.embedding, "embedding"),
    users: num(values.users, "users"),
    items: num(values.items, "items"),
    dataSeed: num(values["data-seed"], "data-seed"),
  };
}

const resumes = (values.resume ?? []).map((f) => JSON.parse(readFileSync(f, "utf8")) as QualityResults);
const resumeFor = (source: BenchSource) => resumes.find((r) => (r.source ?? "ml-100k") === source);

function planLine(s: QualitySettings, backend: string, trainings: number): string {
  const variant = s.variant && s.variantConfigs.length ? ` + ${s.variantConfigs.map((c) => `${c}@${s.variant}`).join(", ")}` : "";
  return (
    `[plan ${s.source}] backend ${backend}; ${trainings} trainings = ${s.seeds.length} seeds x ${s.backbones.length} backbones (${s.backbones.join(", ")}) x ` +
    `(${s.configs.join(", ")}${variant}); up to ${s.epochs} epochs, patience ${s.patience}, batch ${s.batchSize}, lr ${s.learningRate}, ` +
    `E ${s.embeddingDim}, best epoch by valid ${s.metric}; knowledge ${s.chunks.user}/${s.chunks.item} chunks (user/item) x hash ${s.encoderDim}-d -> ` +
    `PCA ${s.pcaDim}-d int8; budget ${budgetMinutes} min -> ${((budgetMinutes * 60) / Math.max(1, trainings)).toFixed(0)} s per training`
  );
}

const backend = (await initBackend(values.backend as "auto")).name;
const done: { r: QualityResults; out: string }[] = [];
let current: { r: QualityResults | null; out: string } | null = null;
// Cut short (timeout, Ctrl-C): summarise what was measured, marked complete: false, and exit 124.
for (const signal of ["SIGTERM", "SIGINT"] as const)
  process.on(signal, () => {
    console.log(`[stopped] ${signal} after ${current?.r?.runs.length ?? 0} trainings: summary of the partial results`);
    const partial = current?.r ? [...done, { r: current.r, out: current.out }] : done;
    if (current?.r) for (const line of summary(current.r).lines) console.log(line);
    console.log(lastLine(backend, partial));
    process.exit(124);
  });

for (const source of sources as BenchSource[]) {
  const settings = settingsFor(source, values.quick ?? false, overridesFor(source));
  const out = outFile(source);
  mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  current = { r: null, out };
  const t0 = performance.now();
  const setup = await setupSource(settings, { dir: dataDir(source) });
  const prepareSeconds = (performance.now() - t0) / 1000;
  const { data, raw } = setup;
  console.log(
    `[data ${source}] ${raw.name}: ${raw.users.length} users, ${raw.items.length} items, ${raw.interactions.length} interactions; ` +
      `samples train ${data.train.count} / valid ${data.valid.count} / test ${data.test.count}; prepared with its banks in ${prepareSeconds.toFixed(1)} s`,
  );
  for (const [variant, b] of Object.entries(setup.banks))
    console.log(
      `[knowledge ${source}] ${variant} bank ${b.summary.bankId}: present ${JSON.stringify(b.summary.present)}${b.summary.kinds ? `, kinds ${JSON.stringify(b.summary.kinds)}` : ""}`,
    );
  console.log(planLine(settings, backend, plan(settings).length));
  const write = (r: QualityResults) => {
    current = { r, out };
    writeFileSync(out, `${JSON.stringify({ backend, outFile: out, ...r }, null, 1)}\n`);
  };
  // After each training, let the event loop turn: training itself never returns to it (its awaits resolve as
  // microtasks), so without this a SIGTERM or Ctrl-C waited for the end of the whole grid.
  const progress = (r: QualityResults) => {
    write(r);
    return new Promise<void>((resolve) => setImmediate(resolve));
  };
  const r = await runQuality({
    setup,
    settings,
    prepareSeconds,
    log: (l) => console.log(l),
    onProgress: progress,
    resume: resumeFor(source),
  });
  write(r);
  for (const line of summary(r).lines) console.log(line);
  console.log(`[out ${source}] full results in ${out}`);
  done.push({ r, out });
  current = null;
}
console.log(lastLine(backend, done));
process.exit(0); // nothing left to do; do not wait on backend handles
