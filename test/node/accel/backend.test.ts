/**
 * The wasm backend carries the segment-sum and batched-matMul patches, and gradients through them (embedding lookup backward = segment sum;
 * matMul with transposes backward) match the cpu backend. Its Identity (the tape's clone of every saved tensor)
 * shares memory, and an in-place parameter update never shows through a clone.
 */
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { initBackend } from "../../../trainer/accel/index.ts";
import { updateValues } from "../../../trainer/accel/optimizer/adam-moments.ts";
import { identityPatchRegistered } from "../../../trainer/accel/patches/identity.ts";
import { kernelPatchesRegistered } from "../../../trainer/accel/patches/kernel-patch.ts";
import { registerSegmentSumPatch } from "../../../trainer/accel/patches/segment-sum.ts";

async function gradientsOn(backend: "wasm" | "cpu") {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const table = tf.tensor2d(
      Float32Array.from({ length: 50 * 6 }, (_, i) => Math.sin(i)),
      [50, 6],
    );
    const ids = tf.tensor2d([3, 7, 3, 49, 0, 7, 7, 12], [2, 4], "int32");
    const a = tf.tensor3d(
      Float32Array.from({ length: 2 * 3 * 5 }, (_, i) => Math.cos(i)),
      [2, 3, 5],
    );
    const b = tf.tensor3d(
      Float32Array.from({ length: 2 * 4 * 5 }, (_, i) => Math.sin(i * 0.7)),
      [2, 4, 5],
    );
    const gatherGrad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), tf.scalar(1.5))))(table);
    // a @ b^T and a^T @ (a @ b^T): both backward passes use transposed products.
    const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, y, false, true))))([a, b]);
    const gt = tf.grad((x: tf.Tensor) => tf.sum(tf.matMul(x, x, true, false)))(a);
    return {
      gather: Array.from(gatherGrad.dataSync()),
      ga: Array.from(ga.dataSync()),
      gb: Array.from(gb.dataSync()),
      gt: Array.from(gt.dataSync()),
    };
  });
}

describe("training backend", () => {
  it("initialises wasm with both kernel fixes, idempotently", async () => {
    const first = await initBackend("wasm");
    expect(first.name).toBe("wasm");
    expect(await initBackend("cpu")).toEqual(first);
    expect(kernelPatchesRegistered("wasm")).toEqual({ segmentSum: true, batchMatMul: true });
  });

  it("gradients on wasm match the cpu reference", async () => {
    await initBackend("wasm");
    await import("@tensorflow/tfjs-backend-cpu");
    registerSegmentSumPatch("cpu");
    const wasm = await gradientsOn("wasm");
    const cpu = await gradientsOn("cpu");
    await tf.setBackend("wasm");
    // Embedding rows: id 3 twice, 7 three times, 49/0/12 once, others zero.
    expect(wasm.gather[7 * 6]).toBeCloseTo(4.5, 6);
    expect(wasm.gather[1 * 6]).toBe(0);
    for (const key of ["gather", "ga", "gb", "gt"] as const) {
      const diff = Math.max(...wasm[key].map((v, i) => Math.abs(v - cpu[key][i])));
      expect(diff, key).toBeLessThan(1e-4);
    }
  });

  it("clones share memory on wasm, and an in-place update does not show through a clone", async () => {
    await initBackend("wasm");
    expect(identityPatchRegistered()).toBe(true);
    const backend = tf.backend() as unknown as { refCount(dataId: tf.DataId): number };
    const x = tf.tensor1d([1, 2, 3, 4]);
    const y = tf.clone(x);
    expect(y.dataId).toBe(x.dataId);
    expect(backend.refCount(x.dataId)).toBe(2);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4]);
    expect(backend.refCount(y.dataId)).toBe(1);
    // A parameter cloned (as the tape does) and then updated in place: the clone keeps the old values.
    const p = tf.variable(tf.tensor1d([1, 1, 1]));
    const saved = tf.clone(p);
    updateValues(p, true, (v) => v.fill(5));
    expect(Array.from(p.dataSync())).toEqual([5, 5, 5]);
    expect(Array.from(saved.dataSync())).toEqual([1, 1, 1]);
    tf.dispose([y, p, saved]);
  });
});
