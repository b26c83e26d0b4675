/**
 * Trains one backbone + extractor in tfjs: BCE with logits, AdamW (Adam plus decoupled weight decay) under a
 * learning-rate schedule, early stopping on validation AUC keeping the best weights, seeded init and shuffling,
 * knowledge dropout (a whole entity's chunks masked at random, so entities without knowledge still get sane
 * scores), a NaN/Inf guard, the all-params / extractor-only strategies, and a checkpoint per epoch in a run
 * directory from which a killed run resumes to the same result.
 */
import * as tf from "@tensorflow/tfjs-core";
import { allocateRows, copyRow, rowShape } from "../../shared/feature-encoding.ts";
import { type BackendPreference, initBackend } from "../accel/index.ts";
import type { KnowledgeBank, PreparedDataset, SampleSplit } from "../data/types.ts";
import { MODEL_DEFAULTS, type ModelConfig } from "../models/config.ts";
import type { Extractor } from "../models/extractors/extractor.ts";
import { getBackbone, getExtractor } from "../models/registry.ts";
import { ParamStore, TfOps } from "../ops/tf-ops.ts";
import { mulberry32, shuffled } from "../util/random.ts";
import { type SelectionMetric, TRAINING_DEFAULTS } from "./defaults.ts";
import { type BankTensors, bankTensors, disposeBankTensors, joinSplit } from "./knowledge-join.ts";
import { auc, gauc, logloss } from "./metrics.ts";
import { type EpochRecord, featureFeeds, forwardTf, type ParamValues, type TrainedModel, withAuxLoss } from "./model.ts";
import { AdamW } from "./optimizer.ts";
import { loadTrainState, saveTrainState } from "./run-state.ts";
import { type LrSchedule, learningRateAt } from "./schedule.ts";
import { SparseEmbeddings, sparseTables } from "./sparse-embeddings.ts";
import { planAllParams, planExtractorOnly, type Strategy } from "./strategy.ts";

export type { SelectionMetric };

/** A run's inputs and hyperparameters; a hyperparameter left out takes its TRAINING_DEFAULTS value. */
export interface TrainOptions {
  data: PreparedDataset;
  bank: KnowledgeBank | null;
  backbone: string;
  extractor: string;
  embeddingDim?: number;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  weightDecay?: number;
  seed?: number;
  /** Probability of masking a whole entity's knowledge in a training sample (per side). */
  knowledgeDropout?: number;
  /** Epochs without a better validation score before stopping. */
  patience?: number;
  /**
   * Validation score that picks the best epoch: "auc" (default) or "gauc" (mean per-user AUC), for data whose
   * users' base rates differ between train and test so that only the ranking within a user carries over.
   */
  selectBy?: SelectionMetric;
  /** Learning-rate schedule over all steps of the run (default: constant). */
  schedule?: LrSchedule;
  strategy?: Strategy;
  /** extractor-only: the trained backbone-only model to start from. */
  from?: TrainedModel;
  backend?: BackendPreference;
  /** Checkpoint every epoch here; an existing checkpoint of the same run is resumed. */
  runDir?: string;
  /** Stop (as if killed) after this epoch's checkpoint: TrainingStoppedError. */
  stopAfterEpoch?: number;
  /** Checked after every epoch's checkpoint; aborting stops the run the same way. */
  signal?: AbortSignal;
  /**
   * Embedding tables (parameters the model only reads by gather) take lazy sparse AdamW updates of the rows a batch
   * touched (default); false: dense AdamW over every row every step, as tfjs's gather gradient gives.
   */
  sparseEmbeddings?: boolean;
  /** Called after every step with (steps done in the epoch, steps in the epoch, epoch). */
  onStep?: (done: number, total: number, epoch: number) => void;
  log?: (msg: string) => void;
}

/** Wall time per training step phase, summed over the run (ms); exact on synchronous backends (wasm, cpu). */
export interface StepTiming {
  steps: number;
  examples: number;
  inputMs: number;
  forwardBackwardMs: number;
  optimizerMs: number;
  /** Process CPU time (user + system) of the steps: comparable across machine loads, unlike wall time. */
  cpuMs: number;
}

export interface TrainResult extends TrainedModel {
  timing: StepTiming;
  backend: string;
  /** Epoch the run resumed after (0 = fresh start). */
  resumedFrom: number;
}

export class TrainingStoppedError extends Error {
  constructor(readonly epoch: number) {
    super(`training stopped after epoch ${epoch}; run again with the same run directory to resume`);
    this.name = "TrainingStoppedError";
  }
}

export class TrainingDivergedError extends Error {
  constructor(epoch: number, step: number, value: number) {
    super(
      `training diverged: the loss became ${value} at epoch ${epoch}, step ${step}. Lower the learning rate ` +
        "or check the inputs for NaN/Inf values.",
    );
    this.name = "TrainingDivergedError";
  }
}

/** Steps between loss read-backs (a read-back stalls the pipeline; checking every step would be slow). */
const GUARD_EVERY = 25;
const EVAL_BATCH = 4096;

interface SplitKnowledge {
  userRow: Int32Array;
  itemRow: Int32Array;
}

interface Knowledge {
  user: BankTensors;
  item: BankTensors;
  train: SplitKnowledge;
  valid: SplitKnowledge;
  test: SplitKnowledge;
}

/** Copies the rows of a split in `order[start, end)` into one contiguous batch. */
function sliceRows(split: SampleSplit, order: Int32Array, start: number, end: number, data: PreparedDataset) {
  const n = end - start;
  const shape = rowShape(data.spec);
  const b = { ...allocateRows(shape, n), labels: new Float32Array(n) };
  for (let i = 0; i < n; i++) {
    const s = order[start + i];
    copyRow(shape, split, s, b, i);
    b.labels[i] = split.labels[s];
  }
  return b;
}

/**
 * Adds the knowledge feeds for the rows order[start, end), masking whole entities with probability `dropout`; with
 * `negatives`, also a random other entity's chunks per row (the extractor's contrastive term).
 */
function knowledgeFeeds(
  feeds: Map<string, tf.Tensor>,
  k: Knowledge,
  rows: SplitKnowledge,
  order: Int32Array,
  range: { start: number; end: number },
  dropout: number,
  random: () => number,
  negatives = false,
) {
  const { start, end } = range;
  const n = end - start;
  const userIdx = new Int32Array(n);
  const itemIdx = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const s = order[start + i];
    userIdx[i] = dropout > 0 && random() < dropout ? k.user.absentRow : rows.userRow[s];
    itemIdx[i] = dropout > 0 && random() < dropout ? k.item.absentRow : rows.itemRow[s];
  }
  for (const [side, idx] of [
    ["user", userIdx],
    ["item", itemIdx],
  ] as const) {
    const bank = k[side];
    const at = tf.tensor1d(idx, "int32");
    feeds.set(`${side}_chunks`, tf.gather(bank.values, at));
    feeds.set(`${side}_chunk_mask`, tf.gather(bank.mask, at));
    if (!negatives || bank.absentRow < 2) continue;
    // Another entity's row: uniform over the bank, skipping the row itself.
    const other = Int32Array.from(idx, (own) => {
      const r = Math.floor(random() * (bank.absentRow - 1));
      return r >= own ? r + 1 : r;
    });
    const otherAt = tf.tensor1d(other, "int32");
    feeds.set(`${side}_negative_chunks`, tf.gather(bank.values, otherAt));
    feeds.set(`${side}_negative_mask`, tf.gather(bank.mask, otherAt));
  }
}

/** Mean binary cross-entropy on logits, in the overflow-safe form max(x,0) - x*y + log(1 + exp(-|x|)). */
export function bceWithLogits(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.mean(tf.add(tf.sub(tf.relu(logits), tf.mul(logits, labels)), tf.log1p(tf.exp(tf.neg(tf.abs(logits))))));
}

function predictSplit(
  params: ParamStore,
  cfg: ModelConfig,
  data: PreparedDataset,
  split: SampleSplit,
  k: Knowledge | null,
  rows: SplitKnowledge | null,
): Float32Array {
  const scores = new Float32Array(split.count);
  const order = Int32Array.from({ length: split.count }, (_, i) => i);
  for (let start = 0; start < split.count; start += EVAL_BATCH) {
    const end = Math.min(split.count, start + EVAL_BATCH);
    const batch = sliceRows(split, order, start, end, data);
    const out = tf.tidy(() => {
      const feeds = featureFeeds(cfg.spec, batch);
      if (k && rows) knowledgeFeeds(feeds, k, rows, order, { start, end }, 0, Math.random);
      return tf.sigmoid(forwardTf(new TfOps(params, feeds), cfg).logit);
    });
    scores.set(out.dataSync() as Float32Array, start);
    out.dispose();
  }
  return scores;
}

/** Every hyperparameter of a run: the options given, TRAINING_DEFAULTS for the rest. */
interface Hyperparameters {
  seed: number;
  epochs: number;
  batchSize: number;
  lr: number;
  wd: number;
  patience: number;
  dropout: number;
  schedule: LrSchedule;
  strategy: Strategy;
  selectBy: SelectionMetric;
  /** Lazy sparse embedding updates. */
  lazy: boolean;
}

function hyperparameters(opts: TrainOptions): Hyperparameters {
  const d = TRAINING_DEFAULTS;
  const h: Hyperparameters = {
    seed: opts.seed ?? d.seed,
    epochs: opts.epochs ?? d.epochs,
    batchSize: opts.batchSize ?? d.batchSize,
    lr: opts.learningRate ?? d.learningRate,
    wd: opts.weightDecay ?? d.weightDecay,
    patience: opts.patience ?? d.patience,
    dropout: opts.knowledgeDropout ?? d.knowledgeDropout,
    schedule: opts.schedule ?? d.schedule,
    strategy: opts.strategy ?? d.strategy,
    selectBy: opts.selectBy ?? d.selectBy,
    lazy: opts.sparseEmbeddings ?? d.sparseEmbeddings,
  };
  if (!(h.lr > 0) || !(h.wd >= 0) || !(h.batchSize >= 1))
    throw new Error(`bad hyperparameters: learningRate ${h.lr}, weightDecay ${h.wd}, batchSize ${h.batchSize}`);
  return h;
}

/** Checks that the inputs fit together; returns the extractor. */
function checkInputs(opts: TrainOptions, h: Hyperparameters): Extractor {
  const { data, bank } = opts;
  const backbone = getBackbone(opts.backbone);
  const extractor = getExtractor(opts.extractor);
  if (h.strategy === "extractor-only" && backbone.noExtractorOnly)
    throw new Error(`extractor-only training cannot start from a frozen ${opts.backbone}: ${backbone.noExtractorOnly}; use all-params`);
  if (extractor.usesKnowledge && !bank) throw new Error(`extractor "${opts.extractor}" needs a knowledge bank`);
  if (data.train.count === 0 || data.valid.count === 0) throw new Error("the training and validation splits must not be empty");
  if (h.strategy === "extractor-only" && !opts.from) throw new Error("extractor-only training needs the backbone model to start from");
  if (opts.from && opts.from.config.backbone !== opts.backbone)
    throw new Error(`the starting model is a ${opts.from.config.backbone} backbone, not ${opts.backbone}`);
  return extractor;
}

function modelConfig(opts: TrainOptions, h: Hyperparameters, extractor: Extractor): ModelConfig {
  const { bank } = opts;
  return {
    backbone: opts.backbone,
    extractor: opts.extractor,
    embeddingDim: opts.from?.config.embeddingDim ?? opts.embeddingDim ?? MODEL_DEFAULTS.embeddingDim,
    spec: opts.data.spec,
    knowledge:
      extractor.usesKnowledge && bank
        ? { user: { chunks: bank.user.chunks, dim: bank.user.dim }, item: { chunks: bank.item.chunks, dim: bank.item.dim } }
        : null,
    seed: h.seed,
  };
}

/** The knowledge join is the same every epoch: computed once per run. */
function joinKnowledge(data: PreparedDataset, bank: KnowledgeBank | null, extractor: Extractor): Knowledge | null {
  if (!extractor.usesKnowledge || !bank) return null;
  return {
    user: bankTensors(bank.user),
    item: bankTensors(bank.item),
    train: joinSplit(data, bank, data.train),
    valid: joinSplit(data, bank, data.valid),
    test: joinSplit(data, bank, data.test),
  };
}

/** What a run holds while it trains: the model, its inputs, and the optimizer state (disposed by trainModel). */
interface Run {
  opts: TrainOptions;
  h: Hyperparameters;
  cfg: ModelConfig;
  data: PreparedDataset;
  knowledge: Knowledge | null;
  /** Whether the extractor's contrastive term needs negative chunks. */
  negatives: boolean;
  params: ParamStore;
  optimizer: AdamW | null;
  sparse: SparseEmbeddings | null;
  log: (msg: string) => void;
}

/** Build once on a tiny batch so that every variable exists before the optimizer sees the list. */
function buildParameters(run: Run): void {
  const { data, cfg, knowledge, params } = run;
  tf.tidy(() => {
    const order = Int32Array.of(0);
    const feeds = featureFeeds(cfg.spec, sliceRows(data.train, order, 0, 1, data));
    if (knowledge) knowledgeFeeds(feeds, knowledge, knowledge.train, order, { start: 0, end: 1 }, 0, Math.random);
    forwardTf(new TfOps(params, feeds), cfg);
  });
}

/** What the optimizer updates: dense variables by name, plus the sparse embedding tables behind one anchor. */
interface Optimization {
  opt: AdamW;
  sparse: SparseEmbeddings;
  /** Densely updated parameters. */
  names: string[];
  /** What variableGrads differentiates: the dense parameters and the sparse tables' anchor. */
  variables: tf.Variable[];
}

/** The strategy's plan, AdamW over its trainable parameters, and the embedding tables that take sparse updates. */
function setupOptimizer(run: Run): Optimization {
  const { data, cfg, knowledge, params, h } = run;
  const plan = h.strategy === "extractor-only" ? planExtractorOnly(params, run.opts.from!) : planAllParams(params);
  if (plan.frozen.length > 0) run.log(`frozen: ${plan.frozen.join(", ")}`);
  const opt = new AdamW(plan.trainable, { weightDecay: h.wd });
  run.optimizer = opt;
  for (const [name, rows] of plan.rowMasks) opt.freezeRows(name, rows);
  const tables = h.lazy
    ? sparseTables(params, plan.trainable, (makeOps) => {
        const order = Int32Array.of(0, Math.min(1, data.train.count - 1));
        const batch = sliceRows(data.train, order, 0, 2, data);
        const feeds = featureFeeds(cfg.spec, batch);
        if (knowledge) knowledgeFeeds(feeds, knowledge, knowledge.train, order, { start: 0, end: 2 }, 0, Math.random, run.negatives);
        return bceWithLogits(forwardTf(makeOps(feeds), cfg).logit, tf.tensor1d(batch.labels));
      })
    : new Map<string, tf.Variable>();
  const sparse = new SparseEmbeddings(tables);
  run.sparse = sparse;
  const names = [...plan.trainable.keys()].filter((n) => !tables.has(n));
  const variables = [...names.map((n) => plan.trainable.get(n)!), sparse.anchor];
  return { opt, sparse, names, variables };
}

/** What a checkpoint must match to be resumed: the model, the data, the bank and every hyperparameter. */
function runFingerprint(run: Run): string {
  const { cfg, data, h } = run;
  return JSON.stringify({
    cfg,
    data: [data.name, data.train.count, data.valid.count],
    bank: run.opts.bank?.bankId ?? null,
    lr: h.lr,
    wd: h.wd,
    batchSize: h.batchSize,
    dropout: h.dropout,
    schedule: h.schedule,
    strategy: h.strategy,
    epochs: h.epochs,
    patience: h.patience,
    embeddingUpdates: h.lazy ? "lazy" : "dense",
    ...(h.selectBy !== "auc" ? { selectBy: h.selectBy } : {}),
  });
}

type Best = { auc: number; epoch: number; weights: ParamValues };

/** Where the epoch loop stands: carried over from a checkpoint on resume. */
interface Progress {
  random: ReturnType<typeof mulberry32>;
  history: EpochRecord[];
  best: Best | null;
  firstEpoch: number;
  stopped: boolean;
  /** The checkpoint resumed from, if any. */
  resumed: boolean;
}

function assignWeights(params: ParamStore, weights: ParamValues): void {
  tf.tidy(() => {
    for (const [name, p] of weights) (params.tensors.get(name) as tf.Variable).assign(tf.tensor(p.values, p.shape));
  });
}

/** A fresh start, or the state of the run directory's checkpoint (which must be of the same run). */
async function startOrResume(run: Run, opt: AdamW, fingerprint: string): Promise<Progress> {
  const { runDir } = run.opts;
  const fresh: Progress = { random: mulberry32(run.h.seed), history: [], best: null, firstEpoch: 1, stopped: false, resumed: false };
  const saved = runDir ? await loadTrainState(runDir) : null;
  if (!saved) return fresh;
  if (saved.fingerprint !== fingerprint)
    throw new Error(`${runDir} holds a checkpoint of a different run (model, data or hyperparameters differ)`);
  assignWeights(run.params, saved.params);
  opt.setState(saved.optimizer);
  const { history, best } = saved;
  const stopped = best !== null && history.length > 0 && history[history.length - 1].epoch - best.epoch >= run.h.patience;
  run.log(`resumed from the checkpoint after epoch ${saved.epoch}`);
  return { random: mulberry32(saved.rngState), history, best, firstEpoch: saved.epoch + 1, stopped, resumed: true };
}

/** The validation metrics after an epoch (a non-finite score means the run diverged). */
function validate(run: Run, epoch: number, trainLoss: number, steps: number): EpochRecord {
  const { params, cfg, data, knowledge } = run;
  const scores = predictSplit(params, cfg, data, data.valid, knowledge, knowledge?.valid ?? null);
  if (scores.some((v) => !Number.isFinite(v))) throw new TrainingDivergedError(epoch, steps, Number.NaN);
  return {
    epoch,
    trainLoss,
    validAuc: auc(data.valid.labels, scores),
    validLogloss: logloss(data.valid.labels, scores),
    validGauc: gauc(data.valid.labels, scores, data.valid.userIndex),
  };
}

const selectionScore = (record: EpochRecord, selectBy: SelectionMetric) => (selectBy === "gauc" ? record.validGauc! : record.validAuc);

/**
 * Extractor-only: the starting model scores exactly like the frozen backbone (grown rows start at zero): it is
 * epoch 0, and stays the result unless an epoch beats it on validation, so extractor-only never returns a model
 * that validates worse than its backbone.
 */
function recordStartingModel(run: Run, progress: Progress): void {
  const start = validate(run, 0, Number.NaN, 0);
  progress.history.push(start);
  progress.best = { auc: selectionScore(start, run.h.selectBy), epoch: 0, weights: run.params.snapshot() };
  run.log(`epoch 0 (the frozen backbone): valid AUC ${start.validAuc.toFixed(4)}, GAUC ${start.validGauc!.toFixed(4)}`);
}

function newTiming(): StepTiming {
  return { steps: 0, examples: 0, inputMs: 0, forwardBackwardMs: 0, optimizerMs: 0, cpuMs: 0 };
}

/** One optimizer step on the rows order[start, end); returns the batch's loss (a kept scalar). */
function trainStep(
  run: Run,
  o: Optimization,
  batchRows: { order: Int32Array; start: number; end: number },
  rate: number,
  random: () => number,
  timing: StepTiming,
): tf.Scalar {
  const { data, cfg, knowledge, params } = run;
  const { order, start, end } = batchRows;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const batch = sliceRows(data.train, order, start, end, data);
  // One tidy for the inputs: the bank-row index tensors die here, the feeds live until the step is done.
  const inputs = tf.tidy(() => {
    const f = featureFeeds(cfg.spec, batch);
    if (knowledge) knowledgeFeeds(f, knowledge, knowledge.train, order, { start, end }, run.h.dropout, random, run.negatives);
    return { feeds: Object.fromEntries(f), labels: tf.tensor1d(batch.labels) };
  });
  const feeds = new Map(Object.entries(inputs.feeds));
  const labels = inputs.labels;
  const t1 = performance.now();
  o.sparse.reset();
  const { value, grads } = tf.variableGrads(() => {
    const out = forwardTf(o.sparse.ops(params, feeds), cfg);
    return withAuxLoss(bceWithLogits(out.logit, labels), out);
  }, o.variables);
  const t2 = performance.now();
  // variableGrads keys gradients by tf.Variable name; ParamStore names variables by parameter name.
  o.opt.apply(Object.fromEntries(o.names.map((n) => [n, grads[n]])), rate, o.sparse.rows);
  const t3 = performance.now();
  tf.dispose([...feeds.values(), labels, ...Object.values(grads)]);
  timing.inputMs += t1 - t0;
  timing.forwardBackwardMs += t2 - t1;
  timing.optimizerMs += t3 - t2;
  const c1 = process.cpuUsage(c0);
  timing.cpuMs += (c1.user + c1.system) / 1000;
  timing.steps++;
  timing.examples += end - start;
  return value;
}

/** One pass over the shuffled training split; returns the mean training loss. */
async function trainEpoch(run: Run, o: Optimization, epoch: number, random: () => number, timing: StepTiming): Promise<number> {
  const { data, h } = run;
  const stepsPerEpoch = Math.ceil(data.train.count / h.batchSize);
  const totalSteps = stepsPerEpoch * h.epochs;
  const order = shuffled(data.train.count, random);
  let lossSum: tf.Tensor = tf.keep(tf.scalar(0));
  let steps = 0;
  for (let start = 0; start < data.train.count; start += h.batchSize) {
    const end = Math.min(data.train.count, start + h.batchSize);
    const rate = learningRateAt(h.schedule, h.lr, (epoch - 1) * stepsPerEpoch + steps, totalSteps);
    const value = trainStep(run, o, { order, start, end }, rate, random, timing);
    const next = tf.keep(tf.add(lossSum, value));
    lossSum.dispose();
    value.dispose();
    lossSum = next;
    steps++;
    run.opts.onStep?.(steps, stepsPerEpoch, epoch);
    if (steps % GUARD_EVERY === 0 || end === data.train.count) {
      const loss = (await lossSum.data())[0];
      if (!Number.isFinite(loss)) {
        lossSum.dispose();
        throw new TrainingDivergedError(epoch, steps, loss);
      }
    }
  }
  const trainLoss = (await lossSum.data())[0] / steps;
  lossSum.dispose();
  return trainLoss;
}

/** Records the epoch, keeps the best weights and decides on early stopping. */
function recordEpoch(run: Run, progress: Progress, record: EpochRecord, examplesPerSecond: number): void {
  const { h } = run;
  const score = selectionScore(record, h.selectBy);
  progress.history.push(record);
  run.log(
    `epoch ${record.epoch}: train loss ${record.trainLoss.toFixed(4)}, valid AUC ${record.validAuc.toFixed(4)}, GAUC ${record.validGauc!.toFixed(4)}, logloss ${record.validLogloss.toFixed(4)} (${examplesPerSecond} examples/s)`,
  );
  const { best } = progress;
  if (!best || score > best.auc) progress.best = { auc: score, epoch: record.epoch, weights: run.params.snapshot() };
  else if (record.epoch - best.epoch >= h.patience) {
    run.log(`early stop: no better valid ${h.selectBy.toUpperCase()} since epoch ${best.epoch}`);
    progress.stopped = true;
  }
}

async function saveCheckpoint(run: Run, opt: AdamW, progress: Progress, epoch: number, fingerprint: string): Promise<void> {
  if (!run.opts.runDir) return;
  await saveTrainState(run.opts.runDir, {
    epoch,
    rngState: progress.random.state(),
    params: run.params.snapshot(),
    optimizer: opt.getState(),
    best: progress.best,
    history: progress.history,
    fingerprint,
  });
}

/** The best epoch's weights put back, scored on the valid and test splits. */
function finalMetrics(run: Run, weights: ParamValues): TrainedModel["metrics"] {
  const { params, cfg, data, knowledge } = run;
  assignWeights(params, weights);
  const validScores = predictSplit(params, cfg, data, data.valid, knowledge, knowledge?.valid ?? null);
  const testScores =
    data.test.count > 0 ? predictSplit(params, cfg, data, data.test, knowledge, knowledge?.test ?? null) : new Float32Array(0);
  return {
    valid: { auc: auc(data.valid.labels, validScores), logloss: logloss(data.valid.labels, validScores) },
    test: {
      auc: auc(data.test.labels, testScores),
      logloss: logloss(data.test.labels, testScores),
      gauc: gauc(data.test.labels, testScores, data.test.userIndex),
    },
  };
}

/** The epochs from the first unfinished one, each checkpointed; stops early, when asked, or at the last epoch. */
async function trainEpochs(run: Run, o: Optimization, progress: Progress, fingerprint: string, timing: StepTiming): Promise<void> {
  const { h, opts } = run;
  const started = Date.now();
  for (let epoch = progress.firstEpoch; epoch <= h.epochs && !progress.stopped; epoch++) {
    const trainLoss = await trainEpoch(run, o, epoch, progress.random, timing);
    const steps = Math.ceil(run.data.train.count / h.batchSize);
    const record = validate(run, epoch, trainLoss, steps);
    recordEpoch(run, progress, record, Math.round(timing.examples / ((Date.now() - started) / 1000)));
    await saveCheckpoint(run, o.opt, progress, epoch, fingerprint);
    if (!progress.stopped && epoch < h.epochs && (opts.stopAfterEpoch === epoch || opts.signal?.aborted))
      throw new TrainingStoppedError(epoch);
  }
}

export async function trainModel(opts: TrainOptions): Promise<TrainResult> {
  const backend = (await initBackend(opts.backend ?? "auto")).name;
  const h = hyperparameters(opts);
  const extractor = checkInputs(opts, h);
  const cfg = modelConfig(opts, h, extractor);
  const knowledge = joinKnowledge(opts.data, opts.bank, extractor);
  const run: Run = {
    opts,
    h,
    cfg,
    data: opts.data,
    knowledge,
    negatives: extractor.training !== undefined,
    params: new ParamStore(true, h.seed),
    optimizer: null,
    sparse: null,
    log: opts.log ?? (() => {}),
  };
  try {
    buildParameters(run);
    const o = setupOptimizer(run);
    const fingerprint = runFingerprint(run);
    const progress = await startOrResume(run, o.opt, fingerprint);
    if (!progress.resumed && h.strategy === "extractor-only") recordStartingModel(run, progress);
    const timing = newTiming();
    await trainEpochs(run, o, progress, fingerprint, timing);
    const weights = progress.best!.weights;
    return {
      config: cfg,
      spec: opts.data.spec,
      vocabulary: opts.data.vocabulary,
      params: weights,
      metrics: finalMetrics(run, weights),
      history: progress.history,
      bankId: cfg.knowledge ? (opts.bank?.bankId ?? null) : null,
      timing,
      backend,
      resumedFrom: progress.firstEpoch - 1,
    };
  } finally {
    run.optimizer?.dispose();
    run.sparse?.dispose();
    run.params.dispose();
    if (knowledge) {
      disposeBankTensors(knowledge.user);
      disposeBankTensors(knowledge.item);
    }
  }
}
