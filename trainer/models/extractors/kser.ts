/**
 * KSER's extractor, per knowledge field:
 *  - ESFNet filter: squeeze each chunk to a scalar, an MLP over the K scalars plus the field's own-side context
 *    embeddings, a sigmoid gate per chunk, masked. Chunks are re-weighted by the gate.
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
import type { Extractor, ExtractorOutput } from "./extractor.ts";

const ESF_HIDDEN = 32;
const MASK_PENALTY = 1e9;

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

  let gate = mask;
  if (flags.filter) {
    const squeezed = ops.mul(ops.reshape(denseLayer(ops, `${prefix}/esf/squeeze`, chunks, d, 1, "linear"), [-1, K]), mask);
    const hidden = denseLayer(ops, `${prefix}/esf/hidden`, ops.concat([squeezed, ctx], 1), K + ctxDim, ESF_HIDDEN, "relu");
    gate = ops.mul(denseLayer(ops, `${prefix}/esf/gate`, hidden, ESF_HIDDEN, K, "sigmoid"), mask);
  }
  const gated = ops.mul(chunks, ops.expandDims(gate, 2)); // [B, K, d]

  if (!flags.align) {
    const count = ops.add(ops.reduceSum(mask, [1], true), ops.constant([1e-6], []));
    const mean = ops.div(ops.reduceSum(gated, [1], false), count);
    return { know: denseLayer(ops, `${prefix}/proj`, mean, d, E, "linear"), gate };
  }
  const keys = denseLayer(ops, `${prefix}/align/key`, gated, d, E, "linear"); // [B, K, E]
  const values = denseLayer(ops, `${prefix}/align/value`, gated, d, E, "linear");
  const query = denseLayer(ops, `${prefix}/align/query`, ctx, ctxDim, E, "linear"); // [B, E]
  const scores = ops.scale(ops.reshape(ops.matMul(keys, ops.expandDims(query, 2)), [-1, K]), 1 / Math.sqrt(E));
  // Missing chunks get -1e9 (exactly 0 after softmax); multiplying by the mask zeroes the all-missing case too.
  const penalty = ops.scale(ops.add(mask, ops.constant([-1], [])), MASK_PENALTY);
  const attention = ops.mul(ops.softmax(ops.add(scores, penalty)), mask); // [B, K]
  const pooled = ops.reshape(ops.matMul(ops.expandDims(attention, 1), values), [-1, E]);
  return { know: denseLayer(ops, `${prefix}/align/out`, pooled, E, E, "linear"), gate };
}

function kserExtractor(name: string, flags: KserFlags): Extractor {
  return {
    name,
    usesKnowledge: true,
    user: (ops, cfg) => extractSide(ops, cfg, "user", [...userFieldEmbeddings(ops, cfg), ...historyEmbeddings(ops, cfg)], flags),
    item: (ops, cfg) => extractSide(ops, cfg, "item", itemFieldEmbeddings(ops, cfg), flags),
  };
}

export const kser = kserExtractor("kser", { filter: true, align: true });
export const kserNoFilter = kserExtractor("kser-nofilter", { filter: false, align: true });
export const kserNoAlign = kserExtractor("kser-noalign", { filter: true, align: false });
