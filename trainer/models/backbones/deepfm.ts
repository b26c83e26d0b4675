/**
 * DeepFM with KAR-style knowledge integration: the FM term covers the feature fields (target item, user, pooled
 * history); the DNN sees those fields plus the aligned knowledge vectors as extra fields.
 */
import { denseLayer, mlp, type Ops } from "../../ops/ops.ts";
import { MODEL_DEFAULTS, type ModelConfig } from "../config.ts";
import { historyEmbeddings, itemFieldEmbeddings, stackFields, userFieldEmbeddings } from "../embedding.ts";
import type { Backbone, KnowledgeFields } from "./backbone.ts";

function logit<T>(ops: Ops<T>, cfg: ModelConfig, knowledge: KnowledgeFields<T> | null): T {
  const E = cfg.embeddingDim;
  const fields = [...itemFieldEmbeddings(ops, cfg), ...userFieldEmbeddings(ops, cfg), ...historyEmbeddings(ops, cfg)];
  // FM second order: 0.5 * sum_e ((sum_f v_f)^2 - sum_f v_f^2).
  const stacked = stackFields(ops, fields); // [B, F, E]
  const squareOfSum = ops.square(ops.reduceSum(stacked, [1], false));
  const sumOfSquares = ops.reduceSum(ops.square(stacked), [1], false);
  const fm = ops.scale(ops.reduceSum(ops.sub(squareOfSum, sumOfSquares), [1], false), 0.5); // [B]

  const deepFields = knowledge ? [...fields, knowledge.user, knowledge.item] : fields;
  const deepIn = ops.concat(deepFields, 1);
  const hidden = mlp(ops, "core/dnn", deepIn, deepFields.length * E, MODEL_DEFAULTS.hidden, "relu");
  const deep = ops.reshape(denseLayer(ops, "out/dnn", hidden.out, hidden.dim, 1, "linear"), [-1]);
  return ops.add(deep, fm);
}

export const deepfm: Backbone = { name: "deepfm", logit };
