/**
 * Concat and SplitV along any axis (field concatenation and its gradient) as strided row copies on the heap: with
 * the axes before it as rows and it plus the axes after it as one, each part is a column block. The layout kernel
 * copies (kernels/layout/copy-rows.ts), else a JS loop.
 */
import * as tf from "@tensorflow/tfjs-core";
import { layoutFor } from "../kernels/layout/layout.ts";
import { isNumeric, offsetOf, sizeOf, wrapWasmKernel } from "./kernel-patch.ts";

/** Copies `rows` rows of `width` elements between strided layouts (a loop beats subarray+set for narrow rows). */
function copyRows(
  src: tf.backend_util.TypedArray,
  srcOff: number,
  srcStride: number,
  dst: tf.backend_util.TypedArray,
  dstOff: number,
  dstStride: number,
  rows: number,
  width: number,
) {
  if (width >= 64) {
    for (let i = 0; i < rows; i++) dst.set(src.subarray(srcOff + i * srcStride, srcOff + i * srcStride + width), dstOff + i * dstStride);
    return;
  }
  for (let i = 0; i < rows; i++) {
    const s = srcOff + i * srcStride;
    const d = dstOff + i * dstStride;
    for (let j = 0; j < width; j++) dst[d + j] = src[s + j];
  }
}

export function registerConcatSplitPatches(): void {
  wrapWasmKernel(tf.Concat, ({ inputs, backend, attrs }) => {
    const xs = Object.values(inputs as unknown as Record<string, tf.TensorInfo>);
    const r = xs[0]?.shape.length ?? 0;
    if (r < 1) return null;
    const axis = tf.util.parseAxisParam((attrs as unknown as { axis: number }).axis, xs[0].shape)[0];
    const lead = xs[0].shape.slice(0, axis);
    const tail = xs[0].shape.slice(axis + 1);
    const sameFrame = (x: tf.TensorInfo) =>
      x.shape.length === r && x.shape.slice(0, axis).join() === lead.join() && x.shape.slice(axis + 1).join() === tail.join();
    if (xs.some((x) => x.dtype !== xs[0].dtype || !isNumeric(x) || !sameFrame(x))) return null;
    const rows = sizeOf(lead);
    const widths = xs.map((x) => x.shape[axis] * sizeOf(tail));
    const total = widths.reduce((a, c) => a + c, 0);
    const out = backend.makeOutput!([...lead, xs.reduce((a, x) => a + x.shape[axis], 0), ...tail], xs[0].dtype);
    const layout = layoutFor(backend);
    let col = 0;
    xs.forEach((x, k) => {
      const w = widths[k];
      if (w === 0 || rows === 0) return;
      if (layout) layout.copyRows(offsetOf(backend, x), w, offsetOf(backend, out) + 4 * col, total, rows, w);
      else copyRows(backend.typedArrayFromHeap!(x), 0, w, backend.typedArrayFromHeap!(out), col, total, rows, w);
      col += w;
    });
    return out;
  });
  wrapWasmKernel(tf.SplitV, ({ inputs, backend, attrs }) => {
    const { x } = inputs as unknown as { x: tf.TensorInfo };
    const { numOrSizeSplits } = attrs as unknown as { numOrSizeSplits: number | number[] };
    const r = x.shape.length;
    if (r < 1 || !isNumeric(x)) return null;
    const axis = tf.util.parseAxisParam((attrs as unknown as { axis: number }).axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, axis) as number[];
    if (sizes.reduce((a, c) => a + c, 0) !== x.shape[axis]) return null;
    const lead = x.shape.slice(0, axis);
    const tail = x.shape.slice(axis + 1);
    const rows = sizeOf(lead);
    const total = x.shape[axis] * sizeOf(tail);
    const outs = sizes.map((size) => backend.makeOutput!([...lead, size, ...tail], x.dtype));
    const layout = layoutFor(backend);
    let col = 0;
    outs.forEach((out, k) => {
      const w = sizes[k] * sizeOf(tail);
      if (w > 0 && rows > 0) {
        if (layout) layout.copyRows(offsetOf(backend, x) + 4 * col, total, offsetOf(backend, out), w, rows, w);
        else copyRows(backend.typedArrayFromHeap!(x), col, total, backend.typedArrayFromHeap!(out), 0, w, rows, w);
      }
      col += w;
    });
    return outs;
  });
}
