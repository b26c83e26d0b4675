/**
 * The small op interface every model is written against, once. Two implementations: TfOps (tfjs tensors, for
 * training and reference inference) and OnnxOps (an ONNX graph builder, for export). Keep semantics identical:
 * every op here must mean exactly the same thing in both, including shapes and dtypes.
 *
 * Shapes use -1 for the dynamic batch dimension. Ids are int32; everything else float32.
 */
export type DType = "float32" | "int32";
export type Activation = "linear" | "relu" | "sigmoid" | "tanh";

/** How a parameter starts before training; seeded in TfOps, ignored in OnnxOps (weights come from the model). */
export type Init = { kind: "glorot" } | { kind: "normal"; std: number } | { kind: "zeros" } | { kind: "constant"; value: number };

export interface Ops<T> {
  /** A named graph input (the model's public input names). */
  input(name: string, dtype: DType, shape: number[]): T;
  /** A trainable parameter, created once per name: later calls with the same name return the same one. */
  param(name: string, shape: number[], init: Init): T;
  /** A float32 constant. */
  constant(values: number[], shape: number[]): T;

  /** Rows of table (axis 0) at int32 ids of any shape: out shape = ids.shape + table.shape[1:]. */
  gather(table: T, ids: T): T;
  /**
   * A bag of rows pooled by mean: ids [..., M] int32 -> [..., D], the mean of table rows at the non-zero ids of each
   * bag (id 0 is padding or an unknown value and is skipped); a bag of only 0s gives zeros. Multi-valued fields.
   */
  embeddingBag(table: T, ids: T): T;
  /** Ids outside [0, vocabSize) become 0, the out-of-vocabulary row. */
  mapOutOfRange(ids: T, vocabSize: number): T;
  /** x[..., index, ...] along axis (the axis is removed). Works on int32 and float32. */
  select(x: T, axis: number, index: number): T;
  /** x at constant indices along axis (the axis keeps its place, length = indices.length). Float32 or int32. */
  take(x: T, axis: number, indices: number[]): T;

  /** Batched matrix product over the last two axes (leading axes must match or be absent on b). */
  matMul(a: T, b: T): T;
  /** a times b with b's last two axes swapped; backends that can multiply by a transpose skip materialising it. */
  matMulTransposed(a: T, b: T): T;
  /** act(x @ w + b) over the last axis of x (any rank >= 2). */
  dense(x: T, w: T, b: T | null, activation: Activation): T;

  add(a: T, b: T): T;
  sub(a: T, b: T): T;
  mul(a: T, b: T): T;
  div(a: T, b: T): T;
  /** Multiplies by a constant scalar. */
  scale(x: T, factor: number): T;
  square(x: T): T;
  relu(x: T): T;
  sigmoid(x: T): T;
  tanh(x: T): T;
  /** Softmax over the last axis. */
  softmax(x: T): T;

  concat(xs: T[], axis: number): T;
  /** At most one -1; the batch dimension must be the -1 when it is unknown. */
  reshape(x: T, shape: number[]): T;
  transpose(x: T, perm: number[]): T;
  reduceSum(x: T, axes: number[], keepDims: boolean): T;
  reduceMean(x: T, axes: number[], keepDims: boolean): T;
  expandDims(x: T, axis: number): T;
  squeeze(x: T, axes: number[]): T;
}

/** The layer most models need: a seeded dense layer with parameters `${name}/w` and `${name}/b`. */
export function denseLayer<T>(ops: Ops<T>, name: string, x: T, inDim: number, outDim: number, activation: Activation): T {
  const w = ops.param(`${name}/w`, [inDim, outDim], { kind: "glorot" });
  const b = ops.param(`${name}/b`, [outDim], { kind: "zeros" });
  return ops.dense(x, w, b, activation);
}

/** A stack of dense layers; returns the output and its width. */
export function mlp<T>(
  ops: Ops<T>,
  name: string,
  x: T,
  inDim: number,
  hidden: readonly number[],
  activation: Activation,
): { out: T; dim: number } {
  let out = x;
  let dim = inDim;
  hidden.forEach((h, i) => {
    out = denseLayer(ops, `${name}/${i}`, out, dim, h, activation);
    dim = h;
  });
  return { out, dim };
}
