/**
 * The quality bench's core: for each seed x backbone x config, train and measure test AUC / LogLoss; for the models
 * with an ESFNet filter, score its gates against the simulator's true chunk kinds. Data, knowledge banks and the
 * backbone-only models are prepared once and shared. Independent of where the raw data comes from (MovieLens or
 * generated), so the test runs the same code path on synthetic data.
 */

import { prepareDataset } from "../../trainer/data/prepare.ts";
import type { PreparedDataset, RawDataset } from "../../trainer/data/types.ts";
import { CHUNK_KINDS, type ChunkKind, type KnowledgeBank, type KnowledgeBankField } from "../../trainer/data/types.ts";
import { auc } from "../../trainer/eval/metrics.ts";
import { buildBank } from "../../trainer/knowledge/bank.ts";
import { compressBank } from "../../trainer/knowledge/compress.ts";
import { createHashEncoder } from "../../trainer/knowledge/encoders/hash.ts";
import { DEFAULT_PROPORTIONS, type KindProportions, simulateKnowledge } from "../../trainer/knowledge/simulator.ts";
import { computeGates, type FieldGates } from "../../trainer/train/gates.ts";
import type { TrainedModel } from "../../trainer/train/model.ts";
import { trainModel } from "../../trainer/train/train.ts";
import { pearson, type Spread, spearman, spread } from "./stats.ts";

/** Bench configurations: an extractor plus a strategy. `kser-xo` = KSER extractor-only on the seed's `none` backbone. */
export const CONFIGS = ["none", "raw", "kar", "kser", "kser-xo", "kser-nofilter", "kser-noalign"] as const;
export type ConfigName = (typeof CONFIGS)[number];
export const DEFAULT_BACKBONES = ["deepfm", "dcnv2", "din"];

/**
 * True quality of a chunk kind, for the gate correlation: informative facts are the signal (1); a redundant chunk
 * restates a fact of the same entity (true, but adds nothing: 2/3); homogeneous filler is true-ish but the same for
 * everyone (1/3); a hallucinated chunk is false (0).
 */
export const KIND_QUALITY: Record<ChunkKind, number> = { informative: 1, redundant: 2 / 3, homogeneous: 1 / 3, hallucinated: 0 };

/** The high-noise knowledge setting: informative share 0.2, the other kinds keep their default ratio. */
export function highNoiseProportions(informative = 0.2): KindProportions {
  const { hallucinated, redundant, homogeneous } = DEFAULT_PROPORTIONS;
  const rest = hallucinated + redundant + homogeneous;
  const scale = (1 - informative) / rest;
  return { informative, hallucinated: hallucinated * scale, redundant: redundant * scale, homogeneous: homogeneous * scale };
}

export interface QualitySettings {
  backbones: string[];
  configs: ConfigName[];
  /** Configs also trained on the high-noise bank (none needs no rerun: it reads no knowledge). */
  noisyConfigs: ConfigName[];
  seeds: number[];
  epochs: number;
  patience: number;
  batchSize: number;
  learningRate: number;
  embeddingDim: number;
  knowledgeDropout: number;
  /** Data split and knowledge simulation seed (fixed across model seeds). */
  dataSeed: number;
  chunks: number;
  /** Hash-encoder dimension, then PCA to pcaDim (int8), as the serving pipeline stores knowledge. */
  encoderDim: number;
  pcaDim: number;
  proportions: KindProportions;
  noisyProportions: KindProportions;
  /** Keep this many users (seeded pick) before preparing; 0 = all. */
  users: number;
}

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

export interface RunResult {
  backbone: string;
  config: ConfigName;
  /** "default" or "high" knowledge noise. */
  noise: "default" | "high";
  seed: number;
  extractor: string;
  strategy: "all-params" | "extractor-only";
  test: { auc: number; logloss: number; gauc: number };
  valid: { auc: number; logloss: number };
  bestEpoch: number;
  epochsRun: number;
  seconds: number;
  gates?: { user: GateScore; item: GateScore };
}

export interface BankSummary {
  bankId: string;
  proportions: KindProportions;
  encoder: string;
  /** Present chunks per kind per field. */
  kinds: Record<"user" | "item", Record<string, number>>;
  meanCosine: { user: number; item: number };
}

export interface CellStats {
  auc: Spread;
  logloss: Spread;
}

export interface Claim {
  id: string;
  statement: string;
  /** Per backbone: does the mean over seeds satisfy it, and in how many seeds it held. */
  perBackbone: Record<string, { holds: boolean; seedsHolding: number; seeds: number; detail: string }>;
  holds: boolean;
}

export interface QualityResults {
  settings: QualitySettings;
  data: { name: string; users: number; items: number; interactions: number; train: number; valid: number; test: number };
  banks: { default: BankSummary; high?: BankSummary };
  runs: RunResult[];
  /** backbone -> "config" or "config@high" -> stats over seeds. */
  table: Record<string, Record<string, CellStats>>;
  claims: Claim[];
  gateCorrelation: GateCorrelation;
  seconds: { prepare: number; train: number; total: number };
  peakRssMiB: number;
  complete: boolean;
  /** Trainings that threw (e.g. extractor-only on a backbone whose frozen layers cannot grow), with the error. */
  failures: { backbone: string; config: ConfigName; noise: "default" | "high"; seed: number; error: string }[];
  /** Runs taken from an earlier results file (--resume) instead of being trained again. */
  resumed: number;
}

export interface GateCorrelation {
  quality: Record<ChunkKind, number>;
  /** Per gated config (default noise): Spearman, point-biserial and AUC over runs x fields. */
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

export interface RunQualityOptions {
  raw: RawDataset;
  settings: QualitySettings;
  log?: (line: string) => void;
  /** Called after every training with the results so far (for partial writes). */
  onProgress?: (partial: QualityResults) => void | Promise<void>;
  /** An earlier results file of the same settings: its runs are kept, only the missing ones train. */
  resume?: QualityResults;
}

/** Deterministic pick of `count` users and their interactions (a seeded partial shuffle). */
export function subsampleUsers(raw: RawDataset, count: number, seed: number): RawDataset {
  if (!(count > 0) || count >= raw.users.length) return raw;
  const ids = raw.users.map((u) => u.id);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const j = i + (state % (ids.length - i));
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  const keep = new Set(ids.slice(0, count));
  return {
    ...raw,
    name: `${raw.name}-users${count}`,
    users: raw.users.filter((u) => keep.has(u.id)),
    interactions: raw.interactions.filter((it) => keep.has(it.userId)),
  };
}

function kindCounts(field: KnowledgeBankField): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(CHUNK_KINDS.map((k) => [k, 0]));
  for (let i = 0; i < field.mask.length; i++) {
    const k = field.kinds?.[i];
    if (field.mask[i] > 0 && k !== undefined && k < CHUNK_KINDS.length) out[CHUNK_KINDS[k]]++;
  }
  return out;
}

async function makeBank(raw: RawDataset, data: PreparedDataset, s: QualitySettings, proportions: KindProportions) {
  const texts = simulateKnowledge(raw, data, { seed: s.dataSeed, chunksPerField: s.chunks, proportions });
  const encoded = await buildBank(texts, createHashEncoder({ dim: s.encoderDim }), { chunks: s.chunks });
  const { bank, report } = compressBank(encoded, { dim: s.pcaDim, codec: "i8", seed: s.dataSeed });
  const summary: BankSummary = {
    bankId: bank.bankId,
    proportions,
    encoder: bank.encoder,
    kinds: { user: kindCounts(bank.user), item: kindCounts(bank.item) },
    meanCosine: { user: report.user!.total.meanCosine, item: report.item!.total.meanCosine }, // simulated: both fields have knowledge
  };
  return { bank, summary };
}

/** Scores one field's gates against the true kinds. */
export function scoreGates(field: KnowledgeBankField, gates: FieldGates): GateScore {
  const g: number[] = [];
  const informative: number[] = [];
  const quality: number[] = [];
  const kindSum = new Float64Array(CHUNK_KINDS.length);
  const kindCount = new Float64Array(CHUNK_KINDS.length);
  gates.entities.forEach((entity, e) => {
    for (let k = 0; k < gates.chunks; k++) {
      const kind = field.kinds?.[e * gates.chunks + k];
      if (!(entity.mask[k] > 0) || kind === undefined || kind >= CHUNK_KINDS.length) continue;
      g.push(entity.gates[k]);
      informative.push(kind === 0 ? 1 : 0);
      quality.push(KIND_QUALITY[CHUNK_KINDS[kind]]);
      kindSum[kind] += entity.gates[k];
      kindCount[kind]++;
    }
  });
  const present = CHUNK_KINDS.map((_, k) => k).filter((k) => kindCount[k] > 0);
  const means = present.map((k) => kindSum[k] / kindCount[k]);
  return {
    meanByKind: Object.fromEntries(
      CHUNK_KINDS.map((kind, k) => [kind, { mean: kindCount[k] > 0 ? kindSum[k] / kindCount[k] : Number.NaN, count: kindCount[k] }]),
    ),
    spearman: spearman(
      means,
      present.map((k) => KIND_QUALITY[CHUNK_KINDS[k]]),
    ),
    pointBiserial: pearson(g, informative),
    aucInformative: auc(informative, g),
    chunkSpearman: spearman(g, quality),
    chunks: g.length,
  };
}

const cellKey = (config: string, noise: "default" | "high") => (noise === "high" ? `${config}@high` : config);

function buildTable(runs: RunResult[]): QualityResults["table"] {
  const table: QualityResults["table"] = {};
  const groups = new Map<string, RunResult[]>();
  for (const r of runs) {
    const key = `${r.backbone}\u0000${cellKey(r.config, r.noise)}`;
    const list = groups.get(key) ?? [];
    list.push(r);
    groups.set(key, list);
  }
  for (const [key, list] of groups) {
    const [backbone, cell] = key.split("\u0000");
    table[backbone] ??= {};
    table[backbone][cell] = { auc: spread(list.map((r) => r.test.auc)), logloss: spread(list.map((r) => r.test.logloss)) };
  }
  return table;
}

/** "a beats b" on test AUC, per backbone: mean over seeds, and seed by seed (paired by seed). */
function aucClaim(id: string, statement: string, runs: RunResult[], backbones: string[], pairs: [string, string][]): Claim | null {
  const perBackbone: Claim["perBackbone"] = {};
  const find = (b: string, cell: string, seed?: number) =>
    runs.filter((r) => r.backbone === b && cellKey(r.config, r.noise) === cell && (seed === undefined || r.seed === seed));
  for (const b of backbones) {
    let holds = true;
    let seedsHolding = 0;
    let seeds = 0;
    const details: string[] = [];
    let complete = true;
    for (const [hi, lo] of pairs) {
      const a = find(b, hi);
      const c = find(b, lo);
      if (a.length === 0 || c.length === 0) {
        complete = false;
        continue;
      }
      const ma = spread(a.map((r) => r.test.auc)).mean;
      const mc = spread(c.map((r) => r.test.auc)).mean;
      holds &&= ma > mc;
      details.push(`${hi} ${ma.toFixed(4)} vs ${lo} ${mc.toFixed(4)}`);
    }
    if (!complete || details.length === 0) continue;
    // Seed-wise: every pair holds within the same seed.
    const seedList = [...new Set(find(b, pairs[0][0]).map((r) => r.seed))];
    for (const seed of seedList) {
      const ok = pairs.every(([hi, lo]) => {
        const a = find(b, hi, seed)[0];
        const c = find(b, lo, seed)[0];
        return a && c && a.test.auc > c.test.auc;
      });
      const all = pairs.every(([hi, lo]) => find(b, hi, seed)[0] && find(b, lo, seed)[0]);
      if (!all) continue;
      seeds++;
      if (ok) seedsHolding++;
    }
    perBackbone[b] = { holds, seedsHolding, seeds, detail: details.join("; ") };
  }
  const measured = Object.values(perBackbone);
  if (measured.length === 0) return null;
  return { id, statement, perBackbone, holds: measured.every((p) => p.holds) && measured.length === backbones.length };
}

function gateCorrelation(runs: RunResult[]): GateCorrelation {
  const byConfig: GateCorrelation["byConfig"] = {};
  const gated = runs.filter((r) => r.gates && r.noise === "default");
  for (const config of [...new Set(gated.map((r) => r.config))]) {
    const list = gated.filter((r) => r.config === config);
    const scores = list.flatMap((r) => [r.gates!.user, r.gates!.item]);
    const meanByKind = { user: {} as Record<string, number>, item: {} as Record<string, number> };
    const pooledSpearman = { user: Number.NaN, item: Number.NaN };
    for (const side of ["user", "item"] as const) {
      const kinds = CHUNK_KINDS.filter((k) => list.every((r) => r.gates![side].meanByKind[k].count > 0));
      for (const k of kinds) meanByKind[side][k] = spread(list.map((r) => r.gates![side].meanByKind[k].mean)).mean;
      pooledSpearman[side] = spearman(
        kinds.map((k) => meanByKind[side][k]),
        kinds.map((k) => KIND_QUALITY[k]),
      );
    }
    byConfig[config] = {
      spearman: spread(scores.map((s) => s.spearman)),
      pointBiserial: spread(scores.map((s) => s.pointBiserial)),
      aucInformative: spread(scores.map((s) => s.aucInformative)),
      meanByKind,
      pooledSpearman,
    };
  }
  return { quality: KIND_QUALITY, byConfig };
}

export function summariseClaims(runs: RunResult[], backbones: string[]): Claim[] {
  const claims = [
    aucClaim("kser>kar>none", "KSER (all-params) > KAR > no knowledge on test AUC", runs, backbones, [
      ["kser", "kar"],
      ["kar", "none"],
    ]),
    aucClaim("raw<none@high", "raw knowledge < no knowledge at high noise (informative 0.2)", runs, backbones, [["none", "raw@high"]]),
    aucClaim("raw<none", "raw knowledge < no knowledge at the default noise (informative 0.5)", runs, backbones, [["none", "raw"]]),
    aucClaim("extractor-only>none", "KSER extractor-only > its frozen backbone (none)", runs, backbones, [["kser-xo", "none"]]),
    aucClaim("kser>nofilter", "KSER > KSER without the filter", runs, backbones, [["kser", "kser-nofilter"]]),
    aucClaim("kser>noalign", "KSER > KSER without the alignment", runs, backbones, [["kser", "kser-noalign"]]),
    aucClaim("kser>raw@high", "KSER > raw at high noise", runs, backbones, [["kser@high", "raw@high"]]),
  ];
  return claims.filter((c): c is Claim => c !== null);
}

/** Trainings the settings imply, in run order (seed-major, so a cut-short run still covers every backbone). */
export function plan(s: QualitySettings): { seed: number; backbone: string; config: ConfigName; noise: "default" | "high" }[] {
  const out: ReturnType<typeof plan> = [];
  const configs = s.configs.includes("kser-xo") && !s.configs.includes("none") ? (["none", ...s.configs] as ConfigName[]) : s.configs;
  for (const seed of s.seeds)
    for (const backbone of s.backbones) {
      for (const config of configs) out.push({ seed, backbone, config, noise: "default" });
      for (const config of s.noisyConfigs) if (config !== "none") out.push({ seed, backbone, config, noise: "high" });
    }
  return out;
}

const rssMiB = () => Math.round(process.resourceUsage().maxRSS / 1024);

export async function runQuality(opts: RunQualityOptions): Promise<QualityResults> {
  const s = opts.settings;
  const log = opts.log ?? (() => {});
  const t0 = performance.now();
  const raw = subsampleUsers(opts.raw, s.users, s.dataSeed);
  const data = prepareDataset(raw, { seed: s.dataSeed });
  log(
    `[data] ${raw.name}: ${raw.users.length} users, ${raw.items.length} items, ${raw.interactions.length} interactions; ` +
      `samples train ${data.train.count} / valid ${data.valid.count} / test ${data.test.count}`,
  );
  const def = await makeBank(raw, data, s, s.proportions);
  log(
    `[knowledge] default bank ${def.summary.bankId}: kinds user ${JSON.stringify(def.summary.kinds.user)}, item ${JSON.stringify(def.summary.kinds.item)}`,
  );
  const needHigh = s.noisyConfigs.some((c) => c !== "none");
  const high = needHigh ? await makeBank(raw, data, s, s.noisyProportions) : null;
  if (high)
    log(
      `[knowledge] high-noise bank ${high.summary.bankId}: kinds user ${JSON.stringify(high.summary.kinds.user)}, item ${JSON.stringify(high.summary.kinds.item)}`,
    );
  const prepareSeconds = (performance.now() - t0) / 1000;
  log(
    `[knowledge] prepared in ${prepareSeconds.toFixed(1)} s (data split and knowledge simulation seed ${s.dataSeed}, shared by every run)`,
  );

  const jobs = plan(s);
  const runs: RunResult[] = [];
  const failures: QualityResults["failures"] = [];
  let resumed = 0;
  if (opts.resume) {
    if (JSON.stringify(opts.resume.settings) !== JSON.stringify(s))
      throw new Error("--resume: the results file was made with other settings");
    if (opts.resume.banks.default.bankId !== def.summary.bankId || (high && opts.resume.banks.high?.bankId !== high.summary.bankId))
      throw new Error("--resume: the knowledge banks differ from the results file's");
  }
  const earlier = (job: (typeof jobs)[number]) =>
    opts.resume?.runs.find((r) => r.backbone === job.backbone && r.config === job.config && r.noise === job.noise && r.seed === job.seed);
  const backbonesOnly = new Map<string, TrainedModel>();
  const tTrain = performance.now();
  const results = (complete: boolean): QualityResults => ({
    settings: s,
    data: {
      name: raw.name,
      users: raw.users.length,
      items: raw.items.length,
      interactions: raw.interactions.length,
      train: data.train.count,
      valid: data.valid.count,
      test: data.test.count,
    },
    banks: { default: def.summary, ...(high ? { high: high.summary } : {}) },
    runs,
    table: buildTable(runs),
    claims: summariseClaims(runs, s.backbones),
    gateCorrelation: gateCorrelation(runs),
    seconds: {
      prepare: prepareSeconds,
      train: (performance.now() - tTrain) / 1000,
      total: (performance.now() - t0) / 1000,
    },
    peakRssMiB: rssMiB(),
    complete,
    failures,
    resumed,
  });

  for (const [i, job] of jobs.entries()) {
    const { seed, backbone, config, noise } = job;
    const bank: KnowledgeBank = noise === "high" ? high!.bank : def.bank;
    const extractor = config === "kser-xo" ? "kser" : config;
    const strategy = config === "kser-xo" ? "extractor-only" : "all-params";
    const before = earlier(job);
    if (before) {
      runs.push(before);
      resumed++;
      log(
        `[${i + 1}/${jobs.length}] ${backbone} ${cellKey(config, noise)} seed ${seed}: kept from the resumed file (test AUC ${before.test.auc.toFixed(4)})`,
      );
      continue;
    }
    const train = (cfg: ConfigName, from?: TrainedModel) =>
      trainModel({
        data,
        bank: cfg === "none" ? null : bank,
        backbone,
        extractor: cfg === "kser-xo" ? "kser" : cfg,
        strategy: cfg === "kser-xo" ? "extractor-only" : "all-params",
        from,
        embeddingDim: s.embeddingDim,
        epochs: s.epochs,
        patience: s.patience,
        batchSize: s.batchSize,
        learningRate: s.learningRate,
        knowledgeDropout: s.knowledgeDropout,
        seed,
      });
    const started = performance.now();
    let model: TrainedModel;
    try {
      let from: TrainedModel | undefined;
      if (config === "kser-xo") {
        from = backbonesOnly.get(`${backbone}/${seed}`);
        if (!from) {
          // Resumed past this seed's `none` run: train it again (same seed, same data: the same model).
          log(`  ${backbone} seed ${seed}: retraining the none backbone for extractor-only`);
          from = await train("none");
          backbonesOnly.set(`${backbone}/${seed}`, from);
        }
      }
      model = await train(config, from);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      failures.push({ backbone, config, noise, seed, error: message });
      log(`[${i + 1}/${jobs.length}] ${backbone} ${cellKey(config, noise)} seed ${seed}: FAILED: ${message}`);
      await opts.onProgress?.(results(false));
      continue;
    }
    if (config === "none") backbonesOnly.set(`${backbone}/${seed}`, model);
    let gates: RunResult["gates"];
    if (extractor === "kser" || extractor === "kser-noalign") {
      const report = computeGates(model, data, bank);
      gates = { user: scoreGates(bank.user, report.user), item: scoreGates(bank.item, report.item) };
    }
    const best = model.history.reduce((a, h) => (h.validAuc > a.validAuc ? h : a), model.history[0]);
    const seconds = (performance.now() - started) / 1000;
    runs.push({
      backbone,
      config,
      noise,
      seed,
      extractor,
      strategy,
      test: model.metrics.test,
      valid: model.metrics.valid,
      bestEpoch: best.epoch,
      epochsRun: model.history.length,
      seconds,
      ...(gates ? { gates } : {}),
    });
    const elapsed = (performance.now() - tTrain) / 1000;
    const eta = (elapsed / (i + 1 - resumed)) * (jobs.length - i - 1);
    const g = gates
      ? `; gates spearman user ${gates.user.spearman.toFixed(2)} item ${gates.item.spearman.toFixed(2)}, AUC(informative) user ${gates.user.aucInformative.toFixed(3)} item ${gates.item.aucInformative.toFixed(3)}`
      : "";
    log(
      `[${i + 1}/${jobs.length}] ${backbone} ${cellKey(config, noise)} seed ${seed}: test AUC ${model.metrics.test.auc.toFixed(4)}, ` +
        `LogLoss ${model.metrics.test.logloss.toFixed(4)} (best epoch ${best.epoch}/${model.history.length}, ${seconds.toFixed(1)} s${g}); ` +
        `elapsed ${elapsed.toFixed(0)} s, eta ${eta.toFixed(0)} s, rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`,
    );
    await opts.onProgress?.(results(false));
  }
  return results(true);
}
