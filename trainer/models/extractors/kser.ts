/**
 * KSER's extractor, per knowledge field:
 *  - ESFNet filter (esfnet.ts): a sigmoid gate per chunk from what the chunk says, its slot (aspect), whether it
 *    agrees with the entity's behaviour (item id; the user's history, rated) and whether it coheres with the entity's
 *    other chunks; the agreement part is trained contrastively (own chunks against other entities'), the rest by
 *    the task loss with a small gate sparsity term (KSER_TRAINING, trainer/train/aux-loss.ts).
 *  - Alignment (alignment.ts): multi-head cross-attention from the side's own feature embeddings to the chunks,
 *    with the gate as a prior over them and a learned null slot; one [B, E] vector in the embedding space.
 * Each side is conditioned on its own features only, so item vectors can be precomputed per item. The flags give
 * the ablations (no filter: gate = mask, no training terms; no alignment: the gate-weighted mean of the chunks,
 * projected).
 */
import { denseLayer, type Ops } from "../../ops/ops.ts";
import type { ModelConfig } from "../config.ts";
import { historyEmbeddings, itemFieldEmbeddings, ratedHistoryEmbedding, userFieldEmbeddings } from "../embedding.ts";
import { alignKnowledge } from "./alignment.ts";
import { esfGate } from "./esfnet.ts";
import type { Extractor, ExtractorOutput, ExtractorTraining } from "./extractor.ts";

const EPS = 1e-6;
/** ESFNet's training-only terms (trainer/train/aux-loss.ts); docs/quality.md has the measurements behind them. */
export const KSER_TRAINING: ExtractorTraining = { contrastiveWeight: 0.3, gateSparsity: 0.003 };

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
  const consistency = esf ? { consistency: esf.consistency } : {};
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
    ...(flags.filter ? { training: KSER_TRAINING } : {}),
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
