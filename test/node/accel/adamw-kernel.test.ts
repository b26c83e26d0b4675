/**
 * Our wasm AdamW kernel (trainer/accel/kernels/adamw.ts, optimizer/adamw-heap.ts) against the JS update it replaces: the same
 * bits for every parameter and moment, dense and sparse, with frozen rows, over several steps; its state
 * round-trips; its heap memory is freed; bad row ids are refused before the kernel sees them.
 */
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../../trainer/accel/index.ts";
import { compileAdamW, instantiateAdamW } from "../../../trainer/accel/kernels/adamw.ts";
import { type RowGradients, readValues } from "../../../trainer/accel/optimizer/adam-moments.ts";
import { wasmHeapOf } from "../../../trainer/accel/wasm/heap.ts";
import { AdamW } from "../../../trainer/train/optimizer.ts";

/** Elements where two arrays differ as float32 bit patterns (NaN included). */
function bitDifferences(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let n = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) n++;
  return n;
}

/** Deterministic values spread over many magnitudes (and exact zeros). */
function values(n: number, seed: number, positive = false): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    const u = s / 2147483648;
    if (u < 0.05) return 0;
    const x = (u - 0.5) * 10 ** ((s % 9) - 5);
    return positive ? Math.abs(x) : x;
  });
}

const constants = { b1: 0.9, b2: 0.999, c1: 1 - 0.9, c2: 1 - 0.999, eps: 1e-7, decay: 1 - 0.01 * 0.05, stepSize: 0.0123 };

/** The JS loop of adam-moments.ts, written out again as the reference. */
function referenceUpdate(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array) {
  const { b1, b2, c1, c2, eps, decay, stepSize } = constants;
  for (let i = 0; i < w.length; i++) {
    const gi = g[i];
    m[i] = b1 * m[i] + c1 * gi;
    v[i] = b2 * v[i] + c2 * gi * gi;
    w[i] = w[i] * decay - (stepSize * m[i]) / (Math.sqrt(v[i]) + eps);
  }
}

beforeAll(async () => {
  await initBackend("wasm");
});

describe("wasm AdamW kernel", () => {
  it("computes the JS update's bits for every length (vector body and scalar tail)", async () => {
    const memory = new WebAssembly.Memory({ initial: 4 });
    const kernel = instantiateAdamW(await compileAdamW(), memory);
    kernel.setConstants(constants);
    for (const n of [0, 1, 2, 3, 4, 5, 7, 8, 9, 64, 1001]) {
      const [w, g, m, v] = [values(n, 1 + n), values(n, 2 + n), values(n, 3 + n), values(n, 4 + n, true)];
      const heap = new Float32Array(memory.buffer);
      const at = [16, 16 + n, 16 + 2 * n, 16 + 3 * n];
      for (const [i, x] of [w, g, m, v].entries()) heap.set(x, at[i]);
      kernel.dense(4 * at[0], 4 * at[1], 4 * at[2], 4 * at[3], 1, 4 * n, 0);
      referenceUpdate(w, g, m, v);
      expect(bitDifferences(heap.slice(at[0], at[0] + n), w), `w, n=${n}`).toBe(0);
      expect(bitDifferences(heap.slice(at[2], at[2] + n), m), `m, n=${n}`).toBe(0);
      expect(bitDifferences(heap.slice(at[3], at[3] + n), v), `v, n=${n}`).toBe(0);
    }
  });

  it("gives AdamW the same parameters and moments as the JS update, dense and sparse, with frozen rows", () => {
    const shapes: Record<string, number[]> = { dense: [37, 13], bias: [5], masked: [8, 4], table: [50, 6], frozenTable: [20, 16] };
    const make = () =>
      new Map(
        Object.entries(shapes).map(([name, shape], i) => {
          const size = shape.reduce((a, c) => a * c, 1);
          return [name, tf.variable(tf.tensor(values(size, 100 + i), shape), true)] as const;
        }),
      );
    const [onKernel, onJs] = [make(), make()];
    const wasmOpt = new AdamW(onKernel, { weightDecay: 0.01 });
    const jsOpt = new AdamW(onJs, { weightDecay: 0.01, kernel: "js" });
    expect(wasmOpt.kernel).toBe("wasm");
    expect(jsOpt.kernel).toBe("js");
    for (const opt of [wasmOpt, jsOpt]) {
      opt.freezeRows("masked", [true, false, true, true, false, false, true, true]);
      opt.freezeRows(
        "frozenTable",
        Array.from({ length: 20 }, (_, r) => r % 3 !== 0),
      );
    }
    for (let step = 0; step < 6; step++) {
      const dense = Object.fromEntries(
        ["dense", "bias", "masked"].map((name, i) => [name, tf.tensor(values(onKernel.get(name)!.size, 1000 * step + i), shapes[name])]),
      );
      const rows = (name: string, count: number, seed: number): RowGradients => {
        const [tableRows, rowSize] = shapes[name];
        const ids = Int32Array.from({ length: count }, (_, s) => (s * 7 + step * 3) % tableRows);
        return { ids, count, values: values(count * rowSize, seed) };
      };
      const sparse = new Map([
        ["table", rows("table", 9, 7 + step)],
        ["frozenTable", rows("frozenTable", 12, 70 + step)],
      ]);
      wasmOpt.apply(dense, 0.05, sparse);
      jsOpt.apply(dense, 0.05, sparse);
      tf.dispose(Object.values(dense));
    }
    const [kernelState, jsState] = [wasmOpt.getState(), jsOpt.getState()];
    for (const name of Object.keys(shapes)) {
      expect(bitDifferences(readValues(onKernel.get(name)!).slice(), readValues(onJs.get(name)!).slice()), name).toBe(0);
      expect(bitDifferences(kernelState.moments.get(name)!.m, jsState.moments.get(name)!.m), `${name} m`).toBe(0);
      expect(bitDifferences(kernelState.moments.get(name)!.v, jsState.moments.get(name)!.v), `${name} v`).toBe(0);
    }
    // The updates did something, and frozen rows stayed put.
    expect(bitDifferences(readValues(onKernel.get("dense")!).slice(), values(37 * 13, 100))).toBeGreaterThan(400);
    const masked = readValues(onKernel.get("masked")!).slice();
    expect(bitDifferences(masked.slice(4, 8), values(32, 102).slice(4, 8))).toBe(0);
    expect(bitDifferences(masked.slice(0, 4), values(32, 102).slice(0, 4))).toBe(4);
    wasmOpt.dispose();
    jsOpt.dispose();
    tf.dispose([...onKernel.values(), ...onJs.values()]);
  });

  it("resumes from its state exactly", () => {
    const make = () => new Map([["w", tf.variable(tf.tensor(values(300, 5), [30, 10]), true)]]);
    const grad = (step: number) => ({ w: tf.tensor(values(300, 50 + step), [30, 10]) });
    const [straight, resumedVars] = [make(), make()];
    const a = new AdamW(straight);
    for (let s = 0; s < 3; s++) a.apply(grad(s), 0.01);
    const saved = a.getState();
    resumedVars.get("w")!.assign(straight.get("w")!);
    const b = new AdamW(resumedVars);
    b.setState(saved);
    a.apply(grad(3), 0.01);
    b.apply(grad(3), 0.01);
    expect(b.kernel).toBe("wasm");
    expect(bitDifferences(readValues(straight.get("w")!).slice(), readValues(resumedVars.get("w")!).slice())).toBe(0);
    expect(bitDifferences(a.getState().moments.get("w")!.v, b.getState().moments.get("w")!.v)).toBe(0);
    a.dispose();
    b.dispose();
  });

  it("frees its heap moments on dispose", () => {
    const heap = wasmHeapOf(tf.backend())!;
    const p = new Map([["big", tf.variable(tf.zeros([1000, 1000]), true)]]);
    new AdamW(p).dispose();
    const before = heap.memory.buffer.byteLength;
    // 20 optimizers of 8 MB of moments each would grow the heap by 160 MB if their memory were kept.
    for (let i = 0; i < 20; i++) new AdamW(p).dispose();
    expect(heap.memory.buffer.byteLength - before).toBeLessThan(16 * 2 ** 20);
    tf.dispose([...p.values()]);
  });

  it("refuses a row id outside the table before the kernel writes anywhere", () => {
    const table = tf.variable(tf.zeros([4, 2]), true);
    const opt = new AdamW(new Map([["t", table]]));
    const bad: RowGradients = { ids: Int32Array.from([1, 4]), count: 2, values: new Float32Array(4).fill(1) };
    expect(() => opt.apply({}, 0.1, new Map([["t", bad]]))).toThrow(/row 4 of t is not in \[0, 3\]/);
    expect(Array.from(readValues(table))).toEqual(new Array(8).fill(0));
    opt.dispose();
    table.dispose();
  });
});
