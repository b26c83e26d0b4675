/**
 * Sum without wasm's transposes: a 2-D Sum over axis 0 (bias gradients) as column sums (the layout kernel's
 * kernels/layout/column-sums.ts, else a JS loop accumulating in float64, the same bits), and with the layout kernel
 * a Sum over adjacent middle axes of any tensor ([B, K, d] over K) in one pass (kernels/layout/sum-middle.ts).
 */
import * as tf from "@tensorflow/tfjs-core";
import { layoutFor } from "../kernels/layout/layout.ts";
import { type Backend, offsetOf, sizeOf, wrapWasmKernel } from "./kernel-patch.ts";

/**
 * A Sum over adjacent axes that are not the innermost (e.g. [B, K, d] over K), in one pass on the heap: wasm's own
 * first transposes them innermost. Same float32 sums in the same order (tested to the bit).
 */
function sumMiddleAxes(x: tf.TensorInfo, axes: number[], keepDims: boolean, backend: Backend): tf.TensorInfo | null {
  const sorted = [...new Set(axes)].sort((a, b) => a - b);
  const first = sorted[0];
  const last = sorted[sorted.length - 1];
  const layout = layoutFor(backend);
  if (!layout || sorted.length === 0 || last - first + 1 !== sorted.length || last === x.shape.length - 1) return null;
  const outer = sizeOf(x.shape.slice(0, first));
  const reduce = sizeOf(x.shape.slice(first, last + 1));
  const inner = sizeOf(x.shape.slice(last + 1));
  const shape = keepDims
    ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d))
    : [...x.shape.slice(0, first), ...x.shape.slice(last + 1)];
  const out = backend.makeOutput!(shape, "float32");
  if (outer * inner > 0) layout.sumMiddle(offsetOf(backend, x), outer, reduce, inner, offsetOf(backend, out));
  return out;
}

export function registerSumPatch(): void {
  wrapWasmKernel(tf.Sum, ({ inputs, backend, attrs }) => {
    const { x } = inputs as unknown as { x: tf.TensorInfo };
    const { axis, keepDims } = attrs as unknown as { axis: number | number[]; keepDims: boolean };
    // (parseAxisParam: negative axes counted from the end, no axis = all of them)
    const axes = tf.util.parseAxisParam(axis, x.shape);
    if (x.dtype !== "float32") return null;
    if (x.shape.length !== 2 || axes.length !== 1 || axes[0] !== 0) return sumMiddleAxes(x, axes, keepDims, backend);
    const [rows, cols] = x.shape;
    const out = backend.makeOutput!(keepDims ? [1, cols] : [cols], "float32");
    const layout = layoutFor(backend);
    if (layout) {
      layout.columnSums(offsetOf(backend, x), rows, cols, offsetOf(backend, out));
      return out;
    }
    const src = backend.typedArrayFromHeap!(x);
    const dst = backend.typedArrayFromHeap!(out);
    // Accumulate in float64 rows-first (cache-friendly), then store.
    const acc = new Float64Array(cols);
    for (let i = 0; i < rows; i++) {
      const o = i * cols;
      for (let j = 0; j < cols; j++) acc[j] += src[o + j];
    }
    for (let j = 0; j < cols; j++) dst[j] = acc[j];
    return out;
  });
}
