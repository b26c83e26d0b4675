/**
 * KAR's hybrid-expert adaptor (RecSys 2024), per knowledge field, on the masked-mean pooled chunk vector x [B, D]:
 *   experts: S shared + N dedicated, each relu(relu(x W1 + b1) W2 + b2), D -> 128 -> E (KAR: 32 = its embedding
 *   size; here the embedding size, so the output is one more field of the backbone);
 *   gate: softmax(x Wg + bg) over the S + N experts; output = sum_x gate_x * expert_x.
 * Shared experts are shared between the user and item fields (one set of parameters, ext/kar/shared/*) when both
 * fields have the same chunk dimension, which is KAR's point (common knowledge vs field-specific); with different
 * dimensions each field gets its own. The gate output is the chunk mask (KAR does not select chunks).
 * All experts run as one wide first layer and one batched second layer to keep the op count low on tfjs-wasm.
 * Missing knowledge (every chunk masked) pools to zeros, so the output is a learned constant vector.
 */
import { denseLayer, type Ops } from "../../ops/ops.ts";
import type { ModelConfig } from "../config.ts";
import type { Extractor, ExtractorOutput } from "./extractor.ts";
import { pooledKnowledge } from "./pooled.ts";

export const KAR_SHARED_EXPERTS = 2;
export const KAR_DEDICATED_EXPERTS = 3;
const EXPERT_HIDDEN = 128;

/** The experts' parameters as [first-layer w, first-layer b, second-layer w, second-layer b], `count` experts. */
function expertParams<T>(ops: Ops<T>, prefix: string, count: number, D: number, E: number): T[] {
  return [
    ops.param(`${prefix}/l1/w`, [D, count * EXPERT_HIDDEN], { kind: "glorot" }),
    ops.param(`${prefix}/l1/b`, [count * EXPERT_HIDDEN], { kind: "zeros" }),
    // Per expert [128, E]: glorot over the last two axes.
    ops.param(`${prefix}/l2/w`, [count, EXPERT_HIDDEN, E], { kind: "glorot" }),
    ops.param(`${prefix}/l2/b`, [count, 1, E], { kind: "zeros" }),
  ];
}

function adaptor<T>(ops: Ops<T>, cfg: ModelConfig, side: "user" | "item", dedicated: number): ExtractorOutput<T> {
  const { pooled, mask, dim: D } = pooledKnowledge(ops, cfg, side, "kar");
  const E = cfg.embeddingDim;
  const k = cfg.knowledge!;
  const sharedPrefix = k.user.dim === k.item.dim ? "ext/kar/shared" : `ext/${side}/kar/shared`;
  const shared = expertParams(ops, sharedPrefix, KAR_SHARED_EXPERTS, D, E);
  const own = expertParams(ops, `ext/${side}/kar/dedicated`, dedicated, D, E);
  const X = KAR_SHARED_EXPERTS + dedicated;

  const w1 = ops.concat([shared[0], own[0]], 1);
  const b1 = ops.concat([shared[1], own[1]], 0);
  const hidden = ops.reshape(ops.dense(pooled, w1, b1, "relu"), [-1, X, EXPERT_HIDDEN]); // [B, X, 128]
  const perExpert = ops.transpose(hidden, [1, 0, 2]); // [X, B, 128]
  const w2 = ops.concat([shared[2], own[2]], 0);
  const b2 = ops.concat([shared[3], own[3]], 0);
  const outs = ops.transpose(ops.relu(ops.add(ops.matMul(perExpert, w2), b2)), [1, 0, 2]); // [B, X, E]

  const gate = ops.softmax(denseLayer(ops, `ext/${side}/kar/gate`, pooled, D, X, "linear")); // [B, X]
  const know = ops.reshape(ops.matMul(ops.expandDims(gate, 1), outs), [-1, E]);
  return { know, gate: mask };
}

export function karExtractor(dedicated = KAR_DEDICATED_EXPERTS, name = "kar"): Extractor {
  if (!(Number.isInteger(dedicated) && dedicated >= 1)) throw new Error(`KAR needs at least one dedicated expert, got ${dedicated}`);
  return {
    name,
    usesKnowledge: true,
    user: (ops, cfg) => adaptor(ops, cfg, "user", dedicated),
    item: (ops, cfg) => adaptor(ops, cfg, "item", dedicated),
  };
}

export const kar = karExtractor();
