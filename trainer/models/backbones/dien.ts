/**
 * DIEN (Zhou et al., AAAI 2019), written with the op interface and unrolled over the fixed history length L:
 *  - Interest extraction: a GRU over the history (item fields + rating per position); padded positions (mask 0)
 *    leave the state unchanged, so left or right padding both work.
 *  - Interest evolution: attention of the target item over the extracted states, a_t = masked softmax of
 *    (h_t W_a) . q, then an AUGRU (GRU whose update gate is scaled by a_t) over the states; its last state is the
 *    evolved interest. Padded positions have a_t = 0 and leave the AUGRU state unchanged too.
 *  - As in KAR: concat(interest, query, user fields, knowledge) -> MLP [200, 80] -> output layer.
 * Simplifications: no auxiliary loss (it needs sampled negative histories, which the data protocol lacks);
 * bias on the input side of each gate only; ReLU MLP.
 */
import { denseLayer, mlp, type Ops } from "../../ops/ops.ts";
import type { ModelConfig } from "../config.ts";
import { userFieldEmbeddings } from "../embedding.ts";
import type { Backbone, KnowledgeFields } from "./backbone.ts";
import { historySequence, maskedSoftmax } from "./inputs.ts";

const HIDDEN = [200, 80];

interface GruInputs<T> {
  z: T;
  r: T;
  n: T;
}

/**
 * One (AU)GRU over L steps. Input-side projections for all steps are computed once ([B, L, G] each);
 * `scale(t)` multiplies the update gate at step t ([B, 1]: the mask for the GRU, the attention for the AUGRU).
 */
function unrolledGru<T>(ops: Ops<T>, name: string, x: GruInputs<T>, G: number, L: number, scale: (t: number) => T): T[] {
  const u = (gate: string) => ops.param(`${name}/${gate}_h`, [G, G], { kind: "glorot" });
  const states: T[] = [];
  let h: T | null = null;
  for (let t = 0; t < L; t++) {
    const xz = ops.select(x.z, 1, t);
    const xr = ops.select(x.r, 1, t);
    const xn = ops.select(x.n, 1, t);
    const s = scale(t);
    if (h === null) {
      // h_{-1} = 0: every h-side term vanishes, h_0 = s * z * n.
      h = ops.mul(ops.mul(s, ops.sigmoid(xz)), ops.tanh(xn));
    } else {
      const z = ops.mul(s, ops.sigmoid(ops.add(xz, ops.dense(h, u("z"), null, "linear"))));
      const r = ops.sigmoid(ops.add(xr, ops.dense(h, u("r"), null, "linear")));
      const n = ops.tanh(ops.add(xn, ops.mul(r, ops.dense(h, u("n"), null, "linear"))));
      // h' = (1 - z) * h + z * n
      h = ops.add(h, ops.mul(z, ops.sub(n, h)));
    }
    states.push(h);
  }
  return states;
}

function inputProjections<T>(ops: Ops<T>, name: string, seq: T, inDim: number, G: number): GruInputs<T> {
  return {
    z: denseLayer(ops, `${name}/z_x`, seq, inDim, G, "linear"),
    r: denseLayer(ops, `${name}/r_x`, seq, inDim, G, "linear"),
    n: denseLayer(ops, `${name}/n_x`, seq, inDim, G, "linear"),
  };
}

function logit<T>(ops: Ops<T>, cfg: ModelConfig, knowledge: KnowledgeFields<T> | null): T {
  const E = cfg.embeddingDim;
  const L = cfg.spec.historyLength;
  const G = cfg.spec.itemFields.length * E; // hidden size = query width, so the attention is a bilinear form
  const { items, ratings, mask, query } = historySequence(ops, cfg);
  const seq = ops.concat([items, ratings], 2); // [B, L, G + E]
  const maskAt = (t: number) => ops.expandDims(ops.select(mask, 1, t), 1); // [B, 1]

  const extracted = unrolledGru(ops, "core/gru", inputProjections(ops, "core/gru", seq, G + E, G), G, L, maskAt);
  const states = ops.concat(
    extracted.map((h) => ops.expandDims(h, 1)),
    1,
  ); // [B, L, G]
  const projected = ops.dense(states, ops.param("core/attention", [G, G], { kind: "glorot" }), null, "linear");
  const scores = ops.reshape(ops.matMul(projected, ops.expandDims(query, 2)), [-1, L]);
  const attention = maskedSoftmax(ops, scores, mask); // [B, L]
  const evolved = unrolledGru(ops, "core/augru", inputProjections(ops, "core/augru", states, G, G), G, L, (t) =>
    ops.expandDims(ops.select(attention, 1, t), 1),
  );
  const interest = evolved[L - 1];

  const parts = [interest, query, ...userFieldEmbeddings(ops, cfg), ...(knowledge ? [knowledge.user, knowledge.item] : [])];
  const width = 2 * G + E * (cfg.spec.userFields.length + (knowledge ? 2 : 0));
  const deep = mlp(ops, "core/dnn", ops.concat(parts, 1), width, HIDDEN, "relu");
  return ops.reshape(denseLayer(ops, "out/logit", deep.out, deep.dim, 1, "linear"), [-1]);
}

export const dien: Backbone = { name: "dien", logit };
