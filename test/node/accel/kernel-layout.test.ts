/**
 * The wasm layout kernels (Transpose of the last two axes, Concat / SplitV along any axis, Sum of a matrix over axis 0
 * and of any tensor over adjacent middle axes), the row gather (GatherV2 along axis 0 and along later axes),
 * UnsortedSegmentSum and Slice (up to 4 axes) give the cpu backend's values, on float32 and int32, including the cases
 * they hand back to the original kernels (other perms, innermost or all axes, 5-axis slices, pads along two axes);
 * Transpose, Concat, SplitV, the gathers, the segment sums, slices, the sums, Fill, ZerosLike, OnesLike and Pad in our
 * wasm kernel give exactly the bits of the JS loops (or tfjs-wasm's kernels) they replaced, and both refuse an id out
 * of range.
 */
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { initBackend } from "../../../trainer/accel/index.ts";
import { enableWasmLayout, wasmLayoutStatus } from "../../../trainer/accel/kernels/layout/layout.ts";
import { expectSameValues, snapshot } from "./backend-compare.ts";

/**
 * Compared bit for bit with the JS loops only: tfjs-cpu's own UnsortedSegmentSum multiplies every row by a 0/1 mask of
 * its segment in float32, so a NaN or an infinity leaks into every segment there, and large int32 sums round.
 */
const BITS_ONLY = ["segmentSumNonFinite", "segmentSumIntWrap"];

function cases() {
  return tf.tidy(() => {
    const x = tf.tensor3d(
      Float32Array.from({ length: 2 * 37 * 45 }, (_, i) => Math.sin(i * 0.37)),
      [2, 37, 45],
    );
    const ints = tf.tensor2d(
      Int32Array.from({ length: 9 * 8 }, (_, i) => (i * 7) % 11),
      [9, 8],
      "int32",
    );
    const m = tf.reshape(x, [74, 45]);
    const parts = tf.split(m, [5, 0, 30, 10], 1);
    const out: Record<string, tf.Tensor> = {
      t2: tf.transpose(m),
      t3: tf.transpose(x, [0, 2, 1]),
      tOther: tf.transpose(x, [1, 0, 2]),
      tInt: tf.transpose(ints),
      // Fewer than 4 rows or columns (no whole 4 x 4 block), and a batch of matrices over more than one band of rows.
      tThin: tf.transpose(tf.slice(m, [0, 0], [3, 45])),
      tNarrow: tf.transpose(tf.slice(m, [0, 0], [74, 3])),
      tBands: tf.transpose(tf.reshape(tf.concat([x, x], 2), [6, 74, 15]), [0, 2, 1]),
      concat: tf.concat([parts[3], parts[0], parts[2]], 1),
      concat0: tf.concat([m, m], 0),
      concatInt: tf.concat([ints, ints], 1),
      split: tf.concat(tf.split(x, 3, 2), 0),
      concatMiddle: tf.concat([x, tf.slice(x, [0, 0, 0], [2, 5, 45])], 1),
      splitMiddle: tf.concat(tf.split(x, [30, 0, 7], 1), 1),
      splitFirst: tf.stack(tf.split(x, 2, 0), 3),
      sum0: tf.sum(m, 0),
      sum0Keep: tf.sum(m, 0, true),
      sum1: tf.sum(m, 1),
      sumInt: tf.sum(ints, 0),
      sumMiddle: tf.sum(x, 1),
      sumMiddleKeep: tf.sum(tf.reshape(x, [2, 37, 5, 9]), [1, 2], true),
      sumFirst3d: tf.sum(tf.mul(x, tf.exp(x)), 0),
      sumInner: tf.sum(x, 2),
      sumAll: tf.sum(x),
      sumLead: tf.sum(x, [0, 1]),
      sumNegative: tf.sum(x, -2, true),
      gather: tf.gather(m, tf.tensor1d([3, 0, 73, 3], "int32")),
      gatherIds2d: tf.gather(x, tf.tensor2d([1, 0, 0, 1], [2, 2], "int32")),
      gatherInt: tf.gather(ints, tf.tensor1d([8, 1, 1], "int32")),
      // Along a later axis (strided row copies): the middle, the last (rows of one element), int32, 2-D ids.
      gatherMiddle: tf.gather(x, tf.tensor1d([36, 0, 5, 5, 36], "int32"), 1),
      gatherLast: tf.gather(x, tf.tensor1d([44, 0, 3], "int32"), -1),
      gatherMiddleInt: tf.gather(ints, tf.tensor1d([7, 0, 7], "int32"), 1),
      gatherMiddleIds2d: tf.gather(x, tf.tensor2d([1, 2, 3, 1], [2, 2], "int32"), 1),
      // UnsortedSegmentSum (a gather's gradient): repeated ids, ids out of range (dropped), rows of 45 (not a multiple
      // of 4), int32, rows of a 3-D tensor; int32 sums that wrap and NaN and infinity among the values (bits only).
      segmentSum: tf.unsortedSegmentSum(
        m,
        tf.tensor1d(
          Array.from({ length: 74 }, (_, i) => (i % 9) - 1),
          "int32",
        ),
        7,
      ),
      segmentSumNonFinite: tf.unsortedSegmentSum(
        tf.concat([tf.tensor2d([Number.NaN, Number.POSITIVE_INFINITY, ...Array(43).fill(1)], [1, 45]), m], 0),
        tf.tensor1d(
          Array.from({ length: 75 }, (_, i) => (i % 9) - 1),
          "int32",
        ),
        7,
      ),
      segmentSumInt: tf.unsortedSegmentSum(tf.tensor2d([20, 1, 5, -7, 3, 4], [3, 2], "int32"), tf.tensor1d([0, 1, 0], "int32"), 2),
      segmentSumIntWrap: tf.unsortedSegmentSum(tf.tensor2d([2e9, 1, 5, 2e9, 2e9, 4], [3, 2], "int32"), tf.tensor1d([0, 1, 0], "int32"), 2),
      segmentSumBlocks: tf.unsortedSegmentSum(x, tf.tensor1d([2, 0], "int32"), 3),
      gradGatherMiddle: tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.gather(a, tf.tensor1d([2, 0, 2, 1], "int32"), 1), tf.range(0, 45))))(
        tf.slice(x, [0, 0, 0], [2, 3, 45]),
      ),
      slice1d: tf.slice(tf.reshape(m, [-1]), [7], [50]),
      sliceColumn: tf.slice(ints, [0, 3], [-1, 1]),
      sliceRows: tf.slice(m, [10, 0], [5, -1]),
      slice3d: tf.slice(x, [1, 2, 5], [1, 30, 17]),
      slice4d: tf.slice(tf.reshape(x, [2, 37, 5, 9]), [0, 1, 2, 3], [2, 3, 2, 5]),
      slice5d: tf.slice(tf.reshape(x, [2, 37, 5, 3, 3]), [1, 0, 1, 0, 1], [1, 2, 3, 3, 2]),
      sliceEmpty: tf.slice(m, [3, 0], [0, 10]),
      // Pad along one axis (the middle, the first, the last; int32; nothing), and along two (wasm's own); Fill.
      padMiddle: tf.pad(
        tf.reshape(x, [2, 37, 1, 45]),
        [
          [0, 0],
          [0, 0],
          [1, 3],
          [0, 0],
        ],
        2.5,
      ),
      padFirst: tf.pad(m, [
        [2, 0],
        [0, 0],
      ]),
      padLast: tf.pad(
        x,
        [
          [0, 0],
          [0, 0],
          [0, 3],
        ],
        -1,
      ),
      padInt: tf.pad(
        ints,
        [
          [0, 0],
          [1, 1],
        ],
        7,
      ),
      padNone: tf.pad(m, [
        [0, 0],
        [0, 0],
      ]),
      padTwoAxes: tf.pad(
        m,
        [
          [1, 0],
          [0, 2],
        ],
        4,
      ),
      fill: tf.fill([7, 33], -0.75),
      fillInt: tf.fill([5, 3], 12, "int32"),
      zerosLike: tf.zerosLike(x),
      onesLike: tf.onesLike(x),
      onesLikeInt: tf.onesLike(ints),
      // Gradients through them: concat -> split, transpose -> transpose.
      grad: tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.concat([a, tf.transpose(a)], 1), tf.range(0, 90))))(tf.slice(m, [0, 0], [45, 45])),
    };
    return snapshot(out);
  });
}

describe("wasm layout kernels", () => {
  it("match the cpu backend", async () => {
    await initBackend("wasm");
    await import("@tensorflow/tfjs-backend-cpu");
    const wasm = cases();
    await tf.setBackend("cpu");
    const cpu = cases();
    await tf.setBackend("wasm");
    for (const key of BITS_ONLY) {
      delete wasm[key];
      delete cpu[key];
    }
    expectSameValues(wasm, cpu, 1e-4);
  });

  it("give the JS loops' bits with our wasm kernel", async () => {
    await initBackend("wasm");
    const { module, calls } = wasmLayoutStatus();
    expect(module).not.toBeNull();
    const withKernel = cases();
    // At least: Transpose x8, Concat x4 (concat, concatInt, the gradient case), SplitV x2, Sum over axis 0 x2 and over
    // middle axes x4, GatherV2 x3, Slice x5, Pad x5 (a fill and a copy each), Fill x2, ZerosLike / OnesLike x3.
    expect(wasmLayoutStatus().calls - calls).toBeGreaterThanOrEqual(43);
    enableWasmLayout(null);
    try {
      const withLoops = cases();
      expectGatherRangeErrors();
      for (const key of Object.keys(withLoops)) {
        const bits = (values: number[]) => Array.from(new Uint32Array(Float32Array.from(values).buffer));
        expect(bits(withKernel[key].values), key).toEqual(bits(withLoops[key].values));
        // int32 values above 2^24 do not survive the float32 view: compare the numbers too.
        expect(withKernel[key].values, key).toEqual(withLoops[key].values);
      }
    } finally {
      enableWasmLayout(module);
    }
    expectGatherRangeErrors();
  });
});

/**
 * An id outside the table (past its end, or negative) is refused with its value, along axis 0 and along a middle
 * axis, by our kernel and by the loop (or wasm's own kernel).
 */
function expectGatherRangeErrors() {
  const table = tf.ones([5, 3]);
  const blocks = tf.ones([2, 5, 3]);
  for (const id of [5, -1]) {
    expect(() => tf.gather(table, tf.tensor1d([0, id, 1], "int32"))).toThrow(`index value ${id} is not in [0, 4]`);
    expect(() => tf.gather(blocks, tf.tensor1d([0, id, 1], "int32"), 1)).toThrow(`index value ${id} is not in [0, 4]`);
  }
  tf.dispose([table, blocks]);
}
