/**
 * UnsortedSegmentSum, the gradient of every embedding lookup: missing on wasm, and O(segments x N) on cpu. A
 * linear-time kernel adds each row into its segment; on wasm with the layout kernel it adds them on the heap
 * (kernels/layout/segment-sum.ts), nothing copied to JS.
 */
import * as tf from "@tensorflow/tfjs-core";
import { layoutFor } from "../kernels/layout/layout.ts";
import { type Backend, isNumeric, isPatched, offsetOf, replaceKernel, sizeOf } from "./kernel-patch.ts";

/** Linear-time segment sum: out[segmentIds[i]] += x[i] (ids outside [0, numSegments) are dropped, as in TF). */
function segmentSumValues(
  x: Float32Array | Int32Array,
  ids: Int32Array,
  numSegments: number,
  rowSize: number,
  out: Float32Array | Int32Array,
) {
  out.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * rowSize;
    const dst = s * rowSize;
    for (let j = 0; j < rowSize; j++) out[dst + j] += x[src + j];
  }
}

export function registerSegmentSumPatch(backendName: "wasm" | "cpu"): void {
  if (isPatched(tf.UnsortedSegmentSum, backendName)) return;
  replaceKernel({
    kernelName: tf.UnsortedSegmentSum,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as unknown as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const numSegments = (attrs as unknown as { numSegments: number }).numSegments;
      const b = backend as Backend;
      const layout = layoutFor(b);
      if (layout && b.makeOutput && segmentIds.dtype === "int32" && isNumeric(x)) {
        // wasm with our layout kernel: rows added on the heap, nothing copied to JS.
        const rowShape = x.shape.slice(segmentIds.shape.length);
        const out = b.makeOutput([numSegments, ...rowShape], x.dtype);
        const add = x.dtype === "float32" ? layout.segmentSum_f32 : layout.segmentSum_i32;
        add(offsetOf(b, x), offsetOf(b, segmentIds), sizeOf(segmentIds.shape), numSegments, sizeOf(rowShape), offsetOf(b, out));
        return out;
      }
      const xValues = b.readSync(x.dataId) as Float32Array | Int32Array;
      const idValues = Int32Array.from(b.readSync(segmentIds.dataId) as ArrayLike<number>);
      const segRank = segmentIds.shape.length;
      const rowShape = x.shape.slice(segRank);
      const rowSize = rowShape.reduce((a, c) => a * c, 1);
      const outShape = [numSegments, ...rowShape];
      if (b.makeOutput && b.typedArrayFromHeap) {
        // wasm: write straight into the output's heap view.
        const out = b.makeOutput(outShape, x.dtype);
        segmentSumValues(xValues, idValues, numSegments, rowSize, b.typedArrayFromHeap(out) as Float32Array);
        return out;
      }
      const values = x.dtype === "int32" ? new Int32Array(numSegments * rowSize) : new Float32Array(numSegments * rowSize);
      segmentSumValues(xValues, idValues, numSegments, rowSize, values);
      return b.makeTensorInfo!(outShape, x.dtype, values);
    },
  });
}
