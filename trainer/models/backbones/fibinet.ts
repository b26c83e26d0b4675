/**
 * FiBiNET (Huang et al., RecSys 2019) on the fields (knowledge vectors as extra fields):
 *  - SENET: squeeze each field to its mean over E, excite with two dense layers (reduction ratio 3, ReLU both, as
 *    in the paper), re-weight the fields: V = X * A.
 *  - Bilinear interaction, "field-all" type: p_ij = (v_i W) * v_j for every pair i < j, one W per branch
 *    (original X and SENET V); the pairs are taken with constant indices (the take op).
 *  - DNN over concat(p, q) flattened, then the output layer.
 * Simplification: no first-order linear part.
 */
import { denseLayer, mlp, type Ops } from "../../ops/ops.ts";
import { MODEL_DEFAULTS, type ModelConfig } from "../config.ts";
import type { Backbone, KnowledgeFields } from "./backbone.ts";
import { fieldSet } from "./inputs.ts";

const REDUCTION = 3;

function logit<T>(ops: Ops<T>, cfg: ModelConfig, knowledge: KnowledgeFields<T> | null): T {
  const E = cfg.embeddingDim;
  const { F, stacked: x } = fieldSet(ops, cfg, knowledge); // x: [B, F, E]
  const squeezed = ops.reduceMean(x, [2], false); // [B, F]
  const reduced = Math.max(1, Math.ceil(F / REDUCTION));
  const excite = denseLayer(ops, "core/senet/1", denseLayer(ops, "core/senet/0", squeezed, F, reduced, "relu"), reduced, F, "relu");
  const v = ops.mul(x, ops.expandDims(excite, 2));

  const left: number[] = [];
  const right: number[] = [];
  for (let i = 0; i < F; i++)
    for (let j = i + 1; j < F; j++) {
      left.push(i);
      right.push(j);
    }
  const P = left.length;
  const bilinear = (name: string, t: T) => {
    const w = ops.param(`core/bilinear/${name}`, [E, E], { kind: "glorot" });
    return ops.reshape(ops.mul(ops.take(ops.matMul(t, w), 1, left), ops.take(t, 1, right)), [-1, P * E]);
  };
  const pairs = ops.concat([bilinear("x", x), bilinear("senet", v)], 1);
  const deep = mlp(ops, "core/dnn", pairs, 2 * P * E, MODEL_DEFAULTS.hidden, "relu");
  return ops.reshape(denseLayer(ops, "out/logit", deep.out, deep.dim, 1, "linear"), [-1]);
}

export const fibinet: Backbone = {
  name: "fibinet",
  logit,
  noExtractorOnly: "its SENET reweights every field by a squeeze over all of them, the knowledge fields included",
};
