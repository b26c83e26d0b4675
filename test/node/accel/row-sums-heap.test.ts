/**
 * Sparse embedding gradients summed on the wasm heap (trainer/accel/optimizer/row-sums-heap.ts, the layout kernel's
 * accumulateRows) against the JS RowAccumulator: the same ids in the same first-touched order and the same sums to
 * the bit, over two steps with repeated ids, a table looked up twice in a step and more touched rows than the first
 * capacity (growth); an id out of range is refused; SparseEmbeddings on wasm keeps its sums on the heap.
 */
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../../trainer/accel/index.ts";
import { layoutFor } from "../../../trainer/accel/kernels/layout/layout.ts";
import { RowAccumulator } from "../../../trainer/accel/optimizer/row-sums.ts";
import { HeapRowSums } from "../../../trainer/accel/optimizer/row-sums-heap.ts";
import { type WasmBackend, wasmHeapOf } from "../../../trainer/accel/wasm/heap.ts";
import { SparseEmbeddings } from "../../../trainer/train/sparse-embeddings.ts";

beforeAll(async () => {
  await initBackend("wasm");
});

const bits = (values: Float32Array) => Array.from(new Uint32Array(Float32Array.from(values).buffer));

describe("row sums on the wasm heap", () => {
  it("equal the JS accumulator's ids and sums to the bit, across growth and steps", () => {
    const backend = tf.backend() as WasmBackend;
    const heap = wasmHeapOf(backend)!;
    const layout = layoutFor(backend)!;
    expect(layout).not.toBeNull();
    const [rows, width] = [3000, 7];
    const onHeap = new HeapRowSums(heap, layout, rows, width);
    const inJs = new RowAccumulator(rows, width);
    let seed = 5;
    const next = () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed;
    };
    // Steps of lookups (a table looked up twice in a step, then a small step, then a large one again).
    for (const lookups of [[2000, 2000], [40, 9], [4000]]) {
      onHeap.reset();
      inJs.reset();
      for (const n of lookups) {
        // Ids with repeats (a small range for half of them); gradients with a wide range of magnitudes.
        const ids = tf.tensor1d(
          Int32Array.from({ length: n }, (_, i) => (i % 2 ? next() % 40 : next() % rows)),
          "int32",
        );
        const grad = tf.tensor2d(
          Float32Array.from({ length: n * width }, () => ((next() / 2 ** 32 - 0.5) * 10 ** ((next() % 9) - 4)) as number),
          [n, width],
        );
        onHeap.add(backend.getMemoryOffset(ids.dataId), backend.getMemoryOffset(grad.dataId), n);
        inJs.add(ids.dataSync() as Int32Array, grad.dataSync() as Float32Array);
        tf.dispose([ids, grad]);
      }
      expect(onHeap.count).toBe(inJs.count);
      // The large steps grew past the first capacity of 1024 places.
      if (lookups[0] > 1000) expect(onHeap.count).toBeGreaterThan(1024);
      expect(Array.from(onHeap.ids.subarray(0, onHeap.count))).toEqual(Array.from(inJs.ids.subarray(0, inJs.count)));
      expect(bits(onHeap.values.subarray(0, onHeap.count * width))).toEqual(bits(inJs.values.subarray(0, inJs.count * width)));
    }
    const bad = tf.tensor1d([3, rows, 4], "int32");
    const grad = tf.ones([3, width]);
    expect(() => onHeap.add(backend.getMemoryOffset(bad.dataId), backend.getMemoryOffset(grad.dataId), 3)).toThrow(
      `embedding row ${rows} is not in [0, ${rows - 1}]`,
    );
    tf.dispose([bad, grad]);
    onHeap.dispose();
  });

  it("are what SparseEmbeddings uses on wasm, and its gradients match tf.gather's dense ones", () => {
    const table = tf.variable(tf.randomNormal([50, 4], 0, 1, "float32", 3));
    const sparse = new SparseEmbeddings(new Map([["emb/t", table]]));
    const acc = sparse.rows.get("emb/t")!;
    expect(acc).toBeInstanceOf(HeapRowSums);
    const ids = tf.tensor1d([7, 3, 7, 49, 0, 3], "int32");
    const w = tf.randomNormal([6, 4], 0, 1, "float32", 4);
    sparse.reset();
    tf.variableGrads(() => tf.sum(tf.mul(sparse.gather(table, ids), w)), [sparse.anchor]);
    const dense = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), w)))(table);
    const denseValues = dense.dataSync();
    expect(acc.count).toBe(4);
    const touched = Array.from(acc.ids.subarray(0, acc.count));
    expect(touched).toEqual([7, 3, 49, 0]);
    touched.forEach((id, s) => {
      expect(Array.from(acc.values.subarray(s * 4, s * 4 + 4))).toEqual(Array.from(denseValues.subarray(id * 4, id * 4 + 4)));
    });
    // Float ids are refused by the lookup itself, before any heap copy.
    expect(() => sparse.gather(table, tf.tensor1d([1, 2]))).toThrow(/int32/);
    sparse.dispose();
    tf.dispose([table, ids, w, dense]);
  });
});
