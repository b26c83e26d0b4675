/**
 * What the prepared data says without any model: trivial baselines on the test split computed from the training
 * split (the floor a model must clear), a check that the user knowledge alone ranks test items, and, where the same
 * users are in train and test, how a user's positive rate carries over between the two (with a split that is not
 * random per user, cross-user AUC can mislead).
 */
import { itemFeatureWidth } from "../../shared/feature-encoding.ts";
import type { KnowledgeBankField, PreparedDataset, SampleSplit } from "../../trainer/data/types.ts";
import { auc, gauc } from "../../trainer/train/metrics.ts";
import { type KnowledgeKnn, userKnowledgeKnn } from "./knowledge-knn.ts";
import { pearson } from "./stats.ts";
import type { Baselines, DataFacts } from "./types.ts";

/** The target item of each sample: its raw id index when recorded (new items too), else its vocabulary index. */
function targets(data: PreparedDataset, split: SampleSplit): Int32Array {
  if (split.targetItem) return split.targetItem;
  const Fi = itemFeatureWidth(data.spec);
  return Int32Array.from({ length: split.count }, (_, s) => split.itemFeats[s * Fi]);
}

function itemPopularity(data: PreparedDataset): Float64Array {
  const likes = new Map<number, [number, number]>();
  const train = targets(data, data.train);
  for (let s = 0; s < data.train.count; s++) {
    const c = likes.get(train[s]) ?? [0, 0];
    c[0] += data.train.labels[s] > 0.5 ? 1 : 0;
    c[1]++;
    likes.set(train[s], c);
  }
  const test = targets(data, data.test);
  return Float64Array.from({ length: data.test.count }, (_, s) => {
    const [l, n] = likes.get(test[s]) ?? [0, 0];
    return (l + 1) / (n + 2);
  });
}

function historyMean(data: PreparedDataset): Float64Array {
  const L = data.spec.historyLength;
  const mean = (split: SampleSplit, s: number): number | null => {
    let sum = 0;
    let n = 0;
    for (let j = s * L; j < (s + 1) * L; j++)
      if (split.histMask[j] > 0) {
        sum += split.histRatings[j];
        n++;
      }
    return n > 0 ? sum / n : null;
  };
  let sum = 0;
  let n = 0;
  for (let s = 0; s < data.train.count; s++) {
    const m = mean(data.train, s);
    if (m !== null) {
      sum += m;
      n++;
    }
  }
  const fallback = n > 0 ? sum / n : 0;
  return Float64Array.from({ length: data.test.count }, (_, s) => mean(data.test, s) ?? fallback);
}

const scored = (split: SampleSplit, scores: Float64Array) => ({
  auc: auc(split.labels, scores),
  gauc: gauc(split.labels, scores, split.userIndex),
});

export function baselines(data: PreparedDataset, userKnowledge?: KnowledgeBankField): Baselines {
  return baselinesWith(data, userKnowledge && userKnowledgeKnn(data, userKnowledge));
}

function baselinesWith(data: PreparedDataset, knn: KnowledgeKnn | undefined): Baselines {
  const t = data.test;
  return {
    itemPopularity: scored(t, itemPopularity(data)),
    historyMean: scored(t, historyMean(data)),
    ...(knn ? { userKnowledgeKnn: scored(t, knn(t)) } : {}),
  };
}

/** Pearson over users with samples in both of a user's train (+ valid) and test positive rates. */
export function userRateCorrelation(data: PreparedDataset): { pearson: number; users: number } | undefined {
  const rates = (splits: SampleSplit[]) => {
    const out = new Map<number, [number, number]>();
    for (const split of splits)
      for (let s = 0; s < split.count; s++) {
        const c = out.get(split.userIndex[s]) ?? [0, 0];
        c[0] += split.labels[s] > 0.5 ? 1 : 0;
        c[1]++;
        out.set(split.userIndex[s], c);
      }
    return out;
  };
  const train = rates([data.train, data.valid]);
  const test = rates([data.test]);
  const both = [...test.keys()].filter((u) => train.has(u));
  if (both.length < 3) return undefined;
  const rate = (m: Map<number, [number, number]>, u: number) => m.get(u)![0] / m.get(u)![1];
  const r = pearson(
    both.map((u) => rate(train, u)),
    both.map((u) => rate(test, u)),
  );
  return Number.isFinite(r) ? { pearson: r, users: both.length } : undefined;
}

/**
 * The data's facts; with the user knowledge as served (compressed) and, optionally, as encoded before compression,
 * whose kNN shows what the compression lost.
 */
export function dataFacts(
  data: PreparedDataset,
  userKnowledge?: KnowledgeBankField,
  uncompressedUserKnowledge?: KnowledgeBankField,
): DataFacts {
  const correlation = userRateCorrelation(data);
  const knn = userKnowledge && userKnowledgeKnn(data, userKnowledge);
  const { valid: v, test: t } = data;
  return {
    baselines: baselinesWith(data, knn),
    ...(knn && v.count > 0 ? { userKnowledgeKnnValid: scored(v, knn(v)) } : {}),
    ...(uncompressedUserKnowledge ? { userKnowledgeKnnUncompressed: scored(t, userKnowledgeKnn(data, uncompressedUserKnowledge)(t)) } : {}),
    ...(correlation ? { userRateCorrelation: correlation } : {}),
  };
}
