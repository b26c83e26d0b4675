/**
 * Sparse gradients for embedding tables. tfjs differentiates tf.gather into a dense [V, E] table gradient (a
 * segment sum over the whole vocabulary, then a dense optimizer update of every row and its moments). Here a
 * training-only TfOps routes each lookup of a sparse table through tf.customGrad: the forward pass is the same
 * tf.gather (same function, same values), and the backward pass adds the [N, E] output gradient into per-table
 * row accumulators in JS instead of producing a table gradient. After the step, AdamW.apply updates only the
 * touched rows (lazy Adam, see optimizer.ts).
 *
 * The custom op needs one input on the tape so that the backward pass reaches it: a scalar "anchor" variable, in
 * the variable list of tf.variableGrads, with a zero gradient that is ignored.
 *
 * On the wasm backend with our layout kernel the sums stay on the heap (row-sums-heap.ts): the forward pass copies
 * the lookup's ids to a heap buffer there (the ids tensor does not outlive it) and the backward pass adds the
 * gradient rows where they are.
 */
import * as tf from "@tensorflow/tfjs-core";
import { type ParamStore, TfOps } from "../ops/tf-ops.ts";
import { type WasmBackend, type WasmHeap, wasmHeapOf } from "../runtime/wasm-heap.ts";
import { layoutFor } from "../runtime/wasm-layout.ts";
import { readValues } from "./adam-moments.ts";
import { HeapRowSums, type RowSums } from "./row-sums-heap.ts";

/** Summed row gradients of one table over a step, in first-touched order (in JS). */
export class RowAccumulator implements RowSums {
  ids: Int32Array;
  values: Float32Array;
  count = 0;
  /** id -> slot in ids/values, -1 when untouched this step. */
  private readonly slot: Int32Array;

  constructor(
    readonly rows: number,
    readonly rowSize: number,
  ) {
    this.slot = new Int32Array(rows).fill(-1);
    const capacity = Math.min(rows, 1024);
    this.ids = new Int32Array(capacity);
    this.values = new Float32Array(capacity * rowSize);
  }

  /** grad row i belongs to table row ids[i]. */
  add(ids: ArrayLike<number>, grad: Float32Array): void {
    const E = this.rowSize;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!(id >= 0 && id < this.rows)) throw new Error(`embedding row ${id} is not in [0, ${this.rows - 1}]`);
      let s = this.slot[id];
      if (s < 0) {
        s = this.count++;
        if (s === this.ids.length) this.grow();
        this.slot[id] = s;
        this.ids[s] = id;
        this.values.fill(0, s * E, (s + 1) * E);
      }
      const dst = s * E;
      const src = i * E;
      for (let j = 0; j < E; j++) this.values[dst + j] += grad[src + j];
    }
  }

  reset(): void {
    for (let s = 0; s < this.count; s++) this.slot[this.ids[s]] = -1;
    this.count = 0;
  }

  private grow(): void {
    const capacity = Math.min(this.rows, this.ids.length * 2);
    const ids = new Int32Array(capacity);
    ids.set(this.ids);
    const values = new Float32Array(capacity * this.rowSize);
    values.set(this.values);
    this.ids = ids;
    this.values = values;
  }
}

let anchors = 0;

export class SparseEmbeddings {
  /** Accumulators by parameter name. */
  readonly rows = new Map<string, RowSums>();
  private readonly byTensor = new Map<tf.Tensor, RowAccumulator | HeapRowSums>();
  readonly anchor: tf.Variable;
  /** The wasm heap, when the sums are kept there. */
  private readonly heap: WasmHeap | null;
  /** Heap copies of lookup ids whose backward pass has not run yet (freed by it, or by reset). */
  private readonly pendingIds = new Set<number>();

  /** tables: trainable [V, E...] variables that the model only reads through gather. */
  constructor(tables: Map<string, tf.Variable>) {
    this.anchor = tf.variable(tf.scalar(0), true, `sparse-embeddings-anchor-${anchors++}`);
    const backend = tf.backend();
    const layout = layoutFor(backend);
    this.heap = layout ? wasmHeapOf(backend) : null;
    for (const [name, t] of tables) {
      const rows = t.shape[0];
      const rowSize = t.size / rows;
      const acc = layout && this.heap ? new HeapRowSums(this.heap, layout, rows, rowSize) : new RowAccumulator(rows, rowSize);
      this.rows.set(name, acc);
      this.byTensor.set(t, acc);
    }
  }

  /** Clears the row gradients (call before each step's forward pass). */
  reset(): void {
    for (const acc of this.rows.values()) acc.reset();
    for (const at of this.pendingIds) this.heap?.free(at);
    this.pendingIds.clear();
  }

  /** A table lookup whose gradient goes to the table's row accumulator (plain tf.gather for other tables). */
  gather(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
    const acc = this.byTensor.get(table);
    if (!acc) return tf.gather(table, ids, 0);
    // (Ids that are not int32 make tf.gather throw, on either path, before anything is copied.)
    if (acc instanceof HeapRowSums) return this.gatherOnHeap(table, ids, acc);
    const lookup = tf.customGrad((anchor) => {
      const value = tf.gather(table, ids, 0);
      // Read the ids now: the ids tensor does not outlive the forward pass.
      const idValues = ids.dataSync() as Int32Array;
      return {
        value,
        gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
          acc.add(idValues, readValues(dy as tf.Tensor));
          return tf.zerosLike(anchor as tf.Tensor);
        },
      };
    });
    return lookup(this.anchor);
  }

  private gatherOnHeap(table: tf.Tensor, ids: tf.Tensor, acc: HeapRowSums): tf.Tensor {
    const heap = this.heap!;
    const backend = tf.backend() as WasmBackend;
    const lookup = tf.customGrad((anchor) => {
      const value = tf.gather(table, ids, 0);
      const n = ids.size;
      const pending = heap.malloc(4 * Math.max(1, n));
      if (pending === 0) throw new Error(`sparse embedding gradients: the wasm heap has no room for ${n} ids`);
      this.pendingIds.add(pending);
      const from = backend.getMemoryOffset(ids.dataId) / 4;
      new Int32Array(heap.memory.buffer).copyWithin(pending / 4, from, from + n);
      return {
        value,
        gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
          const grad = dy as tf.Tensor;
          if (grad.dtype !== "float32" || grad.size !== n * acc.rowSize)
            throw new Error(`sparse embedding gradient of shape [${grad.shape}] does not match ${n} ids of ${acc.rowSize}`);
          acc.add(pending, backend.getMemoryOffset(grad.dataId), n);
          this.pendingIds.delete(pending);
          heap.free(pending);
          return tf.zerosLike(anchor as tf.Tensor);
        },
      };
    });
    return lookup(this.anchor);
  }

  ops(params: ParamStore, feeds: Map<string, tf.Tensor>): TfOps {
    return new SparseTfOps(params, feeds, this);
  }

  dispose(): void {
    this.reset();
    for (const acc of this.rows.values()) if (acc instanceof HeapRowSums) acc.dispose();
    this.anchor.dispose();
    this.byTensor.clear();
    this.rows.clear();
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
