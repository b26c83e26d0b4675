/**
 * A third implementation of the op interface: it writes the model as PyTorch source instead of computing it. Values
 * are Python variable names; every op appends one line to the forward pass. Used for the PyTorch twin of a model
 * (bench/gpu): the same definition that trains in tfjs and exports to ONNX becomes an nn.Module, so a GPU comparison
 * runs the same layers, shapes and initialisers in both, not a hand-written look-alike.
 */
import type { Activation, DType, Init, Ops } from "./ops.ts";

export interface TorchParam {
  /** The model's parameter name (e.g. "core/dnn/0/w"). */
  name: string;
  /** Key in the module's ParameterDict ("/" is not allowed there). */
  key: string;
  shape: number[];
  init: Init;
}

export interface TorchInput {
  name: string;
  dtype: DType;
  shape: number[];
}

const ACTIVATIONS: Record<Activation, (x: string) => string> = {
  linear: (x) => x,
  relu: (x) => `torch.relu(${x})`,
  sigmoid: (x) => `torch.sigmoid(${x})`,
  tanh: (x) => `torch.tanh(${x})`,
};

const list = (xs: number[]) => `[${xs.join(", ")}]`;
const floatLiteral = (v: number) => (Number.isInteger(v) ? `${v}.0` : `${v}`);

export class TorchCodegenOps implements Ops<string> {
  readonly params = new Map<string, TorchParam>();
  readonly inputs = new Map<string, TorchInput>();
  /** Constant tensors as buffers: name -> values and shape (and dtype; take() indices are int64). */
  readonly buffers: { name: string; values: number[]; shape: number[]; dtype: "float32" | "int64" }[] = [];
  readonly lines: string[] = [];
  /** Inputs bound to values computed earlier (a graph's outputs fed to the next graph, as TfOps feeds do). */
  private readonly bound = new Map<string, string>();
  private readonly rank2Params = new Set<string>();
  private next = 0;

  private emit(expression: string): string {
    const v = `v${this.next++}`;
    this.lines.push(`${v} = ${expression}`);
    return v;
  }

  /** Makes input(name) return an already computed value from now on. */
  bind(name: string, value: string): void {
    this.bound.set(name, value);
  }

  input(name: string, dtype: DType, shape: number[]): string {
    const bound = this.bound.get(name);
    if (bound) return bound;
    const known = this.inputs.get(name);
    if (known && (known.dtype !== dtype || known.shape.join() !== shape.join()))
      throw new Error(`input ${name} declared twice with different dtype or shape`);
    if (!known) this.inputs.set(name, { name, dtype, shape });
    return `x[${JSON.stringify(name)}]`;
  }

  param(name: string, shape: number[], init: Init): string {
    const known = this.params.get(name);
    if (known) {
      if (known.shape.join() !== shape.join()) throw new Error(`parameter ${name} redeclared with shape [${shape}]`);
      return `p[${JSON.stringify(known.key)}]`;
    }
    const key = name.replaceAll("/", "__").replaceAll(".", "_");
    this.params.set(name, { name, key, shape, init });
    if (shape.length === 2) this.rank2Params.add(`p[${JSON.stringify(key)}]`);
    return `p[${JSON.stringify(key)}]`;
  }

  constant(values: number[], shape: number[]): string {
    const name = `c${this.buffers.length}`;
    this.buffers.push({ name, values, shape, dtype: "float32" });
    return `self.${name}`;
  }

  gather(table: string, ids: string): string {
    // F.embedding for 2-D tables (its backward is the fast path on GPU); plain indexing otherwise.
    if (this.rank2Params.has(table)) return this.emit(`F.embedding(${ids}.long(), ${table})`);
    return this.emit(`${table}[${ids}.long()]`);
  }

  embeddingBag(table: string, ids: string): string {
    const rows = this.gather(table, ids);
    const present = this.emit(`(${ids} != 0).float()`);
    return this.emit(`(${rows} * ${present}.unsqueeze(-1)).sum(-2) / ${present}.sum(-1, keepdim=True).clamp(min=1.0)`);
  }

  mapOutOfRange(ids: string, vocabSize: number): string {
    return this.emit(`torch.where((${ids} >= 0) & (${ids} < ${vocabSize}), ${ids}, torch.zeros_like(${ids}))`);
  }

  select(x: string, axis: number, index: number): string {
    return this.emit(`${x}.select(${axis}, ${index})`);
  }

  take(x: string, axis: number, indices: number[]): string {
    const name = `c${this.buffers.length}`;
    this.buffers.push({ name, values: indices, shape: [indices.length], dtype: "int64" });
    return this.emit(`${x}.index_select(${axis}, self.${name})`);
  }

  matMul(a: string, b: string): string {
    return this.emit(`torch.matmul(${a}, ${b})`);
  }

  matMulTransposed(a: string, b: string): string {
    return this.emit(`torch.matmul(${a}, ${b}.transpose(-1, -2))`);
  }

  dense(x: string, w: string, b: string | null, activation: Activation): string {
    return this.emit(ACTIVATIONS[activation](b ? `torch.matmul(${x}, ${w}) + ${b}` : `torch.matmul(${x}, ${w})`));
  }

  add(a: string, b: string): string {
    return this.emit(`${a} + ${b}`);
  }
  sub(a: string, b: string): string {
    return this.emit(`${a} - ${b}`);
  }
  mul(a: string, b: string): string {
    return this.emit(`${a} * ${b}`);
  }
  div(a: string, b: string): string {
    return this.emit(`${a} / ${b}`);
  }
  scale(x: string, factor: number): string {
    return this.emit(`${x} * ${floatLiteral(factor)}`);
  }
  square(x: string): string {
    return this.emit(`${x} * ${x}`);
  }
  relu(x: string): string {
    return this.emit(ACTIVATIONS.relu(x));
  }
  sigmoid(x: string): string {
    return this.emit(ACTIVATIONS.sigmoid(x));
  }
  tanh(x: string): string {
    return this.emit(ACTIVATIONS.tanh(x));
  }
  softmax(x: string): string {
    return this.emit(`torch.softmax(${x}, dim=-1)`);
  }
  concat(xs: string[], axis: number): string {
    return this.emit(`torch.cat([${xs.join(", ")}], dim=${axis})`);
  }
  reshape(x: string, shape: number[]): string {
    return this.emit(`${x}.reshape(${list(shape)})`);
  }
  transpose(x: string, perm: number[]): string {
    return this.emit(`${x}.permute(${list(perm)})`);
  }
  reduceSum(x: string, axes: number[], keepDims: boolean): string {
    return this.emit(`${x}.sum(dim=${list(axes)}, keepdim=${keepDims ? "True" : "False"})`);
  }
  reduceMean(x: string, axes: number[], keepDims: boolean): string {
    return this.emit(`${x}.mean(dim=${list(axes)}, keepdim=${keepDims ? "True" : "False"})`);
  }
  expandDims(x: string, axis: number): string {
    return this.emit(`${x}.unsqueeze(${axis})`);
  }
  squeeze(x: string, axes: number[]): string {
    let out = x;
    for (const axis of [...axes].sort((a, b) => b - a)) out = this.emit(`${out}.squeeze(${axis})`);
    return out;
  }

  /**
   * The nn.Module source: parameters with the model's initialisers (glorot uniform with the fans TfOps uses,
   * normal, zeros, constant), constants as buffers, and forward(x) returning the named outputs as a dict.
   */
  moduleSource(className: string, outputs: Record<string, string>): string {
    const init = (p: TorchParam) => {
      const shape = list(p.shape);
      switch (p.init.kind) {
        case "glorot": {
          const fanIn = p.shape.length >= 2 ? p.shape[p.shape.length - 2] : p.shape[0];
          const fanOut = p.shape[p.shape.length - 1];
          const limit = Math.sqrt(6 / (fanIn + fanOut));
          return `(torch.rand(${shape}) * 2 - 1) * ${limit}`;
        }
        case "normal":
          return `torch.randn(${shape}) * ${p.init.std}`;
        case "zeros":
          return `torch.zeros(${shape})`;
        case "constant":
          return `torch.full(${shape}, ${floatLiteral(p.init.value)})`;
      }
    };
    const body = [
      `class ${className}(torch.nn.Module):`,
      "    def __init__(self):",
      "        super().__init__()",
      "        self.p = torch.nn.ParameterDict({",
      ...[...this.params.values()].map((p) => `            ${JSON.stringify(p.key)}: torch.nn.Parameter(${init(p)}),`),
      "        })",
      ...this.buffers.map(
        (b) =>
          `        self.register_buffer(${JSON.stringify(b.name)}, torch.tensor(${list(b.values)}, dtype=torch.${b.dtype}).reshape(${list(b.shape)}))`,
      ),
      "",
      "    def forward(self, x):",
      "        p = self.p",
      ...this.lines.map((l) => `        ${l}`),
      `        return {${Object.entries(outputs)
        .map(([k, v]) => `${JSON.stringify(k)}: ${v}`)
        .join(", ")}}`,
    ];
    return `${body.join("\n")}\n`;
  }
}
