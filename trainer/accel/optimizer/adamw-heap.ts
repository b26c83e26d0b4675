/**
 * AdamW's moments on the tfjs wasm heap and its update in our wasm kernel (kernels/adamw.ts): the JS loop's results
 * to the bit, faster (docs/accelerators.md). Used for training on the wasm backend once the backend set-up has
 * compiled the kernel (backend/wasm.ts); JsAdamMoments everywhere else.
 */
import * as tf from "@tensorflow/tfjs-core";
import { enabledWasmAdamW, instantiateAdamW, type WasmAdamW } from "../kernels/adamw.ts";
import { type WasmBackend, type WasmHeap, wasmHeapOf } from "../wasm/heap.ts";
import { type AdamMoments, type AdamWConstants, type RowGradients, type RowMask, unshare } from "./adam-moments.ts";
import { HeapRowSums } from "./row-sums-heap.ts";

const perBackend = new WeakMap<tf.KernelBackend, { heap: WasmHeap; kernel: WasmAdamW }>();

interface Placement {
  /** Byte offsets of the moments and of the row mask (0: none); element count. */
  m: number;
  v: number;
  mask: number;
  size: number;
}

export class HeapAdamMoments implements AdamMoments {
  private readonly placed = new Map<string, Placement>();

  private constructor(
    private readonly backend: WasmBackend,
    private readonly heap: WasmHeap,
    private readonly kernel: WasmAdamW,
  ) {}

  /** Moments for the active backend when it is wasm with a reachable heap and the kernel is enabled, else null. */
  static forActiveBackend(): HeapAdamMoments | null {
    const compiled = enabledWasmAdamW();
    if (!compiled || tf.getBackend() !== "wasm") return null;
    const backend = tf.backend() as WasmBackend;
    let entry = perBackend.get(backend);
    if (!entry) {
      const heap = wasmHeapOf(backend);
      if (!heap) return null;
      entry = { heap, kernel: instantiateAdamW(compiled, heap.memory) };
      perBackend.set(backend, entry);
    }
    return new HeapAdamMoments(backend, entry.heap, entry.kernel);
  }

  private allocate(bytes: number, what: string): number {
    const at = this.heap.malloc(Math.max(bytes, 4));
    if (at === 0) throw new Error(`AdamW: the wasm heap has no room for ${bytes} bytes of ${what}`);
    return at;
  }

  /** A view of `count` floats at byte offset `at` (valid until the heap next grows). */
  private floats(at: number, count: number): Float32Array {
    return new Float32Array(this.heap.memory.buffer, at, count);
  }

  private placement(name: string): Placement {
    const p = this.placed.get(name);
    if (!p) throw new Error(`AdamW has no moments for ${name}`);
    return p;
  }

  add(name: string, size: number): void {
    const m = this.allocate(4 * size, `moments of ${name}`);
    const v = this.allocate(4 * size, `moments of ${name}`);
    this.floats(m, size).fill(0);
    this.floats(v, size).fill(0);
    this.placed.set(name, { m, v, mask: 0, size });
  }

  setMask(name: string, mask: RowMask): void {
    const p = this.placement(name);
    if (mask.rows.length * mask.rowSize !== p.size) throw new Error(`row mask of ${name} does not cover its ${p.size} elements`);
    if (p.mask === 0) p.mask = this.allocate(mask.rows.length, `the row mask of ${name}`);
    new Uint8Array(this.heap.memory.buffer, p.mask, mask.rows.length).set(mask.rows);
  }

  private heapOffset(t: tf.Tensor | tf.TensorInfo, name: string): number {
    if (t.dtype !== "float32") throw new Error(`AdamW: ${name} is ${t.dtype}, expected float32`);
    return this.backend.getMemoryOffset(t.dataId);
  }

  dense(name: string, p: tf.Variable, grad: tf.Tensor, k: AdamWConstants): void {
    const place = this.placement(name);
    if (grad.size !== p.size) throw new Error(`AdamW: the gradient of ${name} has ${grad.size} elements, the parameter ${p.size}`);
    // A new tensor, not an in-place write: wasm's XNNPACK matMul caches packed weights per tensor.
    const out = tf.engine().makeTensorFromTensorInfo(this.backend.makeOutput(p.shape, "float32")) as tf.Tensor;
    // Offsets after the allocation (the heap may have grown; offsets never move).
    const at = this.heapOffset(out, name);
    const from = this.heapOffset(p, name);
    new Uint8Array(this.heap.memory.buffer).copyWithin(at, from, from + 4 * p.size);
    const rowSize = place.mask ? p.size / p.shape[0] : p.size;
    this.kernel.setConstants(k);
    this.kernel.dense(at, this.heapOffset(grad, `the gradient of ${name}`), place.m, place.v, p.size / rowSize, 4 * rowSize, place.mask);
    p.assign(out);
    out.dispose();
  }

  rows(name: string, p: tf.Variable, rows: RowGradients, k: AdamWConstants): void {
    const place = this.placement(name);
    const tableRows = p.shape[0];
    const rowSize = p.size / tableRows;
    // The kernel trusts its offsets: check the ids here (count and ids read once: a heap accumulator makes a new
    // view per read).
    const { count, ids } = rows;
    for (let s = 0; s < count; s++) {
      const id = ids[s];
      if (!(id >= 0 && id < tableRows)) throw new Error(`AdamW: row ${id} of ${name} is not in [0, ${tableRows - 1}]`);
    }
    unshare(p);
    this.kernel.setConstants(k);
    // Sums already on this heap are read where they are; others are copied in first.
    const onHeap = rows instanceof HeapRowSums ? rows.heapPlaces() : null;
    if (onHeap && onHeap.memory === this.heap.memory) {
      this.kernel.sparse(this.heapOffset(p, name), onHeap.values, place.m, place.v, onHeap.ids, count, 4 * rowSize, place.mask);
      return;
    }
    const scratch = this.allocate(4 * count * (1 + rowSize), `row gradients of ${name}`);
    try {
      const gradients = scratch + 4 * count;
      new Int32Array(this.heap.memory.buffer, scratch, count).set(rows.ids.subarray(0, count));
      this.floats(gradients, count * rowSize).set(rows.values.subarray(0, count * rowSize));
      this.kernel.sparse(this.heapOffset(p, name), gradients, place.m, place.v, scratch, count, 4 * rowSize, place.mask);
    } finally {
      this.heap.free(scratch);
    }
  }

  read(name: string): { m: Float32Array; v: Float32Array } {
    const p = this.placement(name);
    return { m: this.floats(p.m, p.size).slice(), v: this.floats(p.v, p.size).slice() };
  }

  write(name: string, m: Float32Array, v: Float32Array): void {
    const p = this.placed.get(name);
    if (!p) return;
    this.floats(p.m, p.size).set(m);
    this.floats(p.v, p.size).set(v);
  }

  dispose(): void {
    for (const p of this.placed.values()) {
      this.heap.free(p.m);
      this.heap.free(p.v);
      if (p.mask) this.heap.free(p.mask);
    }
    this.placed.clear();
  }
}
