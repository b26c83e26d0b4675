/**
 * xDeepFM (Lian et al., KDD 2018): a Compressed Interaction Network plus a DNN over the same fields (knowledge
 * vectors as extra fields). CIN layer k: Z = outer products of X^{k-1} and X^0 along each embedding dimension,
 * [B, E, H_{k-1} * F], compressed to H_k feature maps by a 1x1 "convolution" (a dense layer over that axis); each
 * layer is sum-pooled over E. Kept in [B, E, H] layout so no transposes are needed per layer.
 * Simplification: the first-order linear term over one-hot features is replaced by the output layer also reading
 * the flattened field embeddings (a linear term over the embeddings).
 */
import { denseLayer, mlp, type Ops } from "../../ops/ops.ts";
import { MODEL_DEFAULTS, type ModelConfig } from "../config.ts";
import type { Backbone, KnowledgeFields } from "./backbone.ts";
import { fieldSet } from "./inputs.ts";

const CIN_LAYERS = [16, 16];

function logit<T>(ops: Ops<T>, cfg: ModelConfig, knowledge: KnowledgeFields<T> | null): T {
  const E = cfg.embeddingDim;
  const { fields, F, stacked } = fieldSet(ops, cfg, knowledge);
  const x0 = ops.transpose(stacked, [0, 2, 1]); // [B, E, F]
  const x0Wide = ops.expandDims(x0, 2); // [B, E, 1, F]
  let xk = x0;
  let hk = F;
  const pooled: T[] = [];
  CIN_LAYERS.forEach((h, k) => {
    const z = ops.reshape(ops.mul(ops.expandDims(xk, 3), x0Wide), [-1, E, hk * F]); // [B, E, H_{k-1}*F]
    xk = denseLayer(ops, `core/cin/${k}`, z, hk * F, h, "linear"); // [B, E, H_k]
    hk = h;
    pooled.push(ops.reduceSum(xk, [1], false)); // [B, H_k]
  });
  const flat = ops.concat(fields, 1);
  const deep = mlp(ops, "core/dnn", flat, F * E, MODEL_DEFAULTS.hidden, "relu");
  const cinWidth = CIN_LAYERS.reduce((s, h) => s + h, 0);
  const outIn = ops.concat([...pooled, deep.out, flat], 1);
  return ops.reshape(denseLayer(ops, "out/logit", outIn, cinWidth + deep.dim + F * E, 1, "linear"), [-1]);
}

export const xdeepfm: Backbone = {
  name: "xdeepfm",
  logit,
  noExtractorOnly: "its CIN multiplies every pair of fields, the knowledge fields included",
};
