/**
 * AdamW with state we own: moments per parameter and the step count, bias corrections computed in JS from the
 * step count. tf.train.adam cannot be resumed exactly (setWeights recomputes beta powers with pow, training
 * multiplies them step by step), and it cannot keep part of a parameter fixed. Here a row mask per parameter skips
 * the update and the decay of frozen rows, so they stay bit-for-bit unchanged.
 *
 * The update is one fused loop per parameter in JS over the parameter's own memory (the wasm heap or the cpu
 * backend's array, updated in place; other backends read back and write a new tensor), with the moments in JS
 * Float32Arrays: a dozen tfjs ops per parameter per step cost more than the arithmetic.
 *
 * Sparse (lazy) updates for embedding tables: given the rows a batch touched and their summed gradients, only
 * those rows of the table and of its moments change ("lazy Adam", as TF's LazyAdamOptimizer and PyTorch's
 * SparseAdam). Differences from dense AdamW on the same table: a row the batch did not touch keeps its moments as
 * they were (dense AdamW decays them by beta1/beta2 and still moves the row by its leftover momentum) and gets no
 * weight decay that step (the decoupled decay is applied when the row is next touched, for that step only). Bias
 * corrections use the global step count, as in the dense case.
 */
import * as tf from "@tensorflow/tfjs-core";

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  weightDecay?: number;
}

export interface AdamWState {
  step: number;
  moments: Map<string, { m: Float32Array; v: Float32Array }>;
}

/** Summed gradients of the `count` distinct rows a step touched: row ids[i] has gradient values[i*E, (i+1)*E). */
export interface RowGradients {
  ids: Int32Array;
  count: number;
  values: Float32Array;
}

type HeapBackend = tf.KernelBackend & {
  typedArrayFromHeap?(info: tf.TensorInfo): tf.backend_util.TypedArray;
  refCount(dataId: tf.DataId): number;
  readSync(dataId: tf.DataId): tf.backend_util.BackendValues;
};

/**
 * Runs `update` on a float32 variable's values, then the variable holds the result.
 *
 * inPlace: the values are the variable's own memory where the backend keeps it JS-reachable (wasm heap, cpu
 * arrays); a variable whose data is shared with another live tensor first gets its own copy, so the write never
 * shows through another tensor. Only for parameters that no kernel caches by tensor: wasm's XNNPACK matMul keeps
 * packed weights per weight tensor, so a matMul weight changed in place would go on being read stale. Otherwise
 * (and on backends without JS-reachable memory) `update` runs on a copy that becomes a new tensor.
 */
export function updateValues(p: tf.Variable, inPlace: boolean, update: (values: Float32Array) => void): void {
  const backend = tf.backend() as HeapBackend;
  const name = tf.getBackend();
  const heap = typeof backend.typedArrayFromHeap === "function";
  if (inPlace && (heap || name === "cpu")) {
    if (backend.refCount(p.dataId) > 1) {
      const own = tf.tidy(() => tf.mul(p, 1));
      p.assign(own);
      own.dispose();
    }
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

interface AdamConstants {
  b1: number;
  b2: number;
  c1: number;
  c2: number;
  eps: number;
  decay: number;
  stepSize: number;
}

/**
 * The AdamW update of `count` consecutive elements: w[wAt..], its moments m/v at the same indices, gradient g[gAt..].
 * One loop for the dense and the sparse (row) updates.
 */
function adamRange(
  w: Float32Array,
  wAt: number,
  g: Float32Array,
  gAt: number,
  count: number,
  m: Float32Array,
  v: Float32Array,
  k: AdamConstants,
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

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  step = 0;
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();
  /** Per-row trainable flags (1 = trainable, 0 = frozen) and the row size. */
  private readonly rowMasks = new Map<string, { rows: Uint8Array; rowSize: number }>();

  constructor(
    readonly variables: Map<string, tf.Variable>,
    opts: AdamWOptions = {},
  ) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.epsilon = opts.epsilon ?? 1e-7;
    this.weightDecay = opts.weightDecay ?? 0;
    for (const [name, v] of variables) {
      this.m.set(name, new Float32Array(v.size));
      this.v.set(name, new Float32Array(v.size));
    }
  }

  /** Only rows where trainableRows[i] is true change (axis 0 of the parameter). */
  freezeRows(name: string, trainableRows: boolean[]): void {
    const v = this.variables.get(name);
    if (!v || v.shape[0] !== trainableRows.length) throw new Error(`cannot mask rows of ${name}`);
    this.rowMasks.set(name, { rows: Uint8Array.from(trainableRows, (t) => (t ? 1 : 0)), rowSize: v.size / v.shape[0] });
  }

  /**
   * One update at learning rate lr: dense gradients by parameter name, and for parameters in `sparse` the lazy
   * update of the touched rows only. A parameter with neither is left alone (its moments too).
   */
  apply(grads: Record<string, tf.Tensor>, lr: number, sparse?: Map<string, RowGradients>): void {
    this.step++;
    const t = this.step;
    // Bias corrections folded into the step size (as TF's Adam does), from the step count alone.
    const stepSize = (lr * Math.sqrt(1 - this.beta2 ** t)) / (1 - this.beta1 ** t);
    const decay = 1 - lr * this.weightDecay;
    const k: AdamConstants = { b1: this.beta1, b2: this.beta2, c1: 1 - this.beta1, c2: 1 - this.beta2, eps: this.epsilon, decay, stepSize };
    for (const [name, p] of this.variables) {
      const m = this.m.get(name)!;
      const v = this.v.get(name)!;
      const mask = this.rowMasks.get(name);
      const rows = sparse?.get(name);
      if (rows) {
        const size = p.size / p.shape[0];
        // Embedding tables are only read by gather (sparseTables checks): updated in place.
        updateValues(p, true, (w) => {
          for (let s = 0; s < rows.count; s++) {
            const r = rows.ids[s];
            if (mask && !mask.rows[r]) continue;
            adamRange(w, r * size, rows.values, s * size, size, m, v, k);
          }
        });
        continue;
      }
      const grad = grads[name];
      if (!grad) continue;
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
  }

  getState(): AdamWState {
    const moments = new Map<string, { m: Float32Array; v: Float32Array }>();
    for (const name of this.variables.keys()) moments.set(name, { m: this.m.get(name)!.slice(), v: this.v.get(name)!.slice() });
    return { step: this.step, moments };
  }

  setState(state: AdamWState): void {
    for (const [name, p] of this.variables) {
      const s = state.moments.get(name);
      if (!s) throw new Error(`optimizer state has no moments for ${name}`);
      if (s.m.length !== p.size || s.v.length !== p.size) throw new Error(`optimizer state for ${name} has the wrong size`);
    }
    this.step = state.step;
    for (const [name, s] of state.moments) {
      this.m.get(name)?.set(s.m);
      this.v.get(name)?.set(s.v);
    }
  }

  dispose(): void {
    this.m.clear();
    this.v.clear();
    this.rowMasks.clear();
  }
}
