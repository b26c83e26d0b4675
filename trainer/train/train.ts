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
import type { ModelConfig } from "../models/config.ts";
import { getBackbone, getExtractor } from "../models/registry.ts";
import { ParamStore, TfOps } from "../ops/tf-ops.ts";
import { mulberry32, shuffled } from "../util/random.ts";
import { type BankTensors, bankTensors, disposeBankTensors, joinSplit } from "./knowledge-join.ts";
import { auc, gauc, logloss } from "./metrics.ts";
import { type EpochRecord, featureFeeds, forwardTf, type TrainedModel, withAuxLoss } from "./model.ts";
import { AdamW } from "./optimizer.ts";
import { loadTrainState, saveTrainState } from "./run-state.ts";
import { type LrSchedule, learningRateAt } from "./schedule.ts";
import { SparseEmbeddings, sparseTables } from "./sparse-embeddings.ts";
import { planAllParams, planExtractorOnly, type Strategy } from "./strategy.ts";

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

export type SelectionMetric = "auc" | "gauc";

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

export async function trainModel(opts: TrainOptions): Promise<TrainResult> {
  const backend = (await initBackend(opts.backend ?? "auto")).name;
  const { data, bank } = opts;
  const log = opts.log ?? (() => {});
  const seed = opts.seed ?? 42;
  const epochs = opts.epochs ?? 10;
  const batchSize = opts.batchSize ?? 1024;
  const lr = opts.learningRate ?? 1e-3;
  const wd = opts.weightDecay ?? 0.01;
  const patience = opts.patience ?? 3;
  const dropout = opts.knowledgeDropout ?? 0.1;
  const schedule: LrSchedule = opts.schedule ?? { kind: "constant" };
  const strategy = opts.strategy ?? "all-params";
  const selectBy = opts.selectBy ?? "auc";
  if (!(lr > 0) || !(wd >= 0) || !(batchSize >= 1))
    throw new Error(`bad hyperparameters: learningRate ${lr}, weightDecay ${wd}, batchSize ${batchSize}`);
  getBackbone(opts.backbone);
  const extractor = getExtractor(opts.extractor);
  if (extractor.usesKnowledge && !bank) throw new Error(`extractor "${opts.extractor}" needs a knowledge bank`);
  if (data.train.count === 0 || data.valid.count === 0) throw new Error("the training and validation splits must not be empty");
  if (strategy === "extractor-only" && !opts.from) throw new Error("extractor-only training needs the backbone model to start from");
  if (opts.from && opts.from.config.backbone !== opts.backbone)
    throw new Error(`the starting model is a ${opts.from.config.backbone} backbone, not ${opts.backbone}`);

  const cfg: ModelConfig = {
    backbone: opts.backbone,
    extractor: opts.extractor,
    embeddingDim: opts.from?.config.embeddingDim ?? opts.embeddingDim ?? 32,
    spec: data.spec,
    knowledge:
      extractor.usesKnowledge && bank
        ? { user: { chunks: bank.user.chunks, dim: bank.user.dim }, item: { chunks: bank.item.chunks, dim: bank.item.dim } }
        : null,
    seed,
  };
  // The knowledge join is the same every epoch: computed once per run.
  const knowledge: Knowledge | null =
    extractor.usesKnowledge && bank
      ? {
          user: bankTensors(bank.user),
          item: bankTensors(bank.item),
          train: joinSplit(data, bank, data.train),
          valid: joinSplit(data, bank, data.valid),
          test: joinSplit(data, bank, data.test),
        }
      : null;

  const params = new ParamStore(true, seed);
  let optimizer: AdamW | null = null;
  let sparse: SparseEmbeddings | null = null;
  try {
    // Build once on a tiny batch so that every variable exists before the optimizer sees the list.
    tf.tidy(() => {
      const order = Int32Array.of(0);
      const feeds = featureFeeds(cfg.spec, sliceRows(data.train, order, 0, 1, data));
      if (knowledge) knowledgeFeeds(feeds, knowledge, knowledge.train, order, { start: 0, end: 1 }, 0, Math.random);
      forwardTf(new TfOps(params, feeds), cfg);
    });
    const plan = strategy === "extractor-only" ? planExtractorOnly(params, opts.from!) : planAllParams(params);
    if (plan.frozen.length > 0) log(`frozen: ${plan.frozen.join(", ")}`);
    const opt = new AdamW(plan.trainable, { weightDecay: wd });
    optimizer = opt;
    for (const [name, rows] of plan.rowMasks) opt.freezeRows(name, rows);
    const lazy = opts.sparseEmbeddings ?? true;
    const tables = lazy
      ? sparseTables(params, plan.trainable, (makeOps) => {
          const order = Int32Array.of(0, Math.min(1, data.train.count - 1));
          const batch = sliceRows(data.train, order, 0, 2, data);
          const feeds = featureFeeds(cfg.spec, batch);
          if (knowledge)
            knowledgeFeeds(
              feeds,
              knowledge,
              knowledge.train,
              order,
              { start: 0, end: 2 },
              0,
              Math.random,
              extractor.training !== undefined,
            );
          return bceWithLogits(forwardTf(makeOps(feeds), cfg).logit, tf.tensor1d(batch.labels));
        })
      : new Map<string, tf.Variable>();
    const sparseEmbeddings = new SparseEmbeddings(tables);
    sparse = sparseEmbeddings;
    const names = [...plan.trainable.keys()].filter((n) => !tables.has(n));
    const variables = [...names.map((n) => plan.trainable.get(n)!), sparseEmbeddings.anchor];
    const stepsPerEpoch = Math.ceil(data.train.count / batchSize);
    const totalSteps = stepsPerEpoch * epochs;
    const fingerprint = JSON.stringify({
      cfg,
      data: [data.name, data.train.count, data.valid.count],
      bank: bank?.bankId ?? null,
      lr,
      wd,
      batchSize,
      dropout,
      schedule,
      strategy,
      epochs,
      patience,
      embeddingUpdates: lazy ? "lazy" : "dense",
      ...(selectBy !== "auc" ? { selectBy } : {}),
    });

    let random = mulberry32(seed);
    let history: EpochRecord[] = [];
    let best: { auc: number; epoch: number; weights: Map<string, { shape: number[]; values: Float32Array }> } | null = null;
    let firstEpoch = 1;
    let stopped = false;
    const resumed = opts.runDir ? await loadTrainState(opts.runDir) : null;
    if (resumed) {
      if (resumed.fingerprint !== fingerprint)
        throw new Error(`${opts.runDir} holds a checkpoint of a different run (model, data or hyperparameters differ)`);
      tf.tidy(() => {
        for (const [name, p] of resumed.params) (params.tensors.get(name) as tf.Variable).assign(tf.tensor(p.values, p.shape));
      });
      opt.setState(resumed.optimizer);
      random = mulberry32(resumed.rngState);
      history = resumed.history;
      best = resumed.best;
      firstEpoch = resumed.epoch + 1;
      stopped = best !== null && history.length > 0 && history[history.length - 1].epoch - best.epoch >= patience;
      log(`resumed from the checkpoint after epoch ${resumed.epoch}`);
    }
    const timing: StepTiming = { steps: 0, examples: 0, inputMs: 0, forwardBackwardMs: 0, optimizerMs: 0, cpuMs: 0 };
    const started = Date.now();
    const validate = (epoch: number, trainLoss: number, steps: number): EpochRecord => {
      const scores = predictSplit(params, cfg, data, data.valid, knowledge, knowledge?.valid ?? null);
      if (scores.some((v) => !Number.isFinite(v))) throw new TrainingDivergedError(epoch, steps, Number.NaN);
      return {
        epoch,
        trainLoss,
        validAuc: auc(data.valid.labels, scores),
        validLogloss: logloss(data.valid.labels, scores),
        validGauc: gauc(data.valid.labels, scores, data.valid.userIndex),
      };
    };
    if (!resumed && strategy === "extractor-only") {
      // The starting model scores exactly like the frozen backbone (grown rows start at zero): it is epoch 0, and
      // stays the result unless an epoch beats it on validation, so extractor-only never returns a model that
      // validates worse than its backbone.
      const start = validate(0, Number.NaN, 0);
      history.push(start);
      best = { auc: selectBy === "gauc" ? start.validGauc! : start.validAuc, epoch: 0, weights: params.snapshot() };
      log(`epoch 0 (the frozen backbone): valid AUC ${start.validAuc.toFixed(4)}, GAUC ${start.validGauc!.toFixed(4)}`);
    }

    for (let epoch = firstEpoch; epoch <= epochs && !stopped; epoch++) {
      const order = shuffled(data.train.count, random);
      let lossSum: tf.Tensor = tf.keep(tf.scalar(0));
      let steps = 0;
      for (let start = 0; start < data.train.count; start += batchSize) {
        const end = Math.min(data.train.count, start + batchSize);
        const rate = learningRateAt(schedule, lr, (epoch - 1) * stepsPerEpoch + steps, totalSteps);
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        const batch = sliceRows(data.train, order, start, end, data);
        // One tidy for the inputs: the bank-row index tensors die here, the feeds live until the step is done.
        const inputs = tf.tidy(() => {
          const f = featureFeeds(cfg.spec, batch);
          if (knowledge)
            knowledgeFeeds(f, knowledge, knowledge.train, order, { start, end }, dropout, random, extractor.training !== undefined);
          return { feeds: Object.fromEntries(f), labels: tf.tensor1d(batch.labels) };
        });
        const feeds = new Map(Object.entries(inputs.feeds));
        const labels = inputs.labels;
        const t1 = performance.now();
        sparseEmbeddings.reset();
        const { value, grads } = tf.variableGrads(() => {
          const out = forwardTf(sparseEmbeddings.ops(params, feeds), cfg);
          return withAuxLoss(bceWithLogits(out.logit, labels), out);
        }, variables);
        const t2 = performance.now();
        // variableGrads keys gradients by tf.Variable name; ParamStore names variables by parameter name.
        opt.apply(Object.fromEntries(names.map((n) => [n, grads[n]])), rate, sparseEmbeddings.rows);
        const t3 = performance.now();
        tf.dispose([...feeds.values(), labels, ...Object.values(grads)]);
        timing.inputMs += t1 - t0;
        timing.forwardBackwardMs += t2 - t1;
        timing.optimizerMs += t3 - t2;
        const c1 = process.cpuUsage(c0);
        timing.cpuMs += (c1.user + c1.system) / 1000;
        const next = tf.keep(tf.add(lossSum, value));
        lossSum.dispose();
        value.dispose();
        lossSum = next;
        steps++;
        timing.steps++;
        timing.examples += end - start;
        opts.onStep?.(steps, stepsPerEpoch, epoch);
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
      const record = validate(epoch, trainLoss, steps);
      const score = selectBy === "gauc" ? record.validGauc! : record.validAuc;
      history.push(record);
      const rate = Math.round(timing.examples / ((Date.now() - started) / 1000));
      log(
        `epoch ${epoch}: train loss ${trainLoss.toFixed(4)}, valid AUC ${record.validAuc.toFixed(4)}, GAUC ${record.validGauc!.toFixed(4)}, logloss ${record.validLogloss.toFixed(4)} (${rate} examples/s)`,
      );
      if (!best || score > best.auc) best = { auc: score, epoch, weights: params.snapshot() };
      else if (epoch - best.epoch >= patience) {
        log(`early stop: no better valid ${selectBy.toUpperCase()} since epoch ${best.epoch}`);
        stopped = true;
      }
      if (opts.runDir) {
        await saveTrainState(opts.runDir, {
          epoch,
          rngState: random.state(),
          params: params.snapshot(),
          optimizer: opt.getState(),
          best,
          history,
          fingerprint,
        });
      }
      if (!stopped && epoch < epochs && (opts.stopAfterEpoch === epoch || opts.signal?.aborted)) throw new TrainingStoppedError(epoch);
    }
    const weights = best!.weights;
    tf.tidy(() => {
      for (const [name, p] of weights) (params.tensors.get(name) as tf.Variable).assign(tf.tensor(p.values, p.shape));
    });

    const validScores = predictSplit(params, cfg, data, data.valid, knowledge, knowledge?.valid ?? null);
    const testScores =
      data.test.count > 0 ? predictSplit(params, cfg, data, data.test, knowledge, knowledge?.test ?? null) : new Float32Array(0);
    return {
      config: cfg,
      spec: data.spec,
      vocabulary: data.vocabulary,
      params: weights,
      metrics: {
        valid: { auc: auc(data.valid.labels, validScores), logloss: logloss(data.valid.labels, validScores) },
        test: {
          auc: auc(data.test.labels, testScores),
          logloss: logloss(data.test.labels, testScores),
          gauc: gauc(data.test.labels, testScores, data.test.userIndex),
        },
      },
      history,
      bankId: cfg.knowledge ? (bank?.bankId ?? null) : null,
      timing,
      backend,
      resumedFrom: firstEpoch - 1,
    };
  } finally {
    optimizer?.dispose();
    sparse?.dispose();
    params.dispose();
    if (knowledge) {
      disposeBankTensors(knowledge.user);
      disposeBankTensors(knowledge.item);
    }
  }
}
