/**
 * Transpose that swaps the last two axes (2-D transposes, the batched matMul patch's operands) as one copy on the
 * heap: the layout kernel's (kernels/layout/transpose.ts), else a cache-blocked JS loop. wasm's own takes a generic
 * path of several ns per element.
 */
import * as tf from "@tensorflow/tfjs-core";
import { layoutFor } from "../kernels/layout/layout.ts";
import { isNumeric, offsetOf, sizeOf, wrapWasmKernel } from "./kernel-patch.ts";

/** dst[j * rows + i] = src[i * cols + j], cache-blocked. */
function transposeBlock(
  src: tf.backend_util.TypedArray,
  srcOff: number,
  dst: tf.backend_util.TypedArray,
  dstOff: number,
  rows: number,
  cols: number,
) {
  const T = 32;
  for (let i0 = 0; i0 < rows; i0 += T) {
    const i1 = Math.min(rows, i0 + T);
    for (let j0 = 0; j0 < cols; j0 += T) {
      const j1 = Math.min(cols, j0 + T);
      for (let i = i0; i < i1; i++) {
        const s = srcOff + i * cols;
        for (let j = j0; j < j1; j++) dst[dstOff + j * rows + i] = src[s + j];
      }
    }
  }
}

export function registerTransposePatch(): void {
  wrapWasmKernel(tf.Transpose, ({ inputs, backend, attrs }) => {
    const { x } = inputs as unknown as { x: tf.TensorInfo };
    const { perm } = attrs as unknown as { perm: number[] };
    const r = x.shape.length;
    if (r < 2 || !isNumeric(x) || perm.some((p, i) => p !== (i === r - 2 ? r - 1 : i === r - 1 ? r - 2 : i))) return null;
    const rows = x.shape[r - 2];
    const cols = x.shape[r - 1];
    const out = backend.makeOutput!(
      perm.map((p) => x.shape[p]),
      x.dtype,
    );
    const mat = rows * cols;
    const layout = layoutFor(backend);
    if (layout) {
      if (mat > 0) layout.transpose(offsetOf(backend, x), offsetOf(backend, out), rows, cols, sizeOf(x.shape) / mat);
      return out;
    }
    const src = backend.typedArrayFromHeap!(x);
    const dst = backend.typedArrayFromHeap!(out);
    for (let off = 0; off < src.length; off += mat) transposeBlock(src, off, dst, off, rows, cols);
    return out;
  });
}
