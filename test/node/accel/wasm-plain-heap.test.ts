/**
 * KSER_WASM_SHARED_HEAP=off: tfjs-wasm's plain build (its heap is not shared memory), where the GEMM's helpers get
 * copies of their operands; the products and gradients still equal the cpu backend's (gemm-thread-cases.ts), and
 * the layout and AdamW kernels, assembled for a plain heap, run on it, including a middle-axis gather whose output
 * grows (and so detaches) the heap (the ids must be read before, not through a view made before).
 */
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../../trainer/accel/index.ts";
import { wasmLayoutStatus } from "../../../trainer/accel/kernels/layout/layout.ts";
import { AdamW } from "../../../trainer/train/optimizer.ts";
import { expectHelperThreadsMatchCpu } from "./gemm-thread-cases.ts";

beforeAll(async () => {
  process.env.KSER_WASM_THREADS = "2";
  process.env.KSER_WASM_SHARED_HEAP = "off";
  await initBackend("wasm");
});

describe("tfjs-wasm's plain build (KSER_WASM_SHARED_HEAP=off)", () => {
  it("gives the cpu backend's products and gradients, with helpers working on copies", async () => {
    await expectHelperThreadsMatchCpu(2, false);
  });

  it("runs the AdamW and layout kernels on the plain heap, with the JS update's and a plain transpose's values", () => {
    const w = tf.variable(tf.randomNormal([40, 7], 0, 1, "float32", 5));
    const wJs = tf.variable(w.clone());
    const grad = tf.randomNormal([40, 7], 0, 1, "float32", 6);
    const wasm = new AdamW(new Map([["w", w]]), { weightDecay: 0.01 });
    const js = new AdamW(new Map([["w", wJs]]), { weightDecay: 0.01, kernel: "js" });
    expect(wasm.kernel).toBe("wasm");
    for (let i = 0; i < 3; i++) {
      wasm.apply({ w: grad }, 1e-2);
      js.apply({ w: grad }, 1e-2);
    }
    expect(Array.from(w.dataSync())).toEqual(Array.from(wJs.dataSync()));

    const callsBefore = wasmLayoutStatus().calls;
    const x = tf.randomNormal([64, 48], 0, 1, "float32", 7);
    const xs = x.arraySync() as number[][];
    expect(tf.transpose(x).arraySync()).toEqual(xs[0].map((_, j) => xs.map((row) => row[j])));
    expect(wasmLayoutStatus().calls).toBeGreaterThan(callsBefore);
  });

  it("gathers along a middle axis and sums segments in the layout kernel, while outputs grow the plain heap", () => {
    const callsBefore = wasmLayoutStatus().calls;
    const x = tf.randomNormal([6, 5, 4], 0, 1, "float32", 8);
    const xs = x.arraySync() as number[][][];
    const ids = Array.from({ length: 40 }, (_, i) => (i * 3) % 5);
    // A 4 MB table and a 32 MB gather of it: allocating the output grows the heap, which detaches views made before.
    const big = tf.tile(x, [10000, 1, 1]);
    const picked = tf.gather(big, tf.tensor1d(ids, "int32"), 1);
    expect(picked.shape).toEqual([60000, 40, 4]);
    const last = tf.slice(picked, [59999, 0, 0], [1, 40, 4]).arraySync() as number[][][];
    expect(last[0]).toEqual(ids.map((id) => xs[5][id]));
    const sums = tf.unsortedSegmentSum(
      tf.reshape(big, [60000, 20]),
      tf.tensor1d(
        Array.from({ length: 60000 }, (_, i) => i % 6),
        "int32",
      ),
      6,
    );
    const row0 = (sums.arraySync() as number[][])[0];
    // Segment 0 holds rows 0, 6, 12, ...: 10,000 copies of x[0], added in order from zero in float32.
    const expected = xs[0].flat().map((v) => {
      let acc = 0;
      for (let k = 0; k < 10000; k++) acc = Math.fround(acc + v);
      return acc;
    });
    expect(row0).toEqual(expected);
    expect(wasmLayoutStatus().calls).toBeGreaterThan(callsBefore);
    tf.dispose([x, big, picked, sums]);
  });
});
