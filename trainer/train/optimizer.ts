/**
 * AdamW with state we own: moments per parameter and the step count, bias corrections computed in JS from the
 * step count. tf.train.adam cannot be resumed exactly (setWeights recomputes beta powers with pow, training
 * multiplies them step by step), and it cannot keep part of a parameter fixed. Here a row mask per parameter skips
 * the update and the decay of frozen rows, so they stay bit-for-bit unchanged.
 *
 * The update is one fused pass per parameter over the parameter's own memory: a dozen tfjs ops per parameter per
 * step cost more than the arithmetic. On the wasm backend the moments live on the wasm heap and our wasm kernel
 * does the pass; elsewhere a JS loop with the moments in Float32Arrays (trainer/accel, adamMoments). Both give the
 * same bits.
 *
 * Sparse (lazy) updates for embedding tables: given the rows a batch touched and their summed gradients, only
 * those rows of the table and of its moments change ("lazy Adam", as TF's LazyAdamOptimizer and PyTorch's
 * SparseAdam). Differences from dense AdamW on the same table: a row the batch did not touch keeps its moments as
 * they were (dense AdamW decays them by beta1/beta2 and still moves the row by its leftover momentum) and gets no
 * weight decay that step (the decoupled decay is applied when the row is next touched, for that step only). Bias
 * corrections use the global step count, as in the dense case.
 */
import type * as tf from "@tensorflow/tfjs-core";
import { type AdamMoments, type AdamWConstants, adamMoments, type RowGradients } from "../accel/index.ts";

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  weightDecay?: number;
  /** "js" forces the JS update (comparisons, tests); "auto" takes the wasm kernel where it is available. */
  kernel?: "auto" | "js";
}

export interface AdamWState {
  step: number;
  moments: Map<string, { m: Float32Array; v: Float32Array }>;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  /** Which update runs: our wasm kernel on the wasm heap, or the JS loop. */
  readonly kernel: "wasm" | "js";
  step = 0;
  private readonly moments: AdamMoments;

  constructor(
    readonly variables: Map<string, tf.Variable>,
    opts: AdamWOptions = {},
  ) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.epsilon = opts.epsilon ?? 1e-7;
    this.weightDecay = opts.weightDecay ?? 0;
    const chosen = adamMoments(opts.kernel ?? "auto");
    this.kernel = chosen.kernel;
    this.moments = chosen.moments;
    for (const [name, v] of variables) this.moments.add(name, v.size);
  }

  /** Only rows where trainableRows[i] is true change (axis 0 of the parameter). */
  freezeRows(name: string, trainableRows: boolean[]): void {
    const v = this.variables.get(name);
    if (!v || v.shape[0] !== trainableRows.length) throw new Error(`cannot mask rows of ${name}`);
    this.moments.setMask(name, { rows: Uint8Array.from(trainableRows, (t) => (t ? 1 : 0)), rowSize: v.size / v.shape[0] });
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
    const k: AdamWConstants = {
      b1: this.beta1,
      b2: this.beta2,
      c1: 1 - this.beta1,
      c2: 1 - this.beta2,
      eps: this.epsilon,
      decay,
      stepSize,
    };
    for (const [name, p] of this.variables) {
      const rows = sparse?.get(name);
      // Embedding tables are only read by gather (sparseTables checks): updated in place.
      if (rows) this.moments.rows(name, p, rows, k);
      else if (grads[name]) this.moments.dense(name, p, grads[name], k);
    }
  }

  getState(): AdamWState {
    const moments = new Map<string, { m: Float32Array; v: Float32Array }>();
    for (const name of this.variables.keys()) moments.set(name, this.moments.read(name));
    return { step: this.step, moments };
  }

  setState(state: AdamWState): void {
    for (const [name, p] of this.variables) {
      const s = state.moments.get(name);
      if (!s) throw new Error(`optimizer state has no moments for ${name}`);
      if (s.m.length !== p.size || s.v.length !== p.size) throw new Error(`optimizer state for ${name} has the wrong size`);
    }
    this.step = state.step;
    for (const [name, s] of state.moments) this.moments.write(name, s.m, s.v);
  }

  /** Frees the moments (on the wasm heap they are not garbage-collected). */
  dispose(): void {
    this.moments.dispose();
  }
}
