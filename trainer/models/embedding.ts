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

/** Field i's embedding [..., E] from a feature tensor whose axis `axis` holds the fields' slots (tables emb/<side>/<field>). */
function fieldLookup<T>(
  ops: Ops<T>,
  side: "item" | "user",
  fields: readonly CategoricalField[],
  i: number,
  feats: T,
  axis: number,
  E: number,
): T {
  const f = fields[i];
  const offset = fieldOffsets(fields).offsets[i];
  const table = `emb/${side}/${f.name}`;
  if (!f.bag) return lookup(ops, table, f.vocabSize, E, ops.select(feats, axis, offset));
  const slots = Array.from({ length: fieldWidth(f) }, (_, k) => offset + k);
  const ids = ops.mapOutOfRange(ops.take(feats, axis, slots), f.vocabSize);
  return ops.embeddingBag(ops.param(table, [f.vocabSize, E], EMB_INIT), ids);
}

/** One embedding per field, [..., E] each. */
function fieldLookups<T>(ops: Ops<T>, side: "item" | "user", fields: readonly CategoricalField[], feats: T, axis: number, E: number): T[] {
  return fields.map((_, i) => fieldLookup(ops, side, fields, i, feats, axis, E));
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

/**
 * The history inputs (hist_feats, hist_ratings, hist_mask), field i's embedding per position [B, L, E] and the
 * ratings' [B, L, E]. (Callers keep the op order of the exported graphs stable: it is part of a model's id.)
 */
export function historyInputs<T>(ops: Ops<T>, cfg: ModelConfig) {
  const { spec, embeddingDim: E } = cfg;
  const L = spec.historyLength;
  const feats = ops.input("hist_feats", "int32", [-1, L, itemFeatureWidth(spec)]);
  const ratings = ops.input("hist_ratings", "int32", [-1, L]);
  const mask = ops.input("hist_mask", "float32", [-1, L]);
  return {
    mask,
    field: (i: number) => fieldLookup(ops, "item", spec.itemFields, i, feats, 2, E),
    ratings: () => lookup(ops, "emb/rating", spec.ratingVocab, E, ratings),
  };
}

/**
 * History pooled per field with the mask (masked mean over the window): one [B, E] per item field, then one for
 * the ratings. An empty history pools to zeros. Declares hist_feats, hist_ratings, hist_mask.
 */
export function historyEmbeddings<T>(ops: Ops<T>, cfg: ModelConfig): T[] {
  const history = historyInputs(ops, cfg);
  const weights = ops.expandDims(history.mask, 2); // [B, L, 1]
  const count = ops.add(ops.reduceSum(history.mask, [1], true), ops.constant([1e-6], [])); // [B, 1]
  const pool = (seq: T) => ops.div(ops.reduceSum(ops.mul(seq, weights), [1], false), count);
  const pooled = cfg.spec.itemFields.map((_, i) => pool(history.field(i)));
  pooled.push(pool(history.ratings()));
  return pooled;
}

/** Stacks same-size field vectors [B, E] into [B, F, E]. */
export function stackFields<T>(ops: Ops<T>, fields: T[]): T {
  return ops.concat(
    fields.map((f) => ops.expandDims(f, 1)),
    1,
  );
}

/**
 * The history's target-item embeddings weighted by a learned value per rating, over the window: what the user liked
 * or disliked rather than only what it met, [B, E]. Parameter `${name}` [ratingVocab, 1].
 */
export function ratedHistoryEmbedding<T>(ops: Ops<T>, cfg: ModelConfig, name: string): T {
  const { spec } = cfg;
  const history = historyInputs(ops, cfg);
  const ratings = ops.input("hist_ratings", "int32", [-1, spec.historyLength]);
  const value = ops.gather(
    ops.param(name, [spec.ratingVocab, 1], { kind: "normal", std: 0.5 }),
    ops.mapOutOfRange(ratings, spec.ratingVocab),
  ); // [B, L, 1]
  const count = ops.add(ops.reduceSum(history.mask, [1], true), ops.constant([1e-6], [])); // [B, 1]
  const weights = ops.mul(value, ops.expandDims(history.mask, 2));
  return ops.div(ops.reduceSum(ops.mul(history.field(0), weights), [1], false), count);
}
