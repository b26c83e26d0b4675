/**
 * ESFNet's gate: one sigmoid gate per knowledge chunk of a field, from per-chunk evidence rather than from a
 * context-free scalar per chunk. For chunk k of an entity (c_k in R^d, mask m_k, the side's own feature embeddings
 * concatenated as ctx):
 *  - content_h     = c_k . w_h + b_h                       (H heads: what the chunk says, e.g. generic filler)
 *  - consistency_h = (c_k U + a) . (V_h ctx + v_h)         (H rank-R bilinear heads: does it agree with the
 *                                                           entity's own features; a wrong genre or invented taste
 *                                                           does not)
 *  - norm          = |c_k|^2
 *  - overlap       = sum_{j != k} m_j cos^2(c_k, c_j) / (K-1)        (mean overlap with the entity's other chunks)
 *  - repeats       = sum_{j != k} m_j cos^8(c_k, c_j) / (K-1)        (near-duplicates only: a soft count of copies)
 * (cos^2 = (c_k . c_j)^2 / (|c_k|^2 |c_j|^2 + eps): no square root, so no extra op and a finite gradient at 0.)
 * The 2H+3 features go through a small MLP shared by all chunks (F -> hidden ReLU -> 1), a sigmoid, times the mask.
 * The output logit starts at +2 so gates start open (~0.88) and training closes what does not help. All ops are
 * in the Ops interface, so the ONNX export is the same function. The kinds of chunks are never an input.
 */
import { denseLayer, type Ops } from "../../ops/ops.ts";

const HEADS = 4;
const HIDDEN = 16;
const RANK = 16; // a multiple of HEADS (esfGate splits its projection into groups of HEADS columns)
const GATE_BIAS_INIT = 2;
/**
 * The gate logit is GATE_LOGIT_SCALE * (h . w + b). Adam's step is about the learning rate per parameter whatever
 * the scale, so this is the gate output layer's learning rate times 10: at the default 1e-3 and a few hundred steps
 * (4 epochs of the demo) an unscaled gate cannot move far from its init, which is what the old gates showed.
 */
const GATE_LOGIT_SCALE = 10;
const LOGIT_BOUND = 12;
const EPS = 1e-6;

/** Gate [B, K] (0 where the mask is 0) for chunks [B, K, d], mask [B, K] and the side's context ctx [B, ctxDim]. */
export function esfGate<T>(ops: Ops<T>, prefix: string, chunks: T, mask: T, ctx: T, ctxDim: number, K: number, d: number): T {
  const glorot = { kind: "glorot" } as const;
  const zeros = { kind: "zeros" } as const;
  // The content heads c_k W + b and the chunk side of the consistency heads c_k U + a as ONE [d, H + R] product
  // over the chunks (on wasm each narrow product over the [B*K, d] chunks costs about as much as the wide one,
  // mostly in its weight gradient). The parameters are those of two dense layers, concatenated at run time. A plain
  // matMul + add, not dense: its gradient skips the input's, which the chunks (data) do not need.
  const contentW = ops.param(`${prefix}/content/w`, [d, HEADS], glorot);
  const contentB = ops.param(`${prefix}/content/b`, [HEADS], zeros);
  const chunkW = ops.param(`${prefix}/consistency/chunk/w`, [d, RANK], glorot);
  const chunkB = ops.param(`${prefix}/consistency/chunk/b`, [RANK], zeros);
  const projected = ops.add(ops.matMul(chunks, ops.concat([contentW, chunkW], 1)), ops.concat([contentB, chunkB], 0)); // [B, K, H + R]
  // Columns [0, H): content; select takes them as the first of the (H + R) / H groups of H columns.
  const content = ops.select(ops.reshape(projected, [-1, K, (HEADS + RANK) / HEADS, HEADS]), 2, 0); // [B, K, H]
  // Low-rank bilinear heads c_k^T U V_h ctx: U shared [d, R], V_h per head; costs d*R + ctxDim*R*H parameters.
  // The context side gets H zero rows in front (zero columns in its weights and bias), so the product with all
  // H + R projected columns adds exactly 0 for the content columns and needs no slice of the chunk side.
  const contextW = ops.param(`${prefix}/consistency/context/w`, [ctxDim, RANK * HEADS], glorot);
  const contextB = ops.param(`${prefix}/consistency/context/b`, [RANK * HEADS], zeros);
  const padded = HEADS * HEADS;
  const ctxLow = ops.dense(
    ctx,
    ops.concat([ops.constant(new Array(ctxDim * padded).fill(0), [ctxDim, padded]), contextW], 1),
    ops.concat([ops.constant(new Array(padded).fill(0), [padded]), contextB], 0),
    "linear",
  );
  const consistency = ops.matMul(projected, ops.reshape(ctxLow, [-1, HEADS + RANK, HEADS])); // [B, K, H]
  const dots = ops.matMulTransposed(chunks, chunks); // [B, K, K]
  // |c_k|^2 is the Gram diagonal (no second pass over the chunks).
  const eye: number[] = [];
  for (let k = 0; k < K; k++) for (let j = 0; j < K; j++) eye.push(k === j ? 1 : 0);
  const normSq = ops.reduceSum(ops.mul(dots, ops.constant(eye, [K, K])), [2], true); // [B, K, 1]
  const normProduct = ops.mul(normSq, ops.reshape(normSq, [-1, 1, K])); // [B, K, K]
  const cos2 = ops.div(ops.square(dots), ops.add(normProduct, ops.constant([EPS], [])));
  // Other present chunks: j != k and m_j = 1.
  const offDiagonal: number[] = [];
  for (let k = 0; k < K; k++) for (let j = 0; j < K; j++) offDiagonal.push(k === j ? 0 : 1 / Math.max(1, K - 1));
  const others = ops.mul(ops.expandDims(mask, 1), ops.constant(offDiagonal, [K, K])); // [B, K, K]
  const cos2Others = ops.mul(cos2, others);
  const overlap = ops.reduceSum(cos2Others, [2], true); // [B, K, 1]
  const cos8 = ops.square(ops.square(cos2));
  const repeats = ops.reduceSum(ops.mul(cos8, others), [2], true); // [B, K, 1]
  const features = ops.concat([content, consistency, normSq, overlap, repeats], 2); // [B, K, 2H+3]
  const hidden = denseLayer(ops, `${prefix}/hidden`, features, 2 * HEADS + 3, HIDDEN, "relu"); // [B, K, hidden]
  const w = ops.param(`${prefix}/gate/w`, [HIDDEN, 1], { kind: "glorot" });
  const b = ops.param(`${prefix}/gate/b`, [1], { kind: "constant", value: GATE_BIAS_INIT / GATE_LOGIT_SCALE });
  // Bounded logit, BOUND * tanh(scale * z / BOUND): gates stay strictly inside (0, 1) in float32 (never a dead gate).
  const z = ops.dense(hidden, w, b, "linear");
  const logit = ops.scale(ops.tanh(ops.scale(z, GATE_LOGIT_SCALE / LOGIT_BOUND)), LOGIT_BOUND);
  const gate = ops.reshape(ops.sigmoid(logit), [-1, K]); // [B, K]
  return ops.mul(gate, mask);
}
