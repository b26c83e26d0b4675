/**
 * ESFNet's gate: one sigmoid gate per knowledge chunk of a field, from what the chunk says, where it sits (its
 * slot: the aspect, when a chunker assigns slots by aspect), and whether it belongs to its entity. For chunk k of an
 * entity (c_k in R^d, mask m_k, the side's own feature embeddings concatenated as ctx, and o_k the mean of the
 * entity's other present chunks):
 *  - content_h     = c_k . w_h + b_h                   (H heads: what the chunk says, e.g. filler or a restated id
 *                                                       feature, whoever it is about)
 *  - consistency_h = (c_k U + a) . (V_h ctx + v_h)     (H rank-R bilinear heads: does it agree with the entity's
 *                                                       features and history)
 *  - coherence_h   = (c_k A)_h . (o_k B)_h             (H heads of a rank-R bilinear form: does it agree with what the
 *                                                       entity's other chunks say; true facts about an entity
 *                                                       cohere, an invented one need not)
 *  - |c_k|^2, the mean cos^2 overlap with the other chunks, and a soft count of near-copies (redundancy).
 * belongs_k, a linear read-out of the consistency and coherence heads, is trained contrastively (trainer/train/
 * model.ts): an entity's own chunks against other entities' chunks, under the entity's context. The gate logit is
 * MLP(all features) + a learned bias per slot + belongs_k; the MLP and the slot biases learn from the task loss
 * only. The kinds of chunks are never an input. All ops are in the Ops interface, so the ONNX export is the same
 * function.
 */
import { denseLayer, type Ops } from "../../ops/ops.ts";

const HEADS = 4;
const HIDDEN = 16;
const RANK = 16; // a multiple of HEADS
/** Gate logits are bounded, BOUND * tanh(z / BOUND): gates stay strictly inside (0, 1) in float32. */
const LOGIT_BOUND = 8;
const EPS = 1e-6;
const FEATURES = 3 * HEADS + 3;

export interface EsfGate<T> {
  /** [B, K], 0 where the mask is 0. */
  gate: T;
  /**
   * belongs logits [B, K] of any chunks [B, K, d] (the entity's own, or another entity's) under this batch's context
   * and own chunks. Training only (the contrastive term); not part of the exported graphs. `detach` must stop the
   * gradient into the context: otherwise the term would train the entity's own embedding (its id) to remember its
   * chunks, hallucinations included, instead of checking them against what was learned from its interactions.
   * `own`: the chunks are the entity's own (the batch's chunks), so each is compared with the OTHER own chunks, as
   * the gate compares it; with itself in the mean, "is it one of the entity's chunks" would be answered by the
   * chunk matching itself, a hallucinated one included.
   */
  consistency: (chunks: T, detach: (x: T) => T, own: boolean) => T;
}

interface GateInputs<T> {
  chunks: T;
  mask: T;
  ctx: T;
  ctxDim: number;
  K: number;
  d: number;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** The gate for chunks [B, K, d], mask [B, K] and the side's context ctx [B, ctxDim]. */
export function esfGate<T>(ops: Ops<T>, prefix: string, inputs: GateInputs<T>): EsfGate<T> {
  const { chunks, mask, ctx, K } = inputs;
  const heads = evidenceHeads(ops, prefix, inputs);
  const own = heads.of(chunks, othersMean(ops, chunks, mask, true)); // content, consistency, coherence [B, K, H] each
  const belongs = heads.belongs(own);
  const features = ops.concat([...own, ...redundancy(ops, chunks, mask, K)], 2); // [B, K, FEATURES]
  const hidden = denseLayer(ops, `${prefix}/hidden`, features, FEATURES, HIDDEN, "relu");
  const z = ops.reshape(denseLayer(ops, `${prefix}/gate`, hidden, HIDDEN, 1, "linear"), [-1, K]);
  const slot = ops.param(`${prefix}/slot`, [K], { kind: "zeros" });
  const logit = ops.add(ops.add(z, slot), belongs);
  const bounded = ops.scale(ops.tanh(ops.scale(logit, 1 / LOGIT_BOUND)), LOGIT_BOUND);
  const everyOwn = othersMean(ops, chunks, mask, false);
  const othersOwn = othersMean(ops, chunks, mask, true);
  return {
    gate: ops.mul(ops.sigmoid(bounded), mask),
    consistency: (c, detach, isOwn) => heads.belongs(heads.of(c, isOwn ? othersOwn : everyOwn, detach(ctx))),
  };
}

/** Per chunk, the mean of the entity's present chunks: excluding the chunk itself (`excludeSelf`), or all of them. */
function othersMean<T>(ops: Ops<T>, chunks: T, mask: T, excludeSelf: boolean): T {
  const sum = ops.matMul(ops.expandDims(mask, 1), chunks); // [B, 1, d]
  const count = ops.expandDims(ops.reduceSum(mask, [1], true), 2); // [B, 1, 1]
  if (!excludeSelf) return ops.div(sum, ops.add(count, ops.constant([EPS], [])));
  const self = ops.expandDims(mask, 2); // [B, K, 1]
  return ops.div(ops.sub(sum, ops.mul(chunks, self)), ops.add(ops.sub(count, self), ops.constant([EPS], [])));
}

/** The content, consistency and coherence heads of chunks, and the belongs read-out; parameters made once. */
function evidenceHeads<T>(ops: Ops<T>, prefix: string, { ctx, ctxDim, K, d }: GateInputs<T>) {
  const glorot = { kind: "glorot" } as const;
  const zeros = { kind: "zeros" } as const;
  // The chunk-side projections of all three kinds of heads as ONE [d, H + 2R] product over the chunks. A plain
  // matMul + add, not dense: its gradient skips the input's, which the chunks (data) do not need.
  const chunkW = ops.concat(
    [
      ops.param(`${prefix}/content/w`, [d, HEADS], glorot),
      ops.param(`${prefix}/consistency/chunk/w`, [d, RANK], glorot),
      ops.param(`${prefix}/coherence/chunk/w`, [d, RANK], glorot),
    ],
    1,
  );
  const chunkB = ops.concat(
    [
      ops.param(`${prefix}/content/b`, [HEADS], zeros),
      ops.param(`${prefix}/consistency/chunk/b`, [RANK], zeros),
      ops.constant(new Array(RANK).fill(0), [RANK]),
    ],
    0,
  );
  const otherW = ops.param(`${prefix}/coherence/other/w`, [d, RANK], glorot);
  const lowRank = (c: T) =>
    ops.reshape(denseLayer(ops, `${prefix}/consistency/context`, c, ctxDim, RANK * HEADS, "linear"), [-1, RANK, HEADS]); // [B, R, H]
  const ctxLow = lowRank(ctx);
  const of = (c: T, others: T, context?: T): T[] => {
    const projected = ops.add(ops.matMul(c, chunkW), chunkB); // [B, K, H + 2R]
    const content = ops.take(projected, 2, range(0, HEADS));
    const consistency = ops.matMul(ops.take(projected, 2, range(HEADS, HEADS + RANK)), context ? lowRank(context) : ctxLow); // [B, K, H]
    const coherent = ops.mul(ops.take(projected, 2, range(HEADS + RANK, HEADS + 2 * RANK)), ops.matMul(others, otherW)); // [B, K, R]
    const coherence = ops.reduceSum(ops.reshape(coherent, [-1, K, HEADS, RANK / HEADS]), [3], false); // [B, K, H]
    return [content, consistency, coherence];
  };
  const belongs = ([, consistency, coherence]: T[]) =>
    ops.reshape(denseLayer(ops, `${prefix}/belongs`, ops.concat([consistency, coherence], 2), 2 * HEADS, 1, "linear"), [-1, K]);
  return { of, belongs };
}

/** |c_k|^2, the mean cos^2 overlap with the other present chunks and the soft count of near-copies, each [B, K, 1]. */
function redundancy<T>(ops: Ops<T>, chunks: T, mask: T, K: number): T[] {
  const dots = ops.matMulTransposed(chunks, chunks); // [B, K, K]
  const eye: number[] = [];
  const offDiagonal: number[] = [];
  for (let k = 0; k < K; k++)
    for (let j = 0; j < K; j++) {
      eye.push(k === j ? 1 : 0);
      offDiagonal.push(k === j ? 0 : 1 / Math.max(1, K - 1));
    }
  const normSq = ops.reduceSum(ops.mul(dots, ops.constant(eye, [K, K])), [2], true); // [B, K, 1]
  const normProduct = ops.mul(normSq, ops.reshape(normSq, [-1, 1, K])); // [B, K, K]
  const cos2 = ops.div(ops.square(dots), ops.add(normProduct, ops.constant([EPS], [])));
  const others = ops.mul(ops.expandDims(mask, 1), ops.constant(offDiagonal, [K, K])); // [B, K, K]: j != k, m_j = 1
  const overlap = ops.reduceSum(ops.mul(cos2, others), [2], true);
  const repeats = ops.reduceSum(ops.mul(ops.square(ops.square(cos2)), others), [2], true);
  return [normSq, overlap, repeats];
}
