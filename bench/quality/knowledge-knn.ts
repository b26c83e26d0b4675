/**
 * A model-free check of what user knowledge can give a recommender: does a user's knowledge resemble the knowledge
 * of the users who liked an item? If it ranks a user's items no better than chance, no extractor can get ranking
 * out of it; scored on validation too, it shows whether the signal carries beyond the interactions the knowledge
 * may have been written from.
 */
import type { KnowledgeBankField, PreparedDataset, SampleSplit } from "../../trainer/data/types.ts";
import { sampleItemIds } from "../../trainer/train/knowledge-join.ts";

/** Per user index: the mean of the user's present chunks, centred on the mean over users and unit length. */
function userVectors(data: PreparedDataset, field: KnowledgeBankField): (Float64Array | null)[] {
  const { chunks: K, dim: d } = field;
  const row = new Map(field.ids.map((id, e) => [id, e]));
  const vectors = data.userIds.map((id) => {
    const e = row.get(id);
    if (e === undefined) return null;
    const v = new Float64Array(d);
    let present = 0;
    for (let k = 0; k < K; k++)
      if (field.mask[e * K + k] > 0) {
        present++;
        for (let j = 0; j < d; j++) v[j] += field.values[(e * K + k) * d + j];
      }
    return present > 0 ? unit(v) : null;
  });
  // Centred: what every user's knowledge says alike (filler) would make every pair look similar.
  const centre = new Float64Array(field.dim);
  const known = vectors.filter((v): v is Float64Array => v !== null);
  for (const v of known) for (let j = 0; j < v.length; j++) centre[j] += v[j] / known.length;
  return vectors.map((v) => (v ? unit(v.map((x, j) => x - centre[j])) : null));
}

function unit(v: Float64Array): Float64Array {
  const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  return norm > 0 ? v.map((x) => x / norm) : v;
}

/** Scores of the samples of a split of the dataset the scorer was built on. */
export type KnowledgeKnn = (split: SampleSplit) => Float64Array;

/**
 * User-knowledge kNN, built once from the train split: each sample scored by the cosine between its user's
 * knowledge vector and the summed vectors of the item's train likers (the user left out); 0 without knowledge or
 * likers. Near 0.5 GAUC, the user knowledge does not say which items a user likes, whatever extractor reads it.
 */
export function userKnowledgeKnn(data: PreparedDataset, field: KnowledgeBankField): KnowledgeKnn {
  const vectors = userVectors(data, field);
  const likers = new Map<string, Set<number>>();
  const trainItem = sampleItemIds(data, data.train);
  for (let s = 0; s < data.train.count; s++) {
    const item = trainItem(s);
    if (item === undefined || !(data.train.labels[s] > 0.5) || !vectors[data.train.userIndex[s]]) continue;
    const set = likers.get(item) ?? new Set<number>();
    set.add(data.train.userIndex[s]);
    likers.set(item, set);
  }
  const sums = new Map<string, Float64Array>();
  for (const [item, users] of likers) {
    const sum = new Float64Array(field.dim);
    for (const u of users) for (let j = 0; j < field.dim; j++) sum[j] += vectors[u]![j];
    sums.set(item, sum);
  }
  return (split) => {
    const itemOf = sampleItemIds(data, split);
    return Float64Array.from({ length: split.count }, (_, s) => {
      const u = split.userIndex[s];
      const item = itemOf(s);
      const mine = vectors[u];
      const sum = item === undefined ? undefined : sums.get(item);
      if (!mine || !sum) return 0;
      const others = likers.get(item!)!.has(u) ? sum.map((x, j) => x - mine[j]) : sum;
      return unit(others).reduce((a, x, j) => a + x * mine[j], 0);
    });
  };
}
