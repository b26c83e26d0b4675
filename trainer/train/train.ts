/**
 * Trains one backbone + extractor in tfjs: BCE with logits, AdamW (Adam plus decoupled weight decay), early
 * stopping on validation AUC keeping the best weights, seeded init and shuffling, knowledge dropout (a whole
 * entity's chunks masked at random, so entities without knowledge still get sane scores) and a NaN/Inf guard.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { KnowledgeBank, PreparedDataset, SampleSplit } from "../data/types.ts";
import { auc, gauc, logloss } from "../eval/metrics.ts";
import type { ModelConfig } from "../models/config.ts";
import { getBackbone, getExtractor } from "../models/registry.ts";
import { ParamStore, TfOps } from "../ops/tf-ops.ts";
import { initBackend } from "../runtime/backend.ts";
import { type BankTensors, bankTensors, disposeBankTensors, joinSplit } from "./knowledge-join.ts";
import { type EpochRecord, featureFeeds, forwardTf, type TrainedModel } from "./model.ts";
import { mulberry32, shuffled } from "./random.ts";

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
  /** Epochs without a better validation AUC before stopping. */
  patience?: number;
  log?: (msg: string) => void;
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
  const Fi = data.spec.itemFields.length;
  const Fu = data.spec.userFields.length;
  const L = data.spec.historyLength;
  const b = {
    count: n,
    itemFeats: new Int32Array(n * Fi),
    userFeats: new Int32Array(n * Fu),
    histFeats: new Int32Array(n * L * Fi),
    histRatings: new Int32Array(n * L),
    histMask: new Float32Array(n * L),
    labels: new Float32Array(n),
  };
  for (let i = 0; i < n; i++) {
    const s = order[start + i];
    b.itemFeats.set(split.itemFeats.subarray(s * Fi, (s + 1) * Fi), i * Fi);
    b.userFeats.set(split.userFeats.subarray(s * Fu, (s + 1) * Fu), i * Fu);
    b.histFeats.set(split.histFeats.subarray(s * L * Fi, (s + 1) * L * Fi), i * L * Fi);
    b.histRatings.set(split.histRatings.subarray(s * L, (s + 1) * L), i * L);
    b.histMask.set(split.histMask.subarray(s * L, (s + 1) * L), i * L);
    b.labels[i] = split.labels[s];
  }
  return b;
}

/** Adds the knowledge feeds for the rows order[start, end), masking whole entities with probability `dropout`. */
function knowledgeFeeds(
  feeds: Map<string, tf.Tensor>,
  k: Knowledge,
  rows: SplitKnowledge,
  order: Int32Array,
  start: number,
  end: number,
  dropout: number,
  random: () => number,
) {
  const n = end - start;
  const userIdx = new Int32Array(n);
  const itemIdx = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const s = order[start + i];
    userIdx[i] = dropout > 0 && random() < dropout ? k.user.absentRow : rows.userRow[s];
    itemIdx[i] = dropout > 0 && random() < dropout ? k.item.absentRow : rows.itemRow[s];
  }
  const u = tf.tensor1d(userIdx, "int32");
  const it = tf.tensor1d(itemIdx, "int32");
  feeds.set("user_chunks", tf.gather(k.user.values, u));
  feeds.set("user_chunk_mask", tf.gather(k.user.mask, u));
  feeds.set("item_chunks", tf.gather(k.item.values, it));
  feeds.set("item_chunk_mask", tf.gather(k.item.mask, it));
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
      if (k && rows) knowledgeFeeds(feeds, k, rows, order, start, end, 0, Math.random);
      return tf.sigmoid(forwardTf(new TfOps(params, feeds), cfg).logit);
    });
    scores.set(out.dataSync() as Float32Array, start);
    out.dispose();
  }
  return scores;
}

export async function trainModel(opts: TrainOptions): Promise<TrainedModel> {
  await initBackend();
  const { data, bank } = opts;
  const log = opts.log ?? (() => {});
  const seed = opts.seed ?? 42;
  const epochs = opts.epochs ?? 10;
  const batchSize = opts.batchSize ?? 1024;
  const lr = opts.learningRate ?? 1e-3;
  const wd = opts.weightDecay ?? 0.01;
  const patience = opts.patience ?? 3;
  const dropout = opts.knowledgeDropout ?? 0.1;
  if (!(lr > 0) || !(wd >= 0) || !(batchSize >= 1))
    throw new Error(`bad hyperparameters: learningRate ${lr}, weightDecay ${wd}, batchSize ${batchSize}`);
  getBackbone(opts.backbone);
  const extractor = getExtractor(opts.extractor);
  if (extractor.usesKnowledge && !bank) throw new Error(`extractor "${opts.extractor}" needs a knowledge bank`);
  if (data.train.count === 0 || data.valid.count === 0) throw new Error("the training and validation splits must not be empty");

  const cfg: ModelConfig = {
    backbone: opts.backbone,
    extractor: opts.extractor,
    embeddingDim: opts.embeddingDim ?? 32,
    spec: data.spec,
    knowledge:
      extractor.usesKnowledge && bank
        ? { user: { chunks: bank.user.chunks, dim: bank.user.dim }, item: { chunks: bank.item.chunks, dim: bank.item.dim } }
        : null,
    seed,
  };
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
  try {
    // Build once on a tiny batch so that every variable exists before the optimizer sees the list.
    tf.tidy(() => {
      const order = Int32Array.of(0);
      const feeds = featureFeeds(cfg.spec, sliceRows(data.train, order, 0, 1, data));
      if (knowledge) knowledgeFeeds(feeds, knowledge, knowledge.train, order, 0, 1, 0, Math.random);
      forwardTf(new TfOps(params, feeds), cfg);
    });
    const variables = params.variables();
    const optimizer = tf.train.adam(lr);
    const random = mulberry32(seed);
    const history: EpochRecord[] = [];
    let best: { auc: number; epoch: number; weights: Map<string, { shape: number[]; values: Float32Array }> } | null = null;
    const started = Date.now();
    let examples = 0;

    for (let epoch = 1; epoch <= epochs; epoch++) {
      const order = shuffled(data.train.count, random);
      let lossSum: tf.Tensor = tf.keep(tf.scalar(0));
      let steps = 0;
      for (let start = 0; start < data.train.count; start += batchSize) {
        const end = Math.min(data.train.count, start + batchSize);
        const batch = sliceRows(data.train, order, start, end, data);
        const cost: tf.Tensor = tf.tidy(() => {
          const feeds = featureFeeds(cfg.spec, batch);
          if (knowledge) knowledgeFeeds(feeds, knowledge, knowledge.train, order, start, end, dropout, random);
          const labels = tf.tensor1d(batch.labels);
          const loss = optimizer.minimize(
            () => bceWithLogits(forwardTf(new TfOps(params, feeds), cfg).logit, labels),
            true,
            variables,
          ) as tf.Scalar;
          // AdamW: decay decoupled from the adaptive gradient step.
          if (wd > 0) for (const v of variables) v.assign(tf.mul(v, 1 - lr * wd));
          return loss;
        });
        const next = tf.keep(tf.add(lossSum, cost));
        lossSum.dispose();
        cost.dispose();
        lossSum = next;
        steps++;
        examples += end - start;
        if (steps % GUARD_EVERY === 0 || end === data.train.count) {
          const value = (await lossSum.data())[0];
          if (!Number.isFinite(value)) {
            lossSum.dispose();
            throw new TrainingDivergedError(epoch, steps, value);
          }
        }
      }
      const trainLoss = (await lossSum.data())[0] / steps;
      lossSum.dispose();
      const validScores = predictSplit(params, cfg, data, data.valid, knowledge, knowledge?.valid ?? null);
      if (validScores.some((s) => !Number.isFinite(s))) throw new TrainingDivergedError(epoch, steps, Number.NaN);
      const record = {
        epoch,
        trainLoss,
        validAuc: auc(data.valid.labels, validScores),
        validLogloss: logloss(data.valid.labels, validScores),
      };
      history.push(record);
      const rate = Math.round(examples / ((Date.now() - started) / 1000));
      log(
        `epoch ${epoch}: train loss ${trainLoss.toFixed(4)}, valid AUC ${record.validAuc.toFixed(4)}, logloss ${record.validLogloss.toFixed(4)} (${rate} examples/s)`,
      );
      if (!best || record.validAuc > best.auc) best = { auc: record.validAuc, epoch, weights: params.snapshot() };
      else if (epoch - best.epoch >= patience) {
        log(`early stop: no better valid AUC since epoch ${best.epoch}`);
        break;
      }
    }
    optimizer.dispose();
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
    };
  } finally {
    params.dispose();
    if (knowledge) {
      disposeBankTensors(knowledge.user);
      disposeBankTensors(knowledge.item);
    }
  }
}
