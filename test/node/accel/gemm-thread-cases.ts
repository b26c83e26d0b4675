/**
 * The check both helper-thread test files run inside tfjs (each file is its own process, with the backend started
 * on tfjs-wasm's threaded build (shared heap) or on its plain build): a dense relu layer at batch 1024 and its
 * gradients, and a batched product, equal the cpu backend's, and the helpers computed pieces of them.
 */
import * as tf from "@tensorflow/tfjs-core";
import { expect } from "vitest";
import { wasmGemmStatus } from "../../../trainer/accel/patches/gemm-routing.ts";
import { wasmHeapOf } from "../../../trainer/accel/wasm/heap.ts";
import { expectSameValues, snapshot } from "./backend-compare.ts";

function cases() {
  return tf.tidy(() => {
    const x = tf.randomNormal([1024, 160], 0, 1, "float32", 1);
    const w = tf.randomNormal([160, 256], 0, 0.1, "float32", 2);
    const bias = tf.randomNormal([256], 0, 0.1, "float32", 3);
    const layer = (xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) => tf.sum(tf.relu(tf.add(tf.matMul(xs, ws), bs)));
    const [dx, dw, db] = tf.grads(layer)([x, w, bias]);
    const chunks = tf.randomNormal([600, 6, 128], 0, 1, "float32", 4);
    return snapshot({
      forward: tf.fused.matMul({ a: x, b: w, bias, activation: "relu" }),
      dx,
      dw,
      db,
      gram: tf.matMul(chunks, chunks, false, true),
    });
  });
}

/** Runs the cases on wasm with `threads` GEMM threads and on cpu; `sharedHeap`: which tfjs-wasm build is running. */
export async function expectHelperThreadsMatchCpu(threads: number, sharedHeap: boolean): Promise<void> {
  expect(tf.getBackend()).toBe("wasm");
  const memory = wasmHeapOf(tf.backend())!.memory;
  expect(memory.buffer instanceof SharedArrayBuffer).toBe(sharedHeap);
  const wasm = cases();
  const status = wasmGemmStatus();
  expect(status.threads).toBe(threads);
  expect(status.sharedHeap).toBe(sharedHeap);
  // forward (fused), the tape's forward product, dx, dw: split between the threads; the batched Gram too.
  expect(status.helperPieces).toBeGreaterThanOrEqual((threads - 1) * 5);
  await import("@tensorflow/tfjs-backend-cpu");
  await tf.setBackend("cpu");
  const cpu = cases();
  await tf.setBackend("wasm");
  // Values up to ~200 (dw, the Gram): float32 rounding of sums over 128-1024 terms, ~1e-4 here.
  expectSameValues(wasm, cpu, 5e-4);
}
