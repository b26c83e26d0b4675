/**
 * KSER_WASM_SHARED_HEAP=off: tfjs-wasm's plain build (its heap is not shared memory), where the GEMM's helpers get
 * copies of their operands; the products and gradients still equal the cpu backend's (gemm-thread-cases.ts), and
 * the layout and AdamW kernels, assembled for a plain heap, run on it.
 */
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../trainer/runtime/backend.ts";
import { wasmLayoutStatus } from "../../trainer/runtime/wasm-layout.ts";
import { AdamW } from "../../trainer/train/optimizer.ts";
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
});
