/**
 * Ops over tfjs tensors. Parameters live in a ParamStore: trainable tf.Variables created once from a seeded
 * initializer (training), or fixed tensors from trained weights (inference).
 */
import * as tf from "@tensorflow/tfjs-core";
import { fusedDense, fusedDenseAvailable } from "../accel/index.ts";
import type { Activation, DType, Init, Ops } from "./ops.ts";

/** Deterministic 31-bit seed from a base seed and a parameter name, so init does not depend on creation order. */
export function paramSeed(seed: number, name: string): number {
  let h = (2166136261 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h & 0x7fffffff;
}

function initialValue(shape: number[], init: Init, seed: number): tf.Tensor {
  switch (init.kind) {
    case "zeros":
      return tf.zeros(shape);
    case "constant":
      return tf.fill(shape, init.value);
    case "normal":
      return tf.randomNormal(shape, 0, init.std, "float32", seed);
    case "glorot": {
      const fanIn = shape.length >= 2 ? shape[shape.length - 2] : shape[0];
      const fanOut = shape[shape.length - 1];
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      return tf.randomUniform(shape, -limit, limit, "float32", seed);
    }
  }
}

export class ParamStore {
  readonly tensors = new Map<string, tf.Tensor>();

  /** trainable: create missing parameters as variables; otherwise a missing parameter is an error. */
  constructor(
    readonly trainable: boolean,
    readonly seed = 0,
  ) {}

  static fromValues(values: Map<string, { shape: number[]; values: Float32Array }>): ParamStore {
    const store = new ParamStore(false);
    for (const [name, p] of values) store.tensors.set(name, tf.keep(tf.tensor(p.values, p.shape, "float32")));
    return store;
  }

  get(name: string, shape: number[], init: Init): tf.Tensor {
    const existing = this.tensors.get(name);
    if (existing) {
      if (existing.shape.join(",") !== shape.join(","))
        throw new Error(`parameter ${name} has shape [${existing.shape}], model asks for [${shape}]`);
      return existing;
    }
    if (!this.trainable) throw new Error(`parameter ${name} is missing from the trained weights`);
    const v = tf.tidy(() => tf.variable(initialValue(shape, init, paramSeed(this.seed, name)), true, name));
    this.tensors.set(name, v);
    return v;
  }

  variables(filter: (name: string) => boolean = () => true): tf.Variable[] {
    return [...this.tensors.entries()].filter(([n]) => filter(n)).map(([, t]) => t as tf.Variable);
  }

  /** A copy of every parameter's values (for checkpoints and export). */
  snapshot(): Map<string, { shape: number[]; values: Float32Array }> {
    const out = new Map<string, { shape: number[]; values: Float32Array }>();
    for (const [name, t] of this.tensors) out.set(name, { shape: [...t.shape], values: Float32Array.from(t.dataSync() as Float32Array) });
    return out;
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
    this.tensors.clear();
  }
}

export class TfOps implements Ops<tf.Tensor> {
  constructor(
    readonly params: ParamStore,
    /** Graph inputs by name; a model's outputs can be fed as the next graph's inputs. */
    readonly feeds: Map<string, tf.Tensor>,
  ) {}

  input(name: string, dtype: DType, shape: number[]): tf.Tensor {
    const t = this.feeds.get(name);
    if (!t) throw new Error(`graph input ${name} was not fed`);
    if (t.dtype !== dtype) throw new Error(`graph input ${name} is ${t.dtype}, expected ${dtype}`);
    if (t.rank !== shape.length || shape.some((d, i) => d >= 0 && d !== t.shape[i])) {
      throw new Error(`graph input ${name} has shape [${t.shape}], expected [${shape}]`);
    }
    return t;
  }
  param(name: string, shape: number[], init: Init) {
    return this.params.get(name, shape, init);
  }
  constant(values: number[], shape: number[]) {
    return tf.tensor(values, shape, "float32");
  }
  gather(table: tf.Tensor, ids: tf.Tensor) {
    return tf.gather(table, ids, 0);
  }
  embeddingBag(table: tf.Tensor, ids: tf.Tensor) {
    // Through this.gather, so training's sparse row gradients (sparse-embeddings.ts) cover bags too.
    const rows = this.gather(table, ids); // [..., M, D]
    const present = tf.cast(tf.notEqual(ids, tf.scalar(0, "int32")), "float32"); // [..., M]
    const sum = tf.sum(tf.mul(rows, tf.expandDims(present, -1)), -2);
    return tf.div(sum, tf.maximum(tf.sum(present, -1, true), tf.scalar(1)));
  }
  mapOutOfRange(ids: tf.Tensor, vocabSize: number) {
    const inRange = tf.logicalAnd(tf.greaterEqual(ids, tf.scalar(0, "int32")), tf.less(ids, tf.scalar(vocabSize, "int32")));
    return tf.where(inRange, ids, tf.zerosLike(ids));
  }
  select(x: tf.Tensor, axis: number, index: number) {
    const ax = axis < 0 ? x.rank + axis : axis;
    const begin = x.shape.map((_, i) => (i === ax ? index : 0));
    const size = x.shape.map((d, i) => (i === ax ? 1 : d));
    return tf.squeeze(tf.slice(x, begin, size), [ax]);
  }
  take(x: tf.Tensor, axis: number, indices: number[]) {
    return tf.gather(x, tf.tensor1d(indices, "int32"), axis < 0 ? x.rank + axis : axis);
  }
  matMul(a: tf.Tensor, b: tf.Tensor) {
    if (a.rank > 2 && b.rank === 2) {
      // Flatten the leading axes: the kernel and its gradient are simplest (and fastest) in 2-D.
      const out = tf.matMul(tf.reshape(a, [-1, a.shape[a.rank - 1]]), b);
      return tf.reshape(out, [...a.shape.slice(0, -1), b.shape[1] as number]);
    }
    return tf.matMul(a, b);
  }
  matMulTransposed(a: tf.Tensor, b: tf.Tensor) {
    return tf.matMul(a, b, false, true);
  }
  dense(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor | null, activation: Activation) {
    const x2 = x.rank === 2 ? x : tf.reshape(x, [-1, x.shape[x.rank - 1]]);
    // Recording gradients, tfjs's fused.matMul splits a relu layer into three kernels (fused-dense.ts). Linear layers
    // stay on its path: its bias gradient is a float32 sum over a 3-D view, ours a float64 column sum (other bits).
    const y =
      b &&
      activation === "relu" &&
      tf.engine().state.gradientDepth > 0 &&
      fusedDenseAvailable(x2.shape[0] as number, w.shape[0] as number, w.shape[1] as number)
        ? fusedDense(x2 as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D, activation)
        : tf.fused.matMul({
            a: x2 as tf.Tensor2D,
            b: w as tf.Tensor2D,
            bias: b ?? undefined,
            activation: activation as tf.fused.Activation,
          });
    return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), w.shape[1] as number]);
  }
  add(a: tf.Tensor, b: tf.Tensor) {
    return tf.add(a, b);
  }
  sub(a: tf.Tensor, b: tf.Tensor) {
    return tf.sub(a, b);
  }
  mul(a: tf.Tensor, b: tf.Tensor) {
    return tf.mul(a, b);
  }
  div(a: tf.Tensor, b: tf.Tensor) {
    return tf.div(a, b);
  }
  scale(x: tf.Tensor, factor: number) {
    return tf.mul(x, tf.scalar(factor));
  }
  square(x: tf.Tensor) {
    return tf.mul(x, x);
  }
  relu(x: tf.Tensor) {
    return tf.relu(x);
  }
  sigmoid(x: tf.Tensor) {
    return tf.sigmoid(x);
  }
  tanh(x: tf.Tensor) {
    return tf.tanh(x);
  }
  softmax(x: tf.Tensor) {
    return tf.softmax(x);
  }
  concat(xs: tf.Tensor[], axis: number) {
    return xs.length === 1 ? xs[0] : tf.concat(xs, axis);
  }
  reshape(x: tf.Tensor, shape: number[]) {
    return tf.reshape(x, shape);
  }
  transpose(x: tf.Tensor, perm: number[]) {
    return tf.transpose(x, perm);
  }
  reduceSum(x: tf.Tensor, axes: number[], keepDims: boolean) {
    return tf.sum(x, axes, keepDims);
  }
  reduceMean(x: tf.Tensor, axes: number[], keepDims: boolean) {
    return tf.mean(x, axes, keepDims);
  }
  expandDims(x: tf.Tensor, axis: number) {
    return tf.expandDims(x, axis);
  }
  squeeze(x: tf.Tensor, axes: number[]) {
    return tf.squeeze(x, axes);
  }
}
