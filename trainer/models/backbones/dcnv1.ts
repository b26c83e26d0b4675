/**
 * DCN (Wang et al., ADKDD 2017): x0 = concat(all fields, knowledge vectors as extra fields); cross layers
 * x_{l+1} = x0 (x_l . w_l) + b_l + x_l with a weight VECTOR w_l (rank-1, unlike DCNv2); a deep MLP on x0 in
 * parallel; the output layer reads concat(x_L, deep).
 */
import { denseLayer, mlp, type Ops } from "../../ops/ops.ts";
import type { ModelConfig } from "../config.ts";
import type { Backbone, KnowledgeFields } from "./backbone.ts";
import { allFields } from "./inputs.ts";

const CROSS_LAYERS = 3;
const HIDDEN = [256, 128];

function logit<T>(ops: Ops<T>, cfg: ModelConfig, knowledge: KnowledgeFields<T> | null): T {
  const fields = allFields(ops, cfg, knowledge);
  const D = fields.length * cfg.embeddingDim;
  const x0 = ops.concat(fields, 1);
  let x = x0;
  for (let l = 0; l < CROSS_LAYERS; l++) {
    const w = ops.param(`core/cross/${l}/w`, [D, 1], { kind: "glorot" });
    const b = ops.param(`core/cross/${l}/b`, [D], { kind: "zeros" });
    // x0 * (x_l w) broadcasts the [B, 1] scalar over the D features.
    x = ops.add(ops.add(ops.mul(x0, ops.dense(x, w, null, "linear")), b), x);
  }
  const deep = mlp(ops, "core/dnn", x0, D, HIDDEN, "relu");
  return ops.reshape(denseLayer(ops, "out/logit", ops.concat([x, deep.out], 1), D + deep.dim, 1, "linear"), [-1]);
}

export const dcnv1: Backbone = { name: "dcnv1", logit };
