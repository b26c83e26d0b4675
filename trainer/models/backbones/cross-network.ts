/**
 * The DCN family's shared body (DCN and DCN-V2, parallel form): x0 = concat(all fields, knowledge vectors as extra
 * fields, as KAR does for DCN); cross layers x_{l+1} = cross_l(x0, x_l) + x_l; a deep MLP on x0 in parallel; the
 * output layer reads concat(x_L, deep). The two differ only in the cross term.
 */
import { denseLayer, mlp, type Ops } from "../../ops/ops.ts";
import { MODEL_DEFAULTS, type ModelConfig } from "../config.ts";
import type { Backbone, KnowledgeFields } from "./backbone.ts";
import { allFields } from "./inputs.ts";

/** Cross layer `layer`'s term before the residual, from x0 and x_l (both [B, D]); params under core/cross/<layer>. */
export type CrossTerm = <T>(ops: Ops<T>, x0: T, x: T, layer: number, D: number) => T;

/** A DCN-family backbone with `layers` cross layers of the given term. */
export function crossNetwork(name: string, layers: number, cross: CrossTerm): Backbone {
  return {
    name,
    logit: (ops, cfg, knowledge) => crossNetworkLogit(ops, cfg, knowledge, layers, cross),
    // The output layer reads concat(x_L, deep): x_L's knowledge entries come before the deep part's rows.
    knowledgeRowsAt: (param, rows) => (param === "out/logit/w" ? rows - MODEL_DEFAULTS.hidden[MODEL_DEFAULTS.hidden.length - 1] : rows),
  };
}

function crossNetworkLogit<T>(ops: Ops<T>, cfg: ModelConfig, knowledge: KnowledgeFields<T> | null, layers: number, cross: CrossTerm): T {
  const fields = allFields(ops, cfg, knowledge);
  const D = fields.length * cfg.embeddingDim;
  const x0 = ops.concat(fields, 1);
  let x = x0;
  for (let l = 0; l < layers; l++) x = ops.add(cross(ops, x0, x, l, D), x);
  const deep = mlp(ops, "core/dnn", x0, D, MODEL_DEFAULTS.hidden, "relu");
  return ops.reshape(denseLayer(ops, "out/logit", ops.concat([x, deep.out], 1), D + deep.dim, 1, "linear"), [-1]);
}
