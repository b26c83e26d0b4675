/**
 * Float32 Add, Sub, Multiply and RealDiv with broadcasting in our wasm layout kernel (kernels/layout/broadcast-binary.ts): the
 * plan collapses shapes to at most 4 strided axes, and on the wasm backend every op and shape gives the cpu
 * backend's bits (one IEEE operation per element), running in our kernel where the plan fits, in wasm's own where
 * it does not (more axes, same shapes, int32, small operands).
 */
import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../../trainer/accel/index.ts";
import { InnerMode, MIN_BROADCAST_ELEMENTS, planBroadcast } from "../../../trainer/accel/kernels/layout/broadcast-binary.ts";
import { wasmLayoutStatus } from "../../../trainer/accel/kernels/layout/layout.ts";

beforeAll(async () => {
  await initBackend("wasm");
});

describe("planBroadcast", () => {
  it("merges axes both operands step through alike and names the inner mode", () => {
    // The history mask: [B, L, D] x [B, L, 1] is rows of D times one value each.
    expect(planBroadcast([1024, 5, 32], [1024, 5, 1], [1024, 5, 32])).toEqual({
      counts: [1, 1, 5120, 32],
      aStrides: [0, 0, 32],
      bStrides: [0, 0, 1],
      mode: InnerMode.ScalarB,
    });
    // [B, 1, D] x [B, L, D]: a row shared by L rows of b; both contiguous inside.
    expect(planBroadcast([1024, 1, 32], [1024, 5, 32], [1024, 5, 32])).toEqual({
      counts: [1, 1024, 5, 32],
      aStrides: [0, 32, 0],
      bStrides: [0, 160, 32],
      mode: InnerMode.Both,
    });
    // An outer product per batch: a is one value per output row, b one row for all of them.
    expect(planBroadcast([8, 6, 1], [8, 1, 6], [8, 6, 6])).toEqual({
      counts: [1, 8, 6, 6],
      aStrides: [0, 6, 1],
      bStrides: [0, 6, 0],
      mode: InnerMode.ScalarA,
    });
    expect(planBroadcast([], [7, 3], [7, 3])).toEqual({
      counts: [1, 1, 1, 21],
      aStrides: [0, 0, 0],
      bStrides: [0, 0, 0],
      mode: InnerMode.ScalarA,
    });
    expect(planBroadcast([], [], [])).toEqual({ counts: [1, 1, 1, 1], aStrides: [0, 0, 0], bStrides: [0, 0, 0], mode: InnerMode.Both });
  });

  it("declines shapes that need more than 4 strided axes", () => {
    expect(planBroadcast([2, 3, 4, 5, 6], [3, 1, 5, 1], [2, 3, 4, 5, 6])).toBeNull();
  });
});

const CASES: Array<[number[], number[]]> = [
  [
    [64, 5, 32],
    [64, 5, 1],
  ],
  [
    [64, 1, 32],
    [64, 5, 32],
  ],
  [
    [128, 6, 1],
    [128, 1, 6],
  ],
  [
    [128, 1, 6],
    [6, 6],
  ],
  [[1024, 7], [7]],
  [
    [1024, 7],
    [1024, 1],
  ],
  [
    [1, 4099],
    [3, 1],
  ],
  [[], [900, 5]],
  [[900, 5], []],
  [[4100], [1]],
  [
    [40, 1, 30, 1],
    [1, 5, 1, 2],
  ],
  [
    [2, 3, 40, 5, 6],
    [3, 1, 5, 1],
  ],
  [[0, 5000], [5000]],
  // Small: wasm's own kernels.
  [[33, 7], [7]],
  [
    [4, 6, 1],
    [4, 1, 6],
  ],
];

const OPS = { add: tf.add, sub: tf.sub, mul: tf.mul, div: tf.div } as const;

function valuesOf(backend: "wasm" | "cpu", shape: number[], seed: number): tf.Tensor {
  tf.setBackend(backend);
  const size = tf.util.sizeFromShape(shape);
  // Values of mixed signs and magnitudes, a zero, a NaN and an infinity among them.
  const values = Float32Array.from({ length: size }, (_, i) => Math.sin(seed * 31 + i * 1.37) * 10 ** ((i % 7) - 3));
  if (size > 5) [values[1], values[3], values[5]] = [0, Number.NaN, Number.POSITIVE_INFINITY];
  return tf.tensor(values, shape);
}

function bitsOf(backend: "wasm" | "cpu", op: keyof typeof OPS, aShape: number[], bShape: number[]): number[] {
  return tf.tidy(() => {
    const a = valuesOf(backend, aShape, 1);
    const b = valuesOf(backend, bShape, 2);
    tf.setBackend(backend);
    const out = OPS[op](a, b);
    return Array.from(new Uint32Array(Float32Array.from(out.dataSync()).buffer));
  });
}

describe("broadcasting binary ops on wasm", () => {
  for (const [aShape, bShape] of CASES) {
    it(`${JSON.stringify(aShape)} op ${JSON.stringify(bShape)} equal the cpu backend's bits`, () => {
      for (const op of Object.keys(OPS) as Array<keyof typeof OPS>) {
        const before = wasmLayoutStatus().calls;
        const wasm = bitsOf("wasm", op, aShape, bShape);
        const usedKernel = wasmLayoutStatus().calls > before;
        const cpu = bitsOf("cpu", op, aShape, bShape);
        tf.setBackend("wasm");
        expect(wasm, op).toEqual(cpu);
        const outShape = tf.backend_util.assertAndGetBroadcastShape(aShape, bShape);
        const larger = Math.max(tf.util.sizeFromShape(aShape), tf.util.sizeFromShape(bShape));
        const fits = planBroadcast(aShape, bShape, outShape) !== null && larger >= MIN_BROADCAST_ELEMENTS;
        // Zero-size outputs need no kernel call; every other fitting plan of some size runs in our kernel.
        expect(usedKernel, op).toBe(fits && tf.util.sizeFromShape(outShape) > 0);
      }
    });
  }

  it("leaves same shapes and int32 to wasm's own kernels", () => {
    tf.setBackend("wasm");
    const [ones, threes] = [tf.ones([8, 1024]), tf.fill([8, 1024], 3)];
    // A broadcast large enough for our kernel, but int32.
    const [intOnes, intRange] = [tf.fill([1024, 8], 1, "int32"), tf.range(0, 8, 1, "int32")];
    const before = wasmLayoutStatus().calls;
    const [same, ints] = [tf.mul(ones, threes), tf.add(intOnes, intRange)];
    expect(wasmLayoutStatus().calls).toBe(before);
    expect(Array.from(same.dataSync())).toEqual(Array(8192).fill(3));
    expect(Array.from(ints.dataSync().slice(0, 16))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
    tf.dispose([ones, threes, intOnes, intRange, same, ints]);
  });
});
