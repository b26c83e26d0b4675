/**
 * The reference model of shared/notes/trainer-runtime.md, written once against the op interface: 8 id fields of
 * 16-d over 10k-row tables, two 128-d dense inputs projected to 16-d by ReLU layers, MLP 160-256-128-1. bench:train
 * times it in tfjs; bench/gpu turns the same definition into its PyTorch twin.
 */
import { denseLayer, mlp, type Ops } from "../trainer/ops/ops.ts";

export const REFERENCE_SHAPE = { idFields: 8, vocab: 10_000, embedding: 16, denseInputs: 2, denseDim: 128, batch: 1024 } as const;

/** Logits [B] from ids [B, 8] (int32) and the two dense inputs [B, 128]. */
export function referenceShapeLogit<T>(ops: Ops<T>, ids: T, dense: T[]): T {
  const { idFields, vocab, embedding, denseDim } = REFERENCE_SHAPE;
  const fields = Array.from({ length: idFields }, (_, f) =>
    ops.gather(ops.param(`emb/f${f}`, [vocab, embedding], { kind: "normal", std: 0.01 }), ops.select(ids, 1, f)),
  );
  const projected = dense.map((x, i) => denseLayer(ops, `core/dense${i}`, x, denseDim, embedding, "relu"));
  const inDim = (idFields + dense.length) * embedding;
  const h = mlp(ops, "core/mlp", ops.concat([...fields, ...projected], 1), inDim, [256, 128], "relu");
  return ops.reshape(denseLayer(ops, "out", h.out, h.dim, 1, "linear"), [-1]);
}
