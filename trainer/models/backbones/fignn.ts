/**
 * FiGNN (Li et al., CIKM 2019): fields (knowledge vectors included) are nodes of a fully connected graph.
 *  - Edge weights from the initial node states: a_ij = softmax_{j != i} LeakyReLU(w1 . e_i + w2 . e_j), computed
 *    once (the paper's attentional edge weights).
 *  - STEPS rounds of propagation: messages m_i = sum_j a_ij (h_j W), a GRU cell updates every node (parameters
 *    shared across nodes), plus a residual connection to the initial embedding.
 *  - Attentional scoring: logit = sum_i w_i y_i with y_i = h_i . u (out/) and w_i from an MLP on h_i (core/).
 * Simplification: one message matrix W shared by all edges (the paper has per-field in/out matrices).
 */
import { denseLayer, type Ops } from "../../ops/ops.ts";
import type { ModelConfig } from "../config.ts";
import type { Backbone, KnowledgeFields } from "./backbone.ts";
import { fieldSet } from "./inputs.ts";

const STEPS = 2;
const NEGATIVE_SLOPE = 0.2;
const SELF_PENALTY = 1e9;

function logit<T>(ops: Ops<T>, cfg: ModelConfig, knowledge: KnowledgeFields<T> | null): T {
  const E = cfg.embeddingDim;
  const { F, stacked: e } = fieldSet(ops, cfg, knowledge); // e: [B, F, E]

  const src = ops.dense(e, ops.param("core/edge/src", [E, 1], { kind: "glorot" }), null, "linear"); // [B, F, 1]
  const dst = ops.transpose(ops.dense(e, ops.param("core/edge/dst", [E, 1], { kind: "glorot" }), null, "linear"), [0, 2, 1]);
  const raw = ops.add(src, dst); // [B, F, F]
  // LeakyReLU(x) = slope * x + (1 - slope) * relu(x).
  const leaky = ops.add(ops.scale(raw, NEGATIVE_SLOPE), ops.scale(ops.relu(raw), 1 - NEGATIVE_SLOPE));
  const selfLoops = Array.from({ length: F * F }, (_, k) => (Math.floor(k / F) === k % F ? -SELF_PENALTY : 0));
  const adjacency = ops.softmax(ops.add(leaky, ops.constant(selfLoops, [F, F])));

  const gate = (name: string, m: T, h: T) =>
    ops.add(
      denseLayer(ops, `core/gru/${name}_x`, m, E, E, "linear"),
      ops.dense(h, ops.param(`core/gru/${name}_h`, [E, E], { kind: "glorot" }), null, "linear"),
    );
  let h = e;
  for (let s = 0; s < STEPS; s++) {
    const messages = ops.matMul(adjacency, ops.dense(h, ops.param("core/message", [E, E], { kind: "glorot" }), null, "linear"));
    const z = ops.sigmoid(gate("z", messages, h));
    const r = ops.sigmoid(gate("r", messages, h));
    const candidate = ops.tanh(
      ops.add(
        denseLayer(ops, "core/gru/n_x", messages, E, E, "linear"),
        ops.mul(r, ops.dense(h, ops.param("core/gru/n_h", [E, E], { kind: "glorot" }), null, "linear")),
      ),
    );
    // h' = candidate + z * (h - candidate), i.e. (1 - z) * candidate + z * h; then the residual to e.
    h = ops.add(ops.add(candidate, ops.mul(z, ops.sub(h, candidate))), e);
  }
  const nodeScore = ops.reshape(denseLayer(ops, "out/node", h, E, 1, "linear"), [-1, F]);
  const weight = ops.reshape(denseLayer(ops, "core/readout/1", denseLayer(ops, "core/readout/0", h, E, E, "relu"), E, 1, "linear"), [
    -1,
    F,
  ]);
  return ops.reduceSum(ops.mul(nodeScore, weight), [1], false);
}

export const fignn: Backbone = {
  name: "fignn",
  logit,
  noExtractorOnly: "its graph passes messages between every pair of fields, the knowledge fields included",
};
