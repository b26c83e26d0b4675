/**
 * KSER's extractor, per knowledge field:
 *  - ESFNet filter (see esfnet.ts): a sigmoid gate per chunk from per-chunk evidence: what the chunk says (content
 *    heads), whether it agrees with the side's own feature embeddings (bilinear consistency heads), and how much it
 *    repeats the entity's other present chunks (redundancy), through a small MLP shared by all chunks; masked.
 *    Chunks are re-weighted by the gate. An optional gate sparsity penalty (the extractor's `gateSparsity`, added
 *    to the training loss by forwardTf's `auxLoss`) closes the chunks that do not pay for themselves.
 *  - Alignment: cross-attention whose query comes from the side's feature embeddings (item: the target item's
 *    fields; user: user fields + pooled history) and whose keys/values project the gated chunks into the embedding
 *    size; masked softmax; an output projection. All chunks missing gives attention 0, so the output is the
 *    projection's bias: a learned "no knowledge" vector.
 * Each side is conditioned on its own features only, so item vectors can be precomputed per item.
 * The flags give the ablations (no filter: gate = mask; no alignment: masked mean of gated chunks, projected).
 */
import { denseLayer, type Ops } from "../../ops/ops.ts";
import type { ModelConfig } from "../config.ts";
import { historyEmbeddings, itemFieldEmbeddings, userFieldEmbeddings } from "../embedding.ts";
import { esfGate } from "./esfnet.ts";
import type { Extractor, ExtractorOutput } from "./extractor.ts";

const MASK_PENALTY = 1e9;
/** Default weight of the gate sparsity penalty (lambda * mean gate over present chunks); see docs/models.md. */
export const DEFAULT_GATE_SPARSITY = 0.002;

interface KserFlags {
  filter: boolean;
  align: boolean;
}

function extractSide<T>(ops: Ops<T>, cfg: ModelConfig, side: "user" | "item", context: T[], flags: KserFlags): ExtractorOutput<T> {
  const shape = cfg.knowledge?.[side];
  if (!shape) throw new Error("the KSER extractor needs knowledge shapes in the model config");
  const { chunks: K, dim: d } = shape;
  const E = cfg.embeddingDim;
  const prefix = `ext/${side}`;
  const chunks = ops.input(`${side}_chunks`, "float32", [-1, K, d]);
  const mask = ops.input(`${side}_chunk_mask`, "float32", [-1, K]);
  const ctx = ops.concat(context, 1); // [B, C*E]
  const ctxDim = context.length * E;

  const gate = flags.filter ? esfGate(ops, `${prefix}/esf`, chunks, mask, ctx, ctxDim, K, d) : mask;
  if (!flags.align) {
    const gated = ops.mul(chunks, ops.expandDims(gate, 2)); // [B, K, d]
    const count = ops.add(ops.reduceSum(mask, [1], true), ops.constant([1e-6], []));
    const mean = ops.div(ops.reduceSum(gated, [1], false), count);
    return { know: denseLayer(ops, `${prefix}/proj`, mean, d, E, "linear"), gate };
  }
  // Same function as keys/values = dense(gated chunks) with scaled dot-product attention, rearranged so that no
  // [B, K, d] x [d, E] product is needed (the training bottleneck): with g the gate and c the chunks,
  //   score_k = (g_k c_k Wk + bk) . q = g_k c_k . (Wk q) + bk . q
  //   sum_k a_k (g_k c_k Wv + bv) = (sum_k a_k g_k c_k) Wv + (sum_k a_k) bv.
  // Parameter names, shapes and inits are those of the dense layers they replace.
  const glorot = { kind: "glorot" } as const;
  const zeros = { kind: "zeros" } as const;
  const keyW = ops.param(`${prefix}/align/key/w`, [d, E], glorot);
  const keyB = ops.param(`${prefix}/align/key/b`, [E], zeros);
  const valueW = ops.param(`${prefix}/align/value/w`, [d, E], glorot);
  const valueB = ops.param(`${prefix}/align/value/b`, [E], zeros);
  const query = denseLayer(ops, `${prefix}/align/query`, ctx, ctxDim, E, "linear"); // [B, E]
  const queryInChunkSpace = ops.matMulTransposed(query, keyW); // [B, d]
  const queryBias = ops.reduceSum(ops.mul(query, keyB), [1], true); // [B, 1]
  const chunkDots = ops.reshape(ops.matMul(chunks, ops.expandDims(queryInChunkSpace, 2)), [-1, K]); // [B, K]
  const scores = ops.scale(ops.add(ops.mul(chunkDots, gate), queryBias), 1 / Math.sqrt(E));
  // Missing chunks get -1e9 (exactly 0 after softmax); multiplying by the mask zeroes the all-missing case too.
  const penalty = ops.scale(ops.add(mask, ops.constant([-1], [])), MASK_PENALTY);
  const attention = ops.mul(ops.softmax(ops.add(scores, penalty)), mask); // [B, K]
  const mixedChunks = ops.reshape(ops.matMul(ops.expandDims(ops.mul(attention, gate), 1), chunks), [-1, d]); // [B, d]
  const attentionMass = ops.reduceSum(attention, [1], true); // [B, 1]: 0 when every chunk is missing
  const pooled = ops.add(ops.dense(mixedChunks, valueW, null, "linear"), ops.mul(attentionMass, valueB));
  return { know: denseLayer(ops, `${prefix}/align/out`, pooled, E, E, "linear"), gate };
}

function kserExtractor(name: string, flags: KserFlags): Extractor {
  return {
    name,
    usesKnowledge: true,
    gateSparsity: flags.filter ? DEFAULT_GATE_SPARSITY : 0,
    user: (ops, cfg) => extractSide(ops, cfg, "user", [...userFieldEmbeddings(ops, cfg), ...historyEmbeddings(ops, cfg)], flags),
    item: (ops, cfg) => extractSide(ops, cfg, "item", itemFieldEmbeddings(ops, cfg), flags),
  };
}

export const kser = kserExtractor("kser", { filter: true, align: true });
export const kserNoFilter = kserExtractor("kser-nofilter", { filter: false, align: true });
export const kserNoAlign = kserExtractor("kser-noalign", { filter: true, align: false });
