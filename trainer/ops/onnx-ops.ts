/**
 * Ops that build an ONNX graph (IR 8, opset 17) with onnx-proto. Parameters become initializers holding the
 * trained weights. Ids stay int32 (JS callers avoid BigInt64Array); shape/axes constants are int64 as ONNX requires.
 * Opset 17 details that bite: ReduceSum/Unsqueeze/Squeeze take axes as an input, ReduceMean still as an attribute;
 * Gemm is 2-D only (MatMul + Add otherwise); Add does not promote types.
 */
import onnxProto from "onnx-proto";
import type { Activation, DType, Init, Ops } from "./ops.ts";

const { onnx } = onnxProto;

export interface OnnxValue {
  name: string;
  dtype: DType;
  /** -1 = dynamic (the batch). */
  shape: number[];
}

export interface OnnxOpsOptions {
  /**
   * Inputs that are the same for every row of a request (the user side of a backbone): the graph also accepts
   * them with batch 1 (dim "request") and broadcasts them, so serving computes the user-side ops once per request.
   * Values computed only from such inputs stay batch 1; where they meet per-row values, Concat expands them, and a
   * dense layer over such a Concat is split into a per-row product plus one per-request product (same weights).
   * Given with full batch they give the same results as without this option.
   */
  requestInputs?: readonly string[];
}

const ELEM: Record<DType, number> = { float32: onnx.TensorProto.DataType.FLOAT, int32: onnx.TensorProto.DataType.INT32 };
const ACTIVATION_OPS: Record<Exclude<Activation, "linear">, string> = { relu: "Relu", sigmoid: "Sigmoid", tanh: "Tanh" };

function bytesOf(view: ArrayBufferView): Uint8Array {
  // Copy: raw_data must not carry the rest of a shared buffer.
  return new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
}

const normAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

export class OnnxOps implements Ops<OnnxValue> {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs = new Map<string, OnnxValue>();
  private readonly outputs: OnnxValue[] = [];
  private readonly paramValues = new Map<string, OnnxValue>();
  private counter = 0;
  /** Values that depend only on requestInputs (and initializers): batch 1 at serving. */
  private readonly requestValues = new Set<string>();
  private readonly initializerNames = new Set<string>();
  /** Concat outputs mixing request and per-row values, with their parts (for the dense split). */
  private readonly mixedConcats = new Map<string, { parts: OnnxValue[]; axis: number }>();

  constructor(
    private readonly weights: Map<string, { shape: number[]; values: Float32Array }>,
    private readonly options: OnnxOpsOptions = {},
  ) {}

  private isRequest(v: OnnxValue): boolean {
    return this.requestValues.has(v.name);
  }

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  private node(
    opType: string,
    inputs: string[],
    outShape: number[],
    dtype: DType,
    attrs: onnxProto.onnx.IAttributeProto[] = [],
  ): OnnxValue {
    const out = this.fresh(opType.toLowerCase());
    this.nodes.push({ opType, input: inputs, output: [out], name: out, attribute: attrs });
    const values = inputs.filter((i) => !this.initializerNames.has(i));
    if (values.length > 0 && values.every((i) => this.requestValues.has(i))) this.requestValues.add(out);
    return { name: out, dtype, shape: outShape };
  }

  /** Every initializer goes through here, so that request-value tracking knows which node inputs are constants. */
  private initializer(tensor: onnxProto.onnx.ITensorProto & { name: string }): string {
    this.initializerNames.add(tensor.name);
    this.initializers.push(tensor);
    return tensor.name;
  }

  private int64Const(values: number[]): string {
    return this.initializer({
      name: this.fresh("const_i64"),
      dims: [values.length],
      dataType: onnx.TensorProto.DataType.INT64,
      rawData: bytesOf(BigInt64Array.from(values.map(BigInt))),
    });
  }

  private int32Scalar(value: number): string {
    return this.initializer({
      name: this.fresh("const_i32"),
      dims: [],
      dataType: onnx.TensorProto.DataType.INT32,
      rawData: bytesOf(Int32Array.of(value)),
    });
  }

  private floatTensor(name: string, values: Float32Array, dims: number[]): void {
    this.initializer({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytesOf(values) });
  }

  input(name: string, dtype: DType, shape: number[]): OnnxValue {
    const existing = this.inputs.get(name);
    if (existing) return existing;
    const v = { name, dtype, shape };
    this.inputs.set(name, v);
    if (this.options.requestInputs?.includes(name)) this.requestValues.add(name);
    return v;
  }

  param(name: string, shape: number[], _init: Init): OnnxValue {
    const existing = this.paramValues.get(name);
    if (existing) return existing;
    const w = this.weights.get(name);
    if (!w) throw new Error(`parameter ${name} is missing from the trained weights`);
    if (w.shape.join(",") !== shape.join(",")) throw new Error(`parameter ${name} has shape [${w.shape}], model asks for [${shape}]`);
    this.floatTensor(name, w.values, shape);
    const v: OnnxValue = { name, dtype: "float32", shape };
    this.paramValues.set(name, v);
    return v;
  }

  constant(values: number[], shape: number[]): OnnxValue {
    const name = this.fresh("const_f32");
    this.floatTensor(name, Float32Array.from(values), shape);
    return { name, dtype: "float32", shape };
  }

  gather(table: OnnxValue, ids: OnnxValue): OnnxValue {
    return this.node("Gather", [table.name, ids.name], [...ids.shape, ...table.shape.slice(1)], table.dtype, [
      { name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 0 },
    ]);
  }

  embeddingBag(table: OnnxValue, ids: OnnxValue): OnnxValue {
    const rows = this.gather(table, ids); // [..., M, D]
    const isPad = this.node("Equal", [ids.name, this.int32Scalar(0)], ids.shape, "int32");
    const present = this.node("Not", [isPad.name], ids.shape, "int32");
    const weights = this.node("Cast", [present.name], ids.shape, "float32", [
      { name: "to", type: onnx.AttributeProto.AttributeType.INT, i: onnx.TensorProto.DataType.FLOAT },
    ]); // [..., M]
    const sum = this.reduceSum(this.mul(rows, this.expandDims(weights, -1)), [-2], false);
    const count = this.node(
      "Max",
      [this.reduceSum(weights, [-1], true).name, this.constant([1], []).name],
      [...ids.shape.slice(0, -1), 1],
      "float32",
    );
    return this.div(sum, count);
  }

  mapOutOfRange(ids: OnnxValue, vocabSize: number): OnnxValue {
    const zero = this.int32Scalar(0);
    const atLeastZero = this.node("GreaterOrEqual", [ids.name, zero], ids.shape, "int32");
    const belowVocab = this.node("Less", [ids.name, this.int32Scalar(vocabSize)], ids.shape, "int32");
    const inRange = this.node("And", [atLeastZero.name, belowVocab.name], ids.shape, "int32");
    return this.node("Where", [inRange.name, ids.name, zero], ids.shape, "int32");
  }

  select(x: OnnxValue, axis: number, index: number): OnnxValue {
    const ax = normAxis(axis, x.shape.length);
    const shape = x.shape.filter((_, i) => i !== ax);
    return this.node("Gather", [x.name, this.int32Scalar(index)], shape, x.dtype, [
      { name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: ax },
    ]);
  }

  take(x: OnnxValue, axis: number, indices: number[]): OnnxValue {
    const ax = normAxis(axis, x.shape.length);
    const name = this.initializer({
      name: this.fresh("const_i32"),
      dims: [indices.length],
      dataType: onnx.TensorProto.DataType.INT32,
      rawData: bytesOf(Int32Array.from(indices)),
    });
    const shape = x.shape.map((d, i) => (i === ax ? indices.length : d));
    return this.node("Gather", [x.name, name], shape, x.dtype, [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: ax }]);
  }

  matMul(a: OnnxValue, b: OnnxValue): OnnxValue {
    return this.node("MatMul", [a.name, b.name], [...a.shape.slice(0, -1), b.shape[b.shape.length - 1]], "float32");
  }

  matMulTransposed(a: OnnxValue, b: OnnxValue): OnnxValue {
    const perm = [...b.shape.keys()];
    [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
    return this.matMul(a, this.transpose(b, perm));
  }

  dense(x: OnnxValue, w: OnnxValue, b: OnnxValue | null, activation: Activation): OnnxValue {
    const outShape = [...x.shape.slice(0, -1), w.shape[1]];
    let y: OnnxValue;
    const split = this.splitDense(x, w, b);
    if (split) {
      y = split;
    } else if (x.shape.length === 2) {
      y = this.node("Gemm", b ? [x.name, w.name, b.name] : [x.name, w.name], outShape, "float32");
    } else {
      y = this.node("MatMul", [x.name, w.name], outShape, "float32");
      if (b) y = this.node("Add", [y.name, b.name], outShape, "float32");
    }
    return activation === "linear" ? y : this.node(ACTIVATION_OPS[activation], [y.name], outShape, "float32");
  }

  /**
   * x @ w + b where x is a 2-D Concat of per-row and per-request parts: [per-row parts] @ w[their rows] + b, plus
   * [per-request parts] @ w[their rows] (batch 1, broadcast by Add). The Concat itself is then left unused.
   */
  private splitDense(x: OnnxValue, w: OnnxValue, b: OnnxValue | null): OnnxValue | null {
    const mixed = this.mixedConcats.get(x.name);
    const weights = this.weights.get(w.name);
    if (!mixed || x.shape.length !== 2 || mixed.axis !== 1 || !weights || !this.paramValues.has(w.name)) return null;
    const out = w.shape[1];
    const rowsOf = (request: boolean) => {
      const rows: number[] = [];
      let offset = 0;
      for (const p of mixed.parts) {
        if (this.isRequest(p) === request) for (let r = 0; r < p.shape[1]; r++) rows.push(offset + r);
        offset += p.shape[1];
      }
      return rows;
    };
    const slice = (rows: number[], suffix: string): OnnxValue => {
      const values = new Float32Array(rows.length * out);
      for (const [i, r] of rows.entries()) values.set(weights.values.subarray(r * out, (r + 1) * out), i * out);
      const name = this.fresh(`${w.name}/${suffix}`);
      this.floatTensor(name, values, [rows.length, out]);
      return { name, dtype: "float32", shape: [rows.length, out] };
    };
    const rowParts = mixed.parts.filter((p) => !this.isRequest(p));
    const requestParts = mixed.parts.filter((p) => this.isRequest(p));
    const xRow = this.concat(rowParts, 1);
    const xRequest = this.concat(requestParts, 1);
    const wRow = slice(rowsOf(false), "rows");
    const wRequest = slice(rowsOf(true), "request");
    const perRow = this.node("Gemm", b ? [xRow.name, wRow.name, b.name] : [xRow.name, wRow.name], [x.shape[0], out], "float32");
    const perRequest = this.node("MatMul", [xRequest.name, wRequest.name], [x.shape[0], out], "float32");
    return this.node("Add", [perRow.name, perRequest.name], [x.shape[0], out], "float32");
  }

  private broadcastShape(a: number[], b: number[]): number[] {
    const rank = Math.max(a.length, b.length);
    const pa = [...Array(rank - a.length).fill(1), ...a];
    const pb = [...Array(rank - b.length).fill(1), ...b];
    return pa.map((d, i) => (d === 1 ? pb[i] : d));
  }

  add(a: OnnxValue, b: OnnxValue) {
    return this.node("Add", [a.name, b.name], this.broadcastShape(a.shape, b.shape), a.dtype);
  }
  sub(a: OnnxValue, b: OnnxValue) {
    return this.node("Sub", [a.name, b.name], this.broadcastShape(a.shape, b.shape), a.dtype);
  }
  mul(a: OnnxValue, b: OnnxValue) {
    return this.node("Mul", [a.name, b.name], this.broadcastShape(a.shape, b.shape), a.dtype);
  }
  div(a: OnnxValue, b: OnnxValue) {
    return this.node("Div", [a.name, b.name], this.broadcastShape(a.shape, b.shape), a.dtype);
  }
  scale(x: OnnxValue, factor: number) {
    return this.mul(x, this.constant([factor], []));
  }
  square(x: OnnxValue) {
    return this.node("Mul", [x.name, x.name], x.shape, x.dtype);
  }
  relu(x: OnnxValue) {
    return this.node("Relu", [x.name], x.shape, x.dtype);
  }
  sigmoid(x: OnnxValue) {
    return this.node("Sigmoid", [x.name], x.shape, x.dtype);
  }
  tanh(x: OnnxValue) {
    return this.node("Tanh", [x.name], x.shape, x.dtype);
  }
  softmax(x: OnnxValue) {
    return this.node("Softmax", [x.name], x.shape, x.dtype, [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: -1 }]);
  }
  concat(xs: OnnxValue[], axis: number): OnnxValue {
    if (xs.length === 1) return xs[0];
    const ax = normAxis(axis, xs[0].shape.length);
    const reference = xs.find((x) => !this.isRequest(x));
    if (ax > 0 && reference && xs.some((x) => this.isRequest(x))) {
      // Per-request parts (batch 1 at serving) take the batch of a per-row part: Expand to [batch, ...their dims].
      // Shape and the target shape are int64 in the graph; DType has no int64, and these never become outputs.
      const batch = this.node("Shape", [reference.name], [1], "int32", [
        { name: "end", type: onnx.AttributeProto.AttributeType.INT, i: 1 },
      ]);
      const expanded = xs.map((x) => {
        if (!this.isRequest(x)) return x;
        const target = this.node("Concat", [batch.name, this.int64Const(x.shape.slice(1))], [x.shape.length], "int32", [
          { name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 0 },
        ]);
        return this.node("Expand", [x.name, target.name], x.shape, x.dtype);
      });
      const out = this.concat(expanded, axis);
      this.mixedConcats.set(out.name, { parts: xs, axis: ax });
      return out;
    }
    const shape = [...xs[0].shape];
    shape[ax] = xs.some((x) => x.shape[ax] < 0) ? -1 : xs.reduce((s, x) => s + x.shape[ax], 0);
    return this.node(
      "Concat",
      xs.map((x) => x.name),
      shape,
      xs[0].dtype,
      [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: ax }],
    );
  }
  reshape(x: OnnxValue, shape: number[]): OnnxValue {
    return this.node("Reshape", [x.name, this.int64Const(shape)], shape, x.dtype);
  }
  transpose(x: OnnxValue, perm: number[]): OnnxValue {
    return this.node(
      "Transpose",
      [x.name],
      perm.map((p) => x.shape[p]),
      x.dtype,
      [{ name: "perm", type: onnx.AttributeProto.AttributeType.INTS, ints: perm }],
    );
  }
  private reducedShape(x: OnnxValue, axes: number[], keepDims: boolean): number[] {
    const ax = axes.map((a) => normAxis(a, x.shape.length));
    return keepDims ? x.shape.map((d, i) => (ax.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !ax.includes(i));
  }
  reduceSum(x: OnnxValue, axes: number[], keepDims: boolean): OnnxValue {
    const keep = { name: "keepdims", type: onnx.AttributeProto.AttributeType.INT, i: keepDims ? 1 : 0 };
    return this.node("ReduceSum", [x.name, this.int64Const(axes)], this.reducedShape(x, axes, keepDims), x.dtype, [keep]);
  }
  reduceMean(x: OnnxValue, axes: number[], keepDims: boolean): OnnxValue {
    const attrs = [
      { name: "axes", type: onnx.AttributeProto.AttributeType.INTS, ints: axes },
      { name: "keepdims", type: onnx.AttributeProto.AttributeType.INT, i: keepDims ? 1 : 0 },
    ];
    return this.node("ReduceMean", [x.name], this.reducedShape(x, axes, keepDims), x.dtype, attrs);
  }
  expandDims(x: OnnxValue, axis: number): OnnxValue {
    const ax = normAxis(axis, x.shape.length + 1);
    const shape = [...x.shape];
    shape.splice(ax, 0, 1);
    return this.node("Unsqueeze", [x.name, this.int64Const([ax])], shape, x.dtype);
  }
  squeeze(x: OnnxValue, axes: number[]): OnnxValue {
    const ax = axes.map((a) => normAxis(a, x.shape.length));
    return this.node(
      "Squeeze",
      [x.name, this.int64Const(ax)],
      x.shape.filter((_, i) => !ax.includes(i)),
      x.dtype,
    );
  }

  /** Names a graph output (an Identity node gives it the public name). */
  output(value: OnnxValue, name: string): void {
    this.nodes.push({ opType: "Identity", input: [value.name], output: [name], name: `output_${name}` });
    this.outputs.push({ name, dtype: value.dtype, shape: value.shape });
  }

  inputNames(): string[] {
    return [...this.inputs.keys()];
  }

  /** Serialises the graph; inputs appear in declaration order. */
  build(graphName: string): Uint8Array {
    const valueInfo = (v: OnnxValue): onnxProto.onnx.IValueInfoProto => {
      const batch = this.isRequest(v) && this.inputs.has(v.name) ? "request" : "batch";
      return {
        name: v.name,
        type: {
          tensorType: { elemType: ELEM[v.dtype], shape: { dim: v.shape.map((d) => (d < 0 ? { dimParam: batch } : { dimValue: d })) } },
        },
      };
    };
    // Drop nodes and initializers no output depends on (e.g. a Concat replaced by a split dense layer).
    const needed = new Set(this.outputs.map((o) => o.name));
    const nodes = [...this.nodes].reverse().filter((n) => {
      if (!n.output?.some((o) => needed.has(o))) return false;
      for (const i of n.input ?? []) needed.add(i);
      return true;
    });
    nodes.reverse();
    const initializers = this.initializers.filter((t) => needed.has(t.name ?? ""));
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: "kser-edge",
      opsetImport: [{ domain: "", version: 17 }],
      graph: {
        name: graphName,
        node: nodes,
        initializer: initializers,
        input: [...this.inputs.values()].map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
