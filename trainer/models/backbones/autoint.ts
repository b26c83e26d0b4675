/**
 * AutoInt (Song et al., CIKM 2019): the fields (knowledge vectors included as extra fields) as a [B, F, E] set,
 * then layers of multi-head self-attention across fields with a residual projection, relu(attention + x W_res);
 * the output layer reads the flattened result. Scores are scaled by 1/sqrt(d_head) (a standard choice the paper
 * leaves out).
 */
import { denseLayer, type Ops } from "../../ops/ops.ts";
import type { ModelConfig } from "../config.ts";
import type { Backbone, KnowledgeFields } from "./backbone.ts";
import { fieldSet } from "./inputs.ts";

const LAYERS = 2;
const HEADS = 2;

function logit<T>(ops: Ops<T>, cfg: ModelConfig, knowledge: KnowledgeFields<T> | null): T {
  const { F, stacked } = fieldSet(ops, cfg, knowledge);
  const dHead = Math.max(1, Math.ceil(cfg.embeddingDim / HEADS));
  const width = HEADS * dHead;
  let x = stacked; // [B, F, E]
  let dim = cfg.embeddingDim;
  // [B, F, H*dk] -> [B, H, F, dk]
  const heads = (t: T) => ops.transpose(ops.reshape(t, [-1, F, HEADS, dHead]), [0, 2, 1, 3]);
  for (let l = 0; l < LAYERS; l++) {
    const p = `core/attn/${l}`;
    const q = heads(ops.dense(x, ops.param(`${p}/q`, [dim, width], { kind: "glorot" }), null, "linear"));
    const kT = ops.transpose(heads(ops.dense(x, ops.param(`${p}/k`, [dim, width], { kind: "glorot" }), null, "linear")), [0, 1, 3, 2]);
    const v = heads(ops.dense(x, ops.param(`${p}/v`, [dim, width], { kind: "glorot" }), null, "linear"));
    const attention = ops.softmax(ops.scale(ops.matMul(q, kT), 1 / Math.sqrt(dHead))); // [B, H, F, F]
    const merged = ops.reshape(ops.transpose(ops.matMul(attention, v), [0, 2, 1, 3]), [-1, F, width]);
    const residual = ops.dense(x, ops.param(`${p}/res`, [dim, width], { kind: "glorot" }), null, "linear");
    x = ops.relu(ops.add(merged, residual));
    dim = width;
  }
  return ops.reshape(denseLayer(ops, "out/logit", ops.reshape(x, [-1, F * dim]), F * dim, 1, "linear"), [-1]);
}

export const autoint: Backbone = {
  name: "autoint",
  logit,
  noExtractorOnly: "its self-attention spreads every field over the knowledge fields",
};
