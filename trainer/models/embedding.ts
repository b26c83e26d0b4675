/**
 * Feature embeddings shared by backbones and extractors. One table per field: emb/item/<field> (also used for the
 * history items), emb/user/<field>, emb/rating. Every id passes through mapOutOfRange first: ONNX Runtime reads a
 * wrong row for an out-of-range id instead of failing. A multi-valued field (spec `bag`) takes bag.size slots of
 * its row and is pooled by the embeddingBag op (mean of its known values), so each field is still one vector.
 */
import { fieldOffsets, fieldWidth, itemFeatureWidth, userFeatureWidth } from "../../shared/feature-encoding.ts";
import type { CategoricalField } from "../../shared/manifest.ts";
import type { Ops } from "../ops/ops.ts";
import type { ModelConfig } from "./config.ts";

const EMB_INIT = { kind: "normal", std: 0.01 } as const;

function lookup<T>(ops: Ops<T>, table: string, vocab: number, E: number, ids: T): T {
  return ops.gather(ops.param(table, [vocab, E], EMB_INIT), ops.mapOutOfRange(ids, vocab));
}

/**
 * One embedding per field from a feature tensor whose last axis (`axis`) holds the fields' slots: [..., E] each.
 * `side` names the tables (emb/<side>/<field>).
 */
export function fieldLookups<T>(
  ops: Ops<T>,
  side: "item" | "user",
  fields: readonly CategoricalField[],
  feats: T,
  axis: number,
  E: number,
): T[] {
  const { offsets } = fieldOffsets(fields);
  return fields.map((f, i) => {
    const table = `emb/${side}/${f.name}`;
    if (!f.bag) return lookup(ops, table, f.vocabSize, E, ops.select(feats, axis, offsets[i]));
    const slots = Array.from({ length: fieldWidth(f) }, (_, k) => offsets[i] + k);
    const ids = ops.mapOutOfRange(ops.take(feats, axis, slots), f.vocabSize);
    return ops.embeddingBag(ops.param(table, [f.vocabSize, E], EMB_INIT), ids);
  });
}

/** Target item's field embeddings, each [B, E], item id first. Declares item_feats. */
export function itemFieldEmbeddings<T>(ops: Ops<T>, cfg: ModelConfig): T[] {
  const { spec, embeddingDim: E } = cfg;
  const feats = ops.input("item_feats", "int32", [-1, itemFeatureWidth(spec)]);
  return fieldLookups(ops, "item", spec.itemFields, feats, 1, E);
}

/** User field embeddings, each [B, E]; empty (and no input declared) when there are no user fields. */
export function userFieldEmbeddings<T>(ops: Ops<T>, cfg: ModelConfig): T[] {
  const { spec, embeddingDim: E } = cfg;
  if (spec.userFields.length === 0) return [];
  const feats = ops.input("user_feats", "int32", [-1, userFeatureWidth(spec)]);
  return fieldLookups(ops, "user", spec.userFields, feats, 1, E);
}

/** The history inputs (hist_feats, hist_ratings, hist_mask) and per position: each item field [B, L, E], the rating [B, L, E]. */
export function historyLookups<T>(ops: Ops<T>, cfg: ModelConfig): { fields: T[]; ratings: T; mask: T } {
  const { spec, embeddingDim: E } = cfg;
  const L = spec.historyLength;
  const feats = ops.input("hist_feats", "int32", [-1, L, itemFeatureWidth(spec)]);
  const ratings = ops.input("hist_ratings", "int32", [-1, L]);
  const mask = ops.input("hist_mask", "float32", [-1, L]);
  return {
    fields: fieldLookups(ops, "item", spec.itemFields, feats, 2, E),
    ratings: lookup(ops, "emb/rating", spec.ratingVocab, E, ratings),
    mask,
  };
}

/**
 * History pooled per field with the mask (masked mean over the window): one [B, E] per item field, then one for
 * the ratings. An empty history pools to zeros. Declares hist_feats, hist_ratings, hist_mask.
 */
export function historyEmbeddings<T>(ops: Ops<T>, cfg: ModelConfig): T[] {
  const { fields, ratings, mask } = historyLookups(ops, cfg);
  const weights = ops.expandDims(mask, 2); // [B, L, 1]
  const count = ops.add(ops.reduceSum(mask, [1], true), ops.constant([1e-6], [])); // [B, 1]
  const pool = (seq: T) => ops.div(ops.reduceSum(ops.mul(seq, weights), [1], false), count);
  return [...fields.map(pool), pool(ratings)];
}

/** Stacks same-size field vectors [B, E] into [B, F, E]. */
export function stackFields<T>(ops: Ops<T>, fields: T[]): T {
  return ops.concat(
    fields.map((f) => ops.expandDims(f, 1)),
    1,
  );
}
