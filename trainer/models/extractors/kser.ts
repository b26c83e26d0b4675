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
import { historyEmbeddings, itemFieldEmbeddings, ratedHistoryEmbedding, userFieldEmbeddings } from "../embedding.ts";
import { alignKnowledge } from "./alignment.ts";
import { esfGate } from "./esfnet.ts";
import type { Extractor, ExtractorOutput } from "./extractor.ts";

const EPS = 1e-6;

interface KserFlags {
  filter: boolean;
  align: boolean;
}

/**
 * `context`: the side's feature embeddings, the query of the alignment. `behaviour`: the part of them learned from
 * interactions (item id; the user's history), against which ESFNet checks that a chunk belongs to its entity; a chunk
 * that only restates a visible feature gains nothing there.
 */
function extractSide<T>(
  ops: Ops<T>,
  cfg: ModelConfig,
  side: "user" | "item",
  { context, behaviour }: { context: T[]; behaviour: T[] },
  flags: KserFlags,
): ExtractorOutput<T> {
  const shape = cfg.knowledge?.[side];
  if (!shape) throw new Error("the KSER extractor needs knowledge shapes in the model config");
  const { chunks: K, dim: d } = shape;
  const E = cfg.embeddingDim;
  const prefix = `ext/${side}`;
  const chunks = ops.input(`${side}_chunks`, "float32", [-1, K, d]);
  const mask = ops.input(`${side}_chunk_mask`, "float32", [-1, K]);
  const ctx = ops.concat(context, 1); // [B, C*E]
  const ctxDim = context.length * E;

  const evidence = { ctx: ops.concat(behaviour, 1), ctxDim: behaviour.length * E };
  const esf = flags.filter ? esfGate(ops, `${prefix}/esf`, { chunks, mask, ...evidence, K, d }) : null;
  const gate = esf ? esf.gate : mask;
  const consistency = esf ? { consistency: esf.consistency, belongs: esf.belongs } : {};
  if (!flags.align) {
    // The gate-weighted mean of the chunks, projected: selection without alignment.
    const weights = ops.div(gate, ops.add(ops.reduceSum(gate, [1], true), ops.constant([EPS], [])));
    const mean = ops.reshape(ops.matMul(ops.expandDims(weights, 1), chunks), [-1, d]);
    return { know: denseLayer(ops, `${prefix}/proj`, mean, d, E, "linear"), gate, ...consistency };
  }
  return { know: alignKnowledge(ops, prefix, { chunks, mask, gate, ctx, ctxDim, K, d, E }), gate, ...consistency };
}

function kserExtractor(name: string, flags: KserFlags): Extractor {
  return {
    name,
    usesKnowledge: true,
    contrastive: flags.filter,
    user: (ops, cfg) => {
      const history = [...historyEmbeddings(ops, cfg), ratedHistoryEmbedding(ops, cfg, "ext/user/taste/rating")];
      return extractSide(ops, cfg, "user", { context: [...userFieldEmbeddings(ops, cfg), ...history], behaviour: history }, flags);
    },
    item: (ops, cfg) => {
      const fields = itemFieldEmbeddings(ops, cfg);
      return extractSide(ops, cfg, "item", { context: fields, behaviour: fields.slice(0, 1) }, flags);
    },
  };
}

export const kser = kserExtractor("kser", { filter: true, align: true });
export const kserNoFilter = kserExtractor("kser-nofilter", { filter: false, align: true });
export const kserNoAlign = kserExtractor("kser-noalign", { filter: true, align: false });
