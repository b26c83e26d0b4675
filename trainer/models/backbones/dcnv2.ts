/**
 * DCN-V2 (Wang et al., WWW 2021), parallel form: x0 = concat(all fields, knowledge vectors as extra fields, as KAR
 * does for DCN); cross layers x_{l+1} = x0 * (x_l W_l + b_l) + x_l with full-rank W_l [D, D]; a deep MLP on x0 in
 * parallel; the output layer reads concat(x_L, deep).
 */
import { denseLayer, mlp, type Ops } from "../../ops/ops.ts";
import type { ModelConfig } from "../config.ts";
import type { Backbone, KnowledgeFields } from "./backbone.ts";
import { allFields } from "./inputs.ts";

const CROSS_LAYERS = 2;
const HIDDEN = [256, 128];

function logit<T>(ops: Ops<T>, cfg: ModelConfig, knowledge: KnowledgeFields<T> | null): T {
  const fields = allFields(ops, cfg, knowledge);
  const D = fields.length * cfg.embeddingDim;
  const x0 = ops.concat(fields, 1);
  let x = x0;
  for (let l = 0; l < CROSS_LAYERS; l++) x = ops.add(ops.mul(x0, denseLayer(ops, `core/cross/${l}`, x, D, D, "linear")), x);
  const deep = mlp(ops, "core/dnn", x0, D, HIDDEN, "relu");
  return ops.reshape(denseLayer(ops, "out/logit", ops.concat([x, deep.out], 1), D + deep.dim, 1, "linear"), [-1]);
}

export const dcnv2: Backbone = { name: "dcnv2", logit };
