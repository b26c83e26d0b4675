/**
 * KSER's alignment: multi-head cross-attention from the side's own feature embeddings (the query) to the gated
 * knowledge chunks (keys and values projected into the embedding size), with a null slot, then an output
 * projection: one [B, E] vector in the recommender's embedding space per field. Per head h:
 *   a_hk = g_k s_hk / (s_h0 + sum_j g_j s_hj),   s_h = softmax([q_h . n_h, q_h . k_hj (j present)]) / sqrt(E / H)
 * so the ESFNet gate g is a prior over the chunks (a closed chunk gets no weight in any head, an open one competes
 * with the others and with the null slot); the null slot's learned key n and value take the weight when no chunk
 * is worth it, and are all an entity without knowledge gets. Heads let different facts (a taste, a style) land in
 * different parts of the vector.
 */
import { denseLayer, type Ops } from "../../ops/ops.ts";

export const ALIGN_HEADS = 4;
const MASK_PENALTY = 1e9;
const EPS = 1e-6;

export interface AlignInputs<T> {
  chunks: T;
  mask: T;
  gate: T;
  ctx: T;
  ctxDim: number;
  K: number;
  d: number;
  E: number;
}

export function alignKnowledge<T>(ops: Ops<T>, prefix: string, { chunks, mask, gate, ctx, ctxDim, K, d, E }: AlignInputs<T>): T {
  const H = E % ALIGN_HEADS === 0 ? ALIGN_HEADS : 1;
  const per = E / H;
  const perHead = (x: T, rows: number) => ops.reshape(x, [-1, rows, H, per]); // [B, rows, H, E/H]
  const keys = perHead(denseLayer(ops, `${prefix}/align/key`, chunks, d, E, "linear"), K);
  const values = perHead(denseLayer(ops, `${prefix}/align/value`, chunks, d, E, "linear"), K);
  const query = ops.reshape(denseLayer(ops, `${prefix}/align/query`, ctx, ctxDim, E, "linear"), [-1, 1, H, per]);
  const nullKey = ops.reshape(ops.param(`${prefix}/align/null/key`, [E], { kind: "zeros" }), [1, 1, H, per]);
  const nullValue = ops.reshape(ops.param(`${prefix}/align/null/value`, [E], { kind: "zeros" }), [1, 1, H, per]);
  const scale = 1 / Math.sqrt(per);
  // Missing chunks get -1e9: exactly 0 after the softmax.
  const penalty = ops.expandDims(ops.scale(ops.add(mask, ops.constant([-1], [])), MASK_PENALTY), 2); // [B, K, 1]
  const chunkScores = ops.add(ops.scale(ops.reduceSum(ops.mul(keys, query), [3], false), scale), penalty); // [B, K, H]
  const nullScore = ops.scale(ops.reduceSum(ops.mul(query, nullKey), [3], false), scale); // [B, 1, H]
  const soft = ops.softmax(ops.transpose(ops.concat([nullScore, chunkScores], 1), [0, 2, 1])); // [B, H, K + 1]
  const nullPart = ops.take(soft, 2, [0]); // [B, H, 1]
  const chunkPart = ops.mul(ops.take(soft, 2, range(1, K + 1)), ops.expandDims(gate, 1)); // [B, H, K]
  const total = ops.add(ops.add(nullPart, ops.reduceSum(chunkPart, [2], true)), ops.constant([EPS], []));
  const weights = ops.expandDims(ops.transpose(ops.div(chunkPart, total), [0, 2, 1]), 3); // [B, K, H, 1]
  const nullWeight = ops.expandDims(ops.transpose(ops.div(nullPart, total), [0, 2, 1]), 3); // [B, 1, H, 1]
  const pooled = ops.add(ops.reduceSum(ops.mul(values, weights), [1], false), ops.reshape(ops.mul(nullValue, nullWeight), [-1, H, per]));
  return denseLayer(ops, `${prefix}/align/out`, ops.reshape(pooled, [-1, E]), E, E, "linear");
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
