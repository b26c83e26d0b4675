/**
 * Sparse gradients for embedding tables while training: a training-only TfOps routes each lookup of a sparse table
 * through the accelerators' EmbeddingGradients (row sums instead of a dense table gradient; trainer/accel), and
 * sparseTables finds the tables that can take them. After the step, AdamW.apply updates only the touched rows
 * (lazy Adam, see optimizer.ts).
 */
import * as tf from "@tensorflow/tfjs-core";
import { EmbeddingGradients } from "../accel/index.ts";
import { type ParamStore, TfOps } from "../ops/tf-ops.ts";

/** Embedding gradients whose lookups come from a model's forward pass (through `ops`). */
export class SparseEmbeddings extends EmbeddingGradients {
  ops(params: ParamStore, feeds: Map<string, tf.Tensor>): TfOps {
    return new SparseTfOps(params, feeds, this);
  }
}

/** TfOps whose gather of a sparse table records row gradients (same forward values as TfOps). */
class SparseTfOps extends TfOps {
  constructor(
    params: ParamStore,
    feeds: Map<string, tf.Tensor>,
    private readonly sparse: SparseEmbeddings,
  ) {
    super(params, feeds);
  }
  override gather(table: tf.Tensor, ids: tf.Tensor) {
    return this.sparse.gather(table, ids);
  }
}

/** Records which tensors a forward pass passes to gather as the table. */
class GatherRecorder extends TfOps {
  constructor(
    params: ParamStore,
    feeds: Map<string, tf.Tensor>,
    private readonly tables: Set<tf.Tensor>,
  ) {
    super(params, feeds);
  }
  override gather(table: tf.Tensor, ids: tf.Tensor) {
    this.tables.add(table);
    return super.gather(table, ids);
  }
}

/** Builds a model's loss on a small batch from an Ops factory (the factory gets the batch's feeds). */
export type LossProbe = (ops: (feeds: Map<string, tf.Tensor>) => TfOps) => tf.Scalar;

/**
 * The trainable parameters that can take sparse updates: gathered tables with no other use. A table that still
 * gets a dense gradient when its lookups go through the sparse path is read some other way too, and stays dense.
 */
export function sparseTables(params: ParamStore, trainable: Map<string, tf.Variable>, loss: LossProbe): Map<string, tf.Variable> {
  const gathered = new Set<tf.Tensor>();
  tf.tidy(() => {
    loss((feeds) => new GatherRecorder(params, feeds, gathered));
  });
  const candidates = new Map<string, tf.Variable>();
  for (const [name, v] of trainable) if (gathered.has(v) && v.rank >= 2) candidates.set(name, v);
  if (candidates.size === 0) return candidates;
  const probe = new SparseEmbeddings(candidates);
  try {
    const list = [...candidates.values()];
    tf.tidy(() => {
      const { grads } = tf.variableGrads(() => loss((feeds) => probe.ops(params, feeds)), [...list, probe.anchor]);
      for (const [name, v] of [...candidates]) if (grads[v.name]) candidates.delete(name);
    });
  } finally {
    probe.dispose();
  }
  return candidates;
}
