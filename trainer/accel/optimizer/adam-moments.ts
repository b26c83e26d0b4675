/**
 * Where AdamW's moments live and what runs its per-element arithmetic: the contract (AdamMoments), the JS version
 * that works on every backend, and the tensor-memory helpers both versions share. The wasm-heap version is
 * adamw-heap.ts, the choice between them choose-moments.ts; the optimizer (trainer/train/optimizer.ts) owns the
 * step count.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { AdamWConstants } from "../kernels/adamw.ts";

export type { AdamWConstants };

/** Summed gradients of the `count` distinct rows a step touched: row ids[i] has gradient values[i*E, (i+1)*E). */
export interface RowGradients {
  ids: Int32Array;
  count: number;
  values: Float32Array;
}

/** Per-row trainable flags (1 = trainable, 0 = frozen) of a parameter, and its row size in elements. */
export interface RowMask {
  rows: Uint8Array;
  rowSize: number;
}

export interface AdamMoments {
  /** Zeroed moments for a parameter of `size` elements. */
  add(name: string, size: number): void;
  /** From now on only the parameter's rows flagged 1 change (and their moments). */
  setMask(name: string, mask: RowMask): void;
  /** The dense update of `p` from its gradient. */
  dense(name: string, p: tf.Variable, grad: tf.Tensor, k: AdamWConstants): void;
  /**
   * The lazy update of the rows a batch touched, in place: only for tables no kernel reads except gather (a wasm
   * matMul caches packed weights per tensor and would go on reading the old values).
   */
  rows(name: string, p: tf.Variable, rows: RowGradients, k: AdamWConstants): void;
  /** Copies of a parameter's moments. */
  read(name: string): { m: Float32Array; v: Float32Array };
  write(name: string, m: Float32Array, v: Float32Array): void;
  dispose(): void;
}

type HeapBackend = tf.KernelBackend & {
  typedArrayFromHeap?(info: tf.TensorInfo): tf.backend_util.TypedArray;
  refCount(dataId: tf.DataId): number;
  readSync(dataId: tf.DataId): tf.backend_util.BackendValues;
};

/**
 * Makes sure no other live tensor shares `p`'s memory (tfjs shares it between a tensor and its clones, e.g. the
 * copies the gradient tape keeps), so an in-place write never shows through another tensor.
 */
export function unshare(p: tf.Variable): void {
  if ((tf.backend() as HeapBackend).refCount(p.dataId) > 1) {
    const own = tf.tidy(() => tf.mul(p, 1));
    p.assign(own);
    own.dispose();
  }
}

/**
 * Runs `update` on a float32 variable's values, then the variable holds the result.
 *
 * inPlace: the values are the variable's own memory where the backend keeps it JS-reachable (wasm heap, cpu
 * arrays), unshared first. Only for parameters that no kernel caches by tensor (see AdamMoments.rows). Otherwise
 * (and on backends without JS-reachable memory) `update` runs on a copy that becomes a new tensor.
 */
export function updateValues(p: tf.Variable, inPlace: boolean, update: (values: Float32Array) => void): void {
  const backend = tf.backend() as HeapBackend;
  const name = tf.getBackend();
  const heap = typeof backend.typedArrayFromHeap === "function";
  if (inPlace && (heap || name === "cpu")) {
    unshare(p);
    const values = heap ? (backend.typedArrayFromHeap!(p) as Float32Array) : (backend.readSync(p.dataId) as Float32Array);
    if (values instanceof Float32Array && values.length === p.size) {
      update(values);
      return;
    }
  }
  const values = (p.dataSync() as Float32Array).slice();
  update(values);
  tf.tidy(() => p.assign(tf.tensor(values, p.shape, "float32")));
}

/** A float32 tensor's values for reading, without a copy where the backend allows it (valid until the next op). */
export function readValues(t: tf.Tensor): Float32Array {
  const backend = tf.backend() as HeapBackend;
  if (typeof backend.typedArrayFromHeap === "function") return backend.typedArrayFromHeap(t) as Float32Array;
  return t.dataSync() as Float32Array;
}

/**
 * The AdamW update of `count` consecutive elements: w[wAt..], its moments m/v at the same indices, gradient g[gAt..].
 * One loop for the dense and the sparse (row) updates; kernels/adamw.ts does the same operations in the same order.
 */
function adamRange(
  w: Float32Array,
  wAt: number,
  g: Float32Array,
  gAt: number,
  count: number,
  m: Float32Array,
  v: Float32Array,
  k: AdamWConstants,
) {
  const { b1, b2, c1, c2, eps, decay, stepSize } = k;
  for (let j = 0; j < count; j++) {
    const i = wAt + j;
    const gi = g[gAt + j];
    const mi = b1 * m[i] + c1 * gi;
    const vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    // The stored (float32) moments, as before the refactor: results stay bit-identical.
    w[i] = w[i] * decay - (stepSize * m[i]) / (Math.sqrt(v[i]) + eps);
  }
}

/** Moments in JS Float32Arrays, the update in a JS loop over the parameter's memory: any backend. */
export class JsAdamMoments implements AdamMoments {
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();
  private readonly masks = new Map<string, RowMask>();

  add(name: string, size: number): void {
    this.m.set(name, new Float32Array(size));
    this.v.set(name, new Float32Array(size));
  }

  setMask(name: string, mask: RowMask): void {
    this.masks.set(name, mask);
  }

  dense(name: string, p: tf.Variable, grad: tf.Tensor, k: AdamWConstants): void {
    const m = this.m.get(name)!;
    const v = this.v.get(name)!;
    const mask = this.masks.get(name);
    updateValues(p, false, (w) => {
      // Read after updateValues may have allocated (a heap view is invalidated by heap growth).
      const g = readValues(grad);
      const n = w.length;
      if (!mask) {
        adamRange(w, 0, g, 0, n, m, v, k);
        return;
      }
      for (let start = 0; start < n; start += mask.rowSize) {
        if (mask.rows[start / mask.rowSize]) adamRange(w, start, g, start, mask.rowSize, m, v, k);
      }
    });
  }

  rows(name: string, p: tf.Variable, rows: RowGradients, k: AdamWConstants): void {
    const m = this.m.get(name)!;
    const v = this.v.get(name)!;
    const mask = this.masks.get(name);
    const size = p.size / p.shape[0];
    updateValues(p, true, (w) => {
      for (let s = 0; s < rows.count; s++) {
        const r = rows.ids[s];
        if (mask && !mask.rows[r]) continue;
        adamRange(w, r * size, rows.values, s * size, size, m, v, k);
      }
    });
  }

  read(name: string): { m: Float32Array; v: Float32Array } {
    return { m: this.m.get(name)!.slice(), v: this.v.get(name)!.slice() };
  }

  write(name: string, m: Float32Array, v: Float32Array): void {
    this.m.get(name)?.set(m);
    this.v.get(name)?.set(v);
  }

  dispose(): void {
    this.m.clear();
    this.v.clear();
    this.masks.clear();
  }
}
