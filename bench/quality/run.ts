/**
 * The quality bench's core for one dataset: for each seed x backbone x config, train and measure test AUC / GAUC /
 * LogLoss; for the models with an ESFNet filter, read the gates (against the true chunk kinds where known, per slot
 * where named) and run the deletion test. The data and banks come prepared (sources.ts) and are shared by every
 * run; a seed's backbone-only model is kept as the start of its extractor-only run.
 */
import type { KnowledgeBank } from "../../trainer/data/types.ts";
import { trainExperiment } from "../../trainer/pipeline/pipeline.ts";
import { computeGates } from "../../trainer/train/gates.ts";
import type { TrainedModel } from "../../trainer/train/model.ts";
import { claimsFor } from "./claims.ts";
import { deletionTest, knowledgeOff } from "./deletion.ts";
import { gateCorrelation, scoreGates, slotGates, slotMeans } from "./gate-scores.ts";
import type { BankVariant, BenchMetric, ConfigName, QualitySettings } from "./settings.ts";
import type { SourceSetup } from "./sources.ts";
import { spread } from "./stats.ts";
import { buildTable } from "./table.ts";
import { cellKey, type DeletionSummary, type KnowledgeOffSummary, type QualityResults, type RunResult } from "./types.ts";

export interface RunQualityOptions {
  setup: SourceSetup;
  settings: QualitySettings;
  /** Seconds the data and banks took to prepare (reported). */
  prepareSeconds?: number;
  log?: (line: string) => void;
  /** Called after every training with the results so far (for partial writes). */
  onProgress?: (partial: QualityResults) => void | Promise<void>;
  /** An earlier results file of the same settings: its runs are kept, only the missing ones train. */
  resume?: QualityResults;
}

export interface Job {
  seed: number;
  backbone: string;
  config: ConfigName;
  noise: BankVariant;
}

/** Trainings the settings imply, in run order (seed-major, so a cut-short run still covers every backbone). */
export function plan(s: QualitySettings): Job[] {
  const out: Job[] = [];
  const configs = s.configs.includes("kser-xo") && !s.configs.includes("none") ? (["none", ...s.configs] as ConfigName[]) : s.configs;
  for (const seed of s.seeds)
    for (const backbone of s.backbones) {
      for (const config of configs) out.push({ seed, backbone, config, noise: "default" });
      if (s.variant) for (const config of s.variantConfigs) if (config !== "none") out.push({ seed, backbone, config, noise: s.variant });
    }
  return out;
}

const rssMiB = () => Math.round(process.resourceUsage().maxRSS / 1024);
const GATED = new Set(["kser", "kser-noalign"]);

function deletionSummary(runs: RunResult[], metric: BenchMetric): DeletionSummary {
  const out: DeletionSummary = {};
  const list = runs.filter((r) => r.deletion && r.noise === "default");
  for (const config of [...new Set(list.map((r) => r.config))]) {
    const rs = list.filter((r) => r.config === config).map((r) => r.deletion!);
    out[config] = {
      base: spread(rs.map((d) => d.base[metric])),
      costTop: spread(rs.map((d) => d.cost.top)),
      costBottom: spread(rs.map((d) => d.cost.bottom)),
      metric,
    };
  }
  return out;
}

function knowledgeOffSummary(runs: RunResult[], metric: BenchMetric): KnowledgeOffSummary {
  const out: KnowledgeOffSummary = {};
  const list = runs.filter((r) => r.knowledgeOff);
  for (const cell of [...new Set(list.map((r) => cellKey(r.config, r.noise)))]) {
    const rs = list.filter((r) => cellKey(r.config, r.noise) === cell);
    out[cell] = {
      with: spread(rs.map((r) => r.test[metric])),
      off: spread(rs.map((r) => r.knowledgeOff![metric])),
      part: spread(rs.map((r) => r.test[metric] - r.knowledgeOff![metric])),
      metric,
    };
  }
  return out;
}

function checkResume(opts: RunQualityOptions): void {
  const { resume, settings: s, setup } = opts;
  if (!resume) return;
  if (JSON.stringify(resume.settings) !== JSON.stringify(s)) throw new Error("--resume: the results file was made with other settings");
  for (const [variant, built] of Object.entries(setup.banks))
    if (resume.banks[variant as BankVariant]?.bankId !== built.summary.bankId)
      throw new Error(`--resume: the ${variant} knowledge bank differs from the results file's`);
}

/** Train one job's model (and, for extractor-only, the seed's backbone-only start if it is not at hand). */
async function trainJob(opts: RunQualityOptions, job: Job, bank: KnowledgeBank, backbonesOnly: Map<string, TrainedModel>) {
  const s = opts.settings;
  const train = (cfg: ConfigName, from?: TrainedModel) =>
    trainExperiment(
      {
        model: { backbone: job.backbone, extractor: cfg === "kser-xo" ? "kser" : cfg, embeddingDim: s.embeddingDim },
        training: {
          strategy: cfg === "kser-xo" ? "extractor-only" : "all-params",
          epochs: s.epochs,
          patience: s.patience,
          batchSize: s.batchSize,
          learningRate: s.learningRate,
          knowledgeDropout: s.knowledgeDropout,
          selectBy: s.metric,
          seed: job.seed,
        },
      },
      opts.setup.data,
      cfg === "none" ? null : bank,
      { from },
    );
  const key = `${job.backbone}/${job.seed}`;
  let from: TrainedModel | undefined;
  if (job.config === "kser-xo") {
    from = backbonesOnly.get(key);
    if (!from) {
      // Resumed past this seed's `none` run: train it again (same seed, same data: the same model).
      opts.log?.(`  ${job.backbone} seed ${job.seed}: retraining the none backbone for extractor-only`);
      from = await train("none");
      backbonesOnly.set(key, from);
    }
  }
  const model = await train(job.config, from);
  if (job.config === "none") backbonesOnly.set(key, model);
  return model;
}

/** Gates and deletion test of a gated model. */
async function inspect(opts: RunQualityOptions, model: TrainedModel, bank: KnowledgeBank, extractor: string) {
  if (!GATED.has(extractor)) return {};
  const report = computeGates(model, opts.setup.data, bank);
  const kinds = bank.user.kinds && bank.item.kinds;
  return {
    ...(kinds ? { gates: { user: scoreGates(bank.user, report.user), item: scoreGates(bank.item, report.item) } } : {}),
    ...(opts.setup.slotNames ? { gateSlots: { user: slotMeans(report.user), item: slotMeans(report.item) } } : {}),
    deletion: await deletionTest(model, opts.setup.data, bank, report, opts.settings.metric),
  };
}

function describeRun(run: RunResult): string {
  const g = run.gates
    ? `; gate AUC(informative) user ${run.gates.user.aucInformative.toFixed(3)} item ${run.gates.item.aucInformative.toFixed(3)}`
    : "";
  const d = run.deletion ? `; deletion cost top ${run.deletion.cost.top.toFixed(4)} bottom ${run.deletion.cost.bottom.toFixed(4)}` : "";
  return (
    `test AUC ${run.test.auc.toFixed(4)}, GAUC ${run.test.gauc.toFixed(4)}, LogLoss ${run.test.logloss.toFixed(4)} ` +
    `(best epoch ${run.bestEpoch}/${run.epochsRun}, ${run.seconds.toFixed(1)} s${g}${d})`
  );
}

/** A finished training's record: test and validation metrics, the epoch validation chose, gates and deletion. */
async function runRecord(opts: RunQualityOptions, job: Job, model: TrainedModel, bank: KnowledgeBank, started: number): Promise<RunResult> {
  const { seed, backbone, config, noise } = job;
  const extractor = config === "kser-xo" ? "kser" : config;
  const inspected = await inspect(opts, model, bank, extractor);
  const score = (h: TrainedModel["history"][number]) =>
    opts.settings.metric === "gauc" ? (h.validGauc ?? Number.NEGATIVE_INFINITY) : h.validAuc;
  const best = model.history.reduce((a, h) => (score(h) > score(a) ? h : a), model.history[0]);
  return {
    backbone,
    config,
    noise,
    seed,
    extractor,
    strategy: config === "kser-xo" ? "extractor-only" : "all-params",
    test: model.metrics.test,
    valid: model.metrics.valid,
    bestEpoch: best.epoch,
    epochsRun: model.history.length,
    seconds: (performance.now() - started) / 1000,
    ...inspected,
    ...(config === "none" ? {} : { knowledgeOff: await knowledgeOff(model, opts.setup.data, bank) }),
  };
}

interface Progress {
  runs: RunResult[];
  failures: QualityResults["failures"];
  resumed: number;
  /** performance.now() when the trainings began. */
  t0: number;
}

/** The results file's content from the runs so far. */
function assemble(opts: RunQualityOptions, p: Progress, complete: boolean): QualityResults {
  const { settings: s, setup } = opts;
  const train = (performance.now() - p.t0) / 1000;
  return {
    source: s.source,
    settings: s,
    data: {
      name: setup.raw.name,
      users: setup.raw.users.length,
      items: setup.raw.items.length,
      interactions: setup.raw.interactions.length,
      train: setup.data.train.count,
      valid: setup.data.valid.count,
      test: setup.data.test.count,
    },
    facts: setup.facts,
    banks: Object.fromEntries(Object.entries(setup.banks).map(([k, b]) => [k, b.summary])),
    runs: p.runs,
    table: buildTable(p.runs, s.metric),
    claims: claimsFor(s.source, p.runs, s.backbones, s.metric),
    gateCorrelation: gateCorrelation(p.runs),
    slotGates: slotGates(p.runs, setup.slotNames),
    deletion: deletionSummary(p.runs, s.metric),
    knowledgeOff: knowledgeOffSummary(p.runs, s.metric),
    seconds: { prepare: opts.prepareSeconds ?? 0, train, total: (opts.prepareSeconds ?? 0) + train },
    peakRssMiB: rssMiB(),
    complete,
    failures: p.failures,
    resumed: p.resumed,
  };
}

export async function runQuality(opts: RunQualityOptions): Promise<QualityResults> {
  const s = opts.settings;
  const log = opts.log ?? (() => {});
  checkResume(opts);
  const jobs = plan(s);
  const p: Progress = { runs: [], failures: [], resumed: 0, t0: performance.now() };
  const backbonesOnly = new Map<string, TrainedModel>();
  for (const [i, job] of jobs.entries()) {
    const { seed, backbone, config, noise } = job;
    const tag = `[${s.source} ${i + 1}/${jobs.length}] ${backbone} ${cellKey(config, noise)} seed ${seed}`;
    const before = opts.resume?.runs.find((r) => r.backbone === backbone && r.config === config && r.noise === noise && r.seed === seed);
    if (before) {
      p.runs.push(before);
      p.resumed++;
      log(`${tag}: kept from the resumed file (test AUC ${before.test.auc.toFixed(4)}, GAUC ${before.test.gauc.toFixed(4)})`);
      continue;
    }
    const bank = opts.setup.banks[noise]?.bank;
    if (!bank) throw new Error(`no ${noise} knowledge bank for ${cellKey(config, noise)}`);
    const started = performance.now();
    let model: TrainedModel;
    try {
      model = await trainJob(opts, job, bank, backbonesOnly);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      p.failures.push({ backbone, config, noise, seed, error: message });
      log(`${tag}: FAILED: ${message}`);
      await opts.onProgress?.(assemble(opts, p, false));
      continue;
    }
    const run = await runRecord(opts, job, model, bank, started);
    p.runs.push(run);
    const elapsed = (performance.now() - p.t0) / 1000;
    const eta = (elapsed / (i + 1 - p.resumed)) * (jobs.length - i - 1);
    log(
      `${tag}: ${describeRun(run)}; elapsed ${elapsed.toFixed(0)} s, eta ${eta.toFixed(0)} s, rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`,
    );
    await opts.onProgress?.(assemble(opts, p, false));
  }
  return assemble(opts, p, true);
}
