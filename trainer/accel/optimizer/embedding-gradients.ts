/**
 * Sparse gradients for embedding tables. tfjs differentiates tf.gather into a dense [V, E] table gradient (a
 * segment sum over the whole vocabulary, then a dense optimizer update of every row and its moments). Here each
 * lookup of a sparse table goes through tf.customGrad: the forward pass is the same tf.gather (same function, same
 * values), and the backward pass adds the [N, E] output gradient into per-table row sums (row-sums.ts) instead of
 * producing a table gradient; the optimizer then updates only the touched rows (lazy AdamW).
 *
 * The custom op needs one input on the tape so that the backward pass reaches it: a scalar "anchor" variable, in
 * the variable list of tf.variableGrads, with a zero gradient that is ignored.
 *
 * On the wasm backend with our layout kernel the sums stay on the heap (row-sums-heap.ts): the forward pass copies
 * the lookup's ids to a heap buffer there (the ids tensor does not outlive it) and the backward pass adds the
 * gradient rows where they are.
 */
import * as tf from "@tensorflow/tfjs-core";
import { layoutFor } from "../kernels/layout/layout.ts";
import { type WasmBackend, type WasmHeap, wasmHeapOf } from "../wasm/heap.ts";
import { readValues } from "./adam-moments.ts";
import { RowAccumulator, type RowSums } from "./row-sums.ts";
import { HeapRowSums } from "./row-sums-heap.ts";

let anchors = 0;

export class EmbeddingGradients {
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

  dispose(): void {
    this.reset();
    for (const acc of this.rows.values()) if (acc instanceof HeapRowSums) acc.dispose();
    this.anchor.dispose();
    this.byTensor.clear();
    this.rows.clear();
  }
}
