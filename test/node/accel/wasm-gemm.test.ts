/**
 * Our wasm matrix product (trainer/accel/kernels/gemm/gemm.ts) and its routing into tfjs-wasm (patches/gemm-routing.ts):
 *  - the module itself, both variants (fused multiply-add and separate), against a float64 product, with strided
 *    (transposed) operands, remainders of the 4-row tiles and 8-column panels, bias and relu, and several products
 *    in one call with a shared operand and a transposed result;
 *  - with two helper threads (gemm-threads.ts), rows or batch products split between three threads give the
 *    one-thread result to the bit, and both helpers take a piece of every product;
 *  - under the wasm backend, plain, batched (also with one side shared), transposed, one-column and fused products
 *    and their gradients equal the cpu backend's; the eligible ones go through our kernel, the others (tiny, other
 *    activations, batch axes broadcast both ways, a single product with fewer than 8 rows either way round) keep tfjs's.
 */

import { Worker } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { initBackend } from "../../../trainer/accel/index.ts";
import { compileGemm, gemmWorkLayout, instantiateGemm } from "../../../trainer/accel/kernels/gemm/gemm.ts";
import { GemmThreads } from "../../../trainer/accel/kernels/gemm/threads.ts";
import { wasmGemmStatus } from "../../../trainer/accel/patches/gemm-routing.ts";
import { expectSameValues, snapshot } from "./backend-compare.ts";

/** A deterministic pseudo-random fill in [-1, 1). */
function fill(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/**
 * A test memory with a bump allocator: release(mark()) frees everything allocated after the mark. `shared`: shared
 * memory with a 4 GiB maximum, like tfjs-wasm's threaded build's heap.
 */
function testHeap(pages: number, shared = false) {
  const memory = new WebAssembly.Memory(shared ? { initial: pages, maximum: 65_536, shared: true } : { initial: pages });
  let top = 4096;
  return {
    memory,
    malloc(bytes: number) {
      const at = top;
      top += Math.ceil(bytes / 16) * 16;
      if (top > memory.buffer.byteLength) memory.grow(Math.ceil((top - memory.buffer.byteLength) / 65536));
      return at;
    },
    mark: () => top,
    release(at: number) {
      top = at;
    },
  };
}

describe("wasm GEMM module", () => {
  for (const [fused, rowBlockBytes] of [
    [true, undefined],
    [false, undefined],
    [true, 1],
  ] as const) {
    const variant = `${fused ? "fused multiply-add" : "separate multiply and add"}${rowBlockBytes ? ", one tile of rows per block" : ""}`;
    it(`matches a float64 product (${variant})`, async () => {
      const compiled = await compileGemm(fused);
      if (!fused) expect(compiled.fusedMultiplyAdd).toBe(false);
      const { memory, malloc, mark, release } = testHeap(64);
      let freed = 0;
      const gemm = instantiateGemm(compiled, memory, malloc, () => freed++, { rowBlockBytes });
      const shapes: Array<[number, number, number]> = [
        [1, 1, 1],
        [4, 8, 3],
        [5, 9, 7],
        [7, 17, 33],
        [13, 24, 160],
        [64, 16, 1024],
        // More than 64 columns: a transposed A is packed rather than read in place.
        [9, 70, 20],
      ];
      let calls = 0;
      for (const [m, n, k] of shapes)
        for (const transposeA of [false, true])
          for (const transposeB of [false, true])
            for (const [withBias, relu] of [
              [false, false],
              [true, false],
              [true, true],
            ] as const) {
              const base = mark();
              const a = malloc(4 * m * k);
              const b = malloc(4 * k * n);
              const c = malloc(4 * m * n);
              const bias = malloc(4 * n);
              const heap = new Float32Array(memory.buffer);
              heap.set(fill(m * k, m + k), a / 4);
              heap.set(fill(k * n, n * 3 + k), b / 4);
              heap.set(fill(n, n), bias / 4);
              heap.fill(Number.NaN, c / 4, c / 4 + m * n);
              gemm.matMul({
                m,
                n,
                k,
                a,
                aRowStride: transposeA ? 1 : k,
                aColStride: transposeA ? m : 1,
                b,
                bRowStride: transposeB ? 1 : n,
                bColStride: transposeB ? k : 1,
                c,
                bias: withBias ? bias : null,
                relu,
              });
              calls++;
              const h = new Float32Array(memory.buffer);
              let worst = 0;
              for (let i = 0; i < m; i++)
                for (let j = 0; j < n; j++) {
                  let s = withBias ? h[bias / 4 + j] : 0;
                  for (let p = 0; p < k; p++)
                    s += h[a / 4 + (transposeA ? p * m + i : i * k + p)] * h[b / 4 + (transposeB ? j * k + p : p * n + j)];
                  if (relu) s = Math.max(0, s);
                  worst = Math.max(worst, Math.abs(s - h[c / 4 + i * n + j]));
                }
              expect(worst, `${m}x${k}x${n} tA=${transposeA} tB=${transposeB} bias=${withBias} relu=${relu}`).toBeLessThan(
                2e-5 * Math.sqrt(k),
              );
              release(base);
            }
      // Three products in one call, B shared (batch stride 0), C written transposed (each C_q^T is [n, m]).
      {
        const [batch, m, n, k] = [3, 6, 11, 9];
        const a = malloc(4 * batch * m * k);
        const b = malloc(4 * k * n);
        const c = malloc(4 * batch * m * n);
        const heap = new Float32Array(memory.buffer);
        heap.set(fill(batch * m * k, 5), a / 4);
        heap.set(fill(k * n, 6), b / 4);
        gemm.matMul({
          batch,
          aBatchStride: m * k,
          bBatchStride: 0,
          m,
          n,
          k,
          a,
          aRowStride: k,
          aColStride: 1,
          b,
          bRowStride: n,
          bColStride: 1,
          c,
          cRowStride: 1,
          cColStride: m,
          bias: null,
          relu: false,
        });
        calls++;
        const h = new Float32Array(memory.buffer);
        let worst = 0;
        for (let q = 0; q < batch; q++)
          for (let i = 0; i < m; i++)
            for (let j = 0; j < n; j++) {
              let s = 0;
              for (let p = 0; p < k; p++) s += h[a / 4 + q * m * k + i * k + p] * h[b / 4 + p * n + j];
              worst = Math.max(worst, Math.abs(s - h[c / 4 + q * m * n + j * m + i]));
            }
        expect(worst, "batched, shared B, transposed C").toBeLessThan(1e-5);
      }
      // An A that is neither row- nor column-contiguous (every other column of every other row of a larger
      // matrix): packed through its strides.
      {
        const [m, n, k] = [7, 12, 5];
        const a = malloc(4 * 2 * m * 2 * k);
        const b = malloc(4 * k * n);
        const c = malloc(4 * m * n);
        const heap = new Float32Array(memory.buffer);
        heap.set(fill(4 * m * k, 7), a / 4);
        heap.set(fill(k * n, 8), b / 4);
        gemm.matMul({ m, n, k, a, aRowStride: 4 * k, aColStride: 2, b, bRowStride: n, bColStride: 1, c, bias: null, relu: false });
        calls++;
        const h = new Float32Array(memory.buffer);
        let worst = 0;
        for (let i = 0; i < m; i++)
          for (let j = 0; j < n; j++) {
            let s = 0;
            for (let p = 0; p < k; p++) s += h[a / 4 + i * 4 * k + 2 * p] * h[b / 4 + p * n + j];
            worst = Math.max(worst, Math.abs(s - h[c / 4 + i * n + j]));
          }
        expect(worst, "strided A").toBeLessThan(1e-5);
      }
      // Every call freed its packing buffer.
      expect(freed).toBe(calls);
      expect(() =>
        gemm.matMul({
          m: 0,
          n: 1,
          k: 1,
          a: 0,
          aRowStride: 1,
          aColStride: 1,
          b: 0,
          bRowStride: 1,
          bColStride: 1,
          c: 0,
          bias: null,
          relu: false,
        }),
      ).toThrow(/positive sizes/);
    });
  }
});

describe("wasm GEMM with helper threads", () => {
  it.each([
    ["their own memories (operands copied)", false],
    ["a shared heap (in place)", true],
  ])(
    "computes every product to the bit as one thread does (rows or products split between three threads), on %s",
    async (_, sharedHeap) => {
      const compiled = await compileGemm(true);
      expect(compiled.sharedModule).not.toBeNull();
      const { memory, malloc, mark, release } = testHeap(1024, sharedHeap);
      const alone = instantiateGemm(compiled, memory, malloc, () => {});
      const shared = instantiateGemm(compiled, memory, malloc, () => {}, { helperThreads: 2 });
      expect([alone.threads, shared.threads]).toEqual([1, 3]);
      expect([alone.sharedHeap, shared.sharedHeap]).toEqual([sharedHeap, sharedHeap]);
      // [batch, m, n, k, transposeA, transposeB, bias + relu, C transposed, B shared by the batch]; each >= 2^20
      // multiply-adds, so each is split.
      const cases: Array<[number, number, number, number, boolean, boolean, boolean, boolean, boolean]> = [
        [1, 1024, 256, 160, false, false, true, false, false],
        [1, 1027, 130, 160, true, false, false, false, false],
        [1, 512, 128, 256, false, true, true, false, false],
        [1, 998, 40, 64, false, false, false, true, false],
        [300, 6, 6, 128, false, true, false, false, false],
        [257, 6, 9, 128, false, false, false, true, true],
      ];
      for (const [batch, m, n, k, tA, tB, biasRelu, cT, sharedB] of cases) {
        const base = mark();
        const a = malloc(4 * batch * m * k);
        const b = malloc(4 * (sharedB ? 1 : batch) * k * n);
        const bias = malloc(4 * n);
        const heap = () => new Float32Array(memory.buffer);
        heap().set(fill(batch * m * k, m + 7 * k), a / 4);
        heap().set(fill((sharedB ? 1 : batch) * k * n, n + 3 * k), b / 4);
        heap().set(fill(n, n), bias / 4);
        const piecesBefore = shared.helperPieces;
        const results = [alone, shared].map((gemm) => {
          const c = malloc(4 * batch * m * n);
          heap().fill(Number.NaN, c / 4, c / 4 + batch * m * n);
          gemm.matMul({
            batch,
            aBatchStride: m * k,
            bBatchStride: sharedB ? 0 : k * n,
            m,
            n,
            k,
            a,
            aRowStride: tA ? 1 : k,
            aColStride: tA ? m : 1,
            b,
            bRowStride: tB ? 1 : n,
            bColStride: tB ? k : 1,
            c,
            cRowStride: cT ? 1 : n,
            cColStride: cT ? m : 1,
            bias: biasRelu ? bias : null,
            relu: biasRelu,
          });
          return new Uint32Array(memory.buffer.slice(c, c + 4 * batch * m * n));
        });
        const label = `${batch}x${m}x${k}x${n} tA=${tA} tB=${tB} bias+relu=${biasRelu} C^T=${cT} shared B=${sharedB}`;
        // Both helpers took a piece.
        expect(shared.helperPieces - piecesBefore, label).toBe(2);
        expect(Number.isNaN(new Float32Array(results[0].buffer)[batch * m * n - 1]), label).toBe(false);
        let differing = 0;
        for (let i = 0; i < results[0].length; i++) if (results[0][i] !== results[1][i]) differing++;
        expect(differing, label).toBe(0);
        release(base);
      }
      shared.close();
      expect(shared.threads).toBe(1);
    },
  );
});

describe("wasm GEMM helper hand-over", () => {
  it("waits for the job it started, however often either side is woken in between", async () => {
    const compiled = await compileGemm(true);
    const threads = new GemmThreads(compiled.sharedModule!, 1, gemmWorkLayout());
    // A thread that wakes both control words all the time: what a notify delayed past the next job looks like.
    const { control } = (threads as unknown as { helpers: Array<{ control: Int32Array }> }).helpers[0];
    const waker = new Worker(
      `const { workerData } = require("node:worker_threads");
       const ctl = new Int32Array(workerData);
       while (Atomics.load(ctl, 0) !== -1) { Atomics.notify(ctl, 0); Atomics.notify(ctl, 1); }`,
      { eval: true, workerData: control.buffer },
    );
    try {
      const { memory, malloc } = testHeap(1024);
      const [m, n, k] = [512, 256, 256];
      const a = malloc(4 * m * k);
      const b = malloc(4 * k * n);
      const expectedAt = malloc(4 * m * n);
      const c = malloc(4 * m * n);
      const heap = () => new Float32Array(memory.buffer);
      const job = (cAt: number) => ({
        ...{ batch: 1, m, n, k, a, aBatch: 0, aRow: k, aCol: 1, b, bBatch: 0, bRow: n, bCol: 1 },
        ...{ c: cAt, cRow: n, cCol: 1, bias: 0, relu: false, rowBlock: 0, counter: 0 },
      });
      for (let round = 0; round < 12; round++) {
        // New operands every round, so a C left from the round before is wrong too.
        heap().set(fill(m * k, round + 5), a / 4);
        heap().set(fill(k * n, 2 * round + 3), b / 4);
        instantiateGemm(compiled, memory, malloc, () => {}).matMul({
          ...{ m, n, k, a, aRowStride: k, aColStride: 1, b, bRowStride: n, bColStride: 1 },
          ...{ c: expectedAt, bias: null, relu: false },
        });
        heap().fill(Number.NaN, c / 4, c / 4 + m * n);
        expect(threads.start(0, job(c), memory)).toBe(true);
        threads.finish(0, memory);
        const got = new Uint32Array(memory.buffer.slice(c, c + 4 * m * n));
        const want = new Uint32Array(memory.buffer.slice(expectedAt, expectedAt + 4 * m * n));
        let differing = 0;
        for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) differing++;
        expect(differing, `round ${round}`).toBe(0);
      }
    } finally {
      threads.close();
      await waker.terminate();
    }
  });
});

function productCases() {
  return tf.tidy(() => {
    const t = (shape: number[], seed: number) =>
      tf.tensor(
        fill(
          shape.reduce((p, d) => p * d, 1),
          seed,
        ),
        shape,
      );
    const x = t([67, 40], 1);
    const w = t([40, 19], 2);
    const bias = t([19], 3);
    const out: Record<string, tf.Tensor> = {
      plain: tf.matMul(x, w),
      tA: tf.matMul(t([40, 67], 4), w, true, false),
      tB: tf.matMul(x, t([19, 40], 5), false, true),
      tAB: tf.matMul(t([40, 67], 6), t([19, 40], 7), true, true),
      rank3Batch1: tf.matMul(t([1, 67, 40], 8), t([1, 40, 19], 9)),
      fusedRelu: tf.fused.matMul({ a: x, b: w, bias, activation: "relu" }),
      fusedLinear: tf.fused.matMul({ a: x, b: w, bias, activation: "linear" }),
      fusedNoBias: tf.fused.matMul({ a: x, b: w, activation: "relu" }),
      batched: tf.matMul(t([3, 67, 40], 10), t([3, 40, 19], 11)),
      batchedTransposed: tf.matMul(t([3, 40, 67], 14), t([3, 40, 19], 15), true, false),
      batchedTransposedB: tf.matMul(t([3, 67, 40], 16), t([3, 19, 40], 17), false, true),
      sharedB: tf.matMul(t([3, 67, 40], 18), w),
      sharedA: tf.matMul(t([1, 67, 40], 19), t([3, 40, 19], 20)),
      narrow: tf.matMul(x, t([40, 5], 12)),
      oneColumnBatched: tf.matMul(t([3, 300, 40], 22), t([3, 40, 1], 23)),
      // One column, single product: as it is (its transpose would have one row, which only tfjs's kernel takes).
      oneColumn: tf.matMul(t([900, 40], 26), t([40, 1], 21)),
      // The weight gradient of a layer with one output, h^T dy.
      oneOutputWeightGrad: tf.matMul(t([1000, 40], 27), t([1000, 1], 28), true, false),
      // Handed back to tfjs's kernels: another activation, batch axes broadcast both ways.
      elu: tf.fused.matMul({ a: x, b: w, bias, activation: "elu" }),
      crossBroadcast: tf.matMul(t([2, 1, 67, 40], 24), t([1, 3, 40, 19], 25)),
      // Gradients of a dense relu layer: d/dx, d/dw, d/db all go through matMul with transposes.
      ...Object.fromEntries(
        tf
          .grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
            tf.sum(tf.mul(tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias: c, activation: "relu" }), t([67, 19], 13))),
          )([x, w, bias])
          .map((g, i) => [`grad${i}`, g]),
      ),
    };
    return snapshot(out);
  });
}

describe("wasm GEMM kernels in tfjs", () => {
  it("are registered on wasm and give the cpu backend's products and gradients", async () => {
    await initBackend("wasm");
    const status = wasmGemmStatus();
    expect(status.registered).toBe(true);
    const before = status.productsComputed;
    const wasm = productCases();
    const routed = wasmGemmStatus().productsComputed - before;
    // 16 eligible forward products, the fused forward of the gradient case and its two products (dx, dw).
    expect(routed).toBe(19);
    await import("@tensorflow/tfjs-backend-cpu");
    await tf.setBackend("cpu");
    const cpu = productCases();
    await tf.setBackend("wasm");
    expectSameValues(wasm, cpu, 1e-4);
    // The ineligible products alone do not reach our kernel.
    const mark = wasmGemmStatus().productsComputed;
    tf.tidy(() => {
      tf.fused.matMul({ a: tf.ones([67, 40]), b: tf.ones([40, 19]), activation: "elu" }).dataSync();
      tf.matMul(tf.ones([2, 1, 67, 40]), tf.ones([1, 3, 40, 19])).dataSync();
      tf.matMul(tf.ones([2, 2]), tf.ones([2, 8])).dataSync();
      tf.matMul(tf.ones([4, 900]), tf.ones([900, 40])).dataSync();
      // Under 8 rows either way round.
      tf.matMul(tf.ones([4096, 4]), tf.ones([4096, 4]), true, false).dataSync();
    });
    expect(wasmGemmStatus().productsComputed).toBe(mark);
  });
});
