/**
 * DIN (Zhou et al., KDD 2018): target attention over the history. Each position's weight comes from an attention
 * MLP over [q, k, q - k, q * k] (q: the target item's fields, k: the history item's fields), masked, NOT softmax-
 * normalised (DIN keeps the intensity of interest). The interest is the weighted sum of the history positions
 * (item fields and rating). Then, as in KAR: concat(interest, query, user fields, knowledge) -> MLP [200, 80].
 * Simplification: ReLU instead of Dice/PReLU.
 */
import { denseLayer, mlp, type Ops } from "../../ops/ops.ts";
import type { ModelConfig } from "../config.ts";
import { userFieldEmbeddings } from "../embedding.ts";
import type { Backbone, KnowledgeFields } from "./backbone.ts";
import { historySequence } from "./inputs.ts";

const ATTENTION_HIDDEN = [80, 40];
const HIDDEN = [200, 80];

function logit<T>(ops: Ops<T>, cfg: ModelConfig, knowledge: KnowledgeFields<T> | null): T {
  const E = cfg.embeddingDim;
  const L = cfg.spec.historyLength;
  const H = cfg.spec.itemFields.length * E;
  const { items, ratings, mask, query } = historySequence(ops, cfg);
  // q broadcast over the L positions (tfjs and ONNX both broadcast Mul): [B, L, H].
  const q = ops.mul(ops.expandDims(query, 1), ops.constant(new Array(L).fill(1), [1, L, 1]));
  const unitIn = ops.concat([q, items, ops.sub(q, items), ops.mul(q, items)], 2); // [B, L, 4H]
  const hidden = mlp(ops, "core/attention", unitIn, 4 * H, ATTENTION_HIDDEN, "relu");
  const weights = ops.mul(ops.reshape(denseLayer(ops, "core/attention/score", hidden.out, hidden.dim, 1, "linear"), [-1, L]), mask);
  const values = ops.concat([items, ratings], 2); // [B, L, H + E]
  const interest = ops.reshape(ops.matMul(ops.expandDims(weights, 1), values), [-1, H + E]);

  const parts = [interest, query, ...userFieldEmbeddings(ops, cfg), ...(knowledge ? [knowledge.user, knowledge.item] : [])];
  const width = H + E + H + E * (cfg.spec.userFields.length + (knowledge ? 2 : 0));
  const deep = mlp(ops, "core/dnn", ops.concat(parts, 1), width, HIDDEN, "relu");
  return ops.reshape(denseLayer(ops, "out/logit", deep.out, deep.dim, 1, "linear"), [-1]);
}

export const din: Backbone = { name: "din", logit };
