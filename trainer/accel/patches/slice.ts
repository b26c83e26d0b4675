/**
 * Slice of up to 4 axes (id columns, batches, chunk ranges) as one block copy of the layout kernel
 * (kernels/layout/copy-block.ts): wasm's own copies its whole input out of the heap first (readSync), then loops in JS.
 */
import * as tf from "@tensorflow/tfjs-core";
import { layoutFor } from "../kernels/layout/layout.ts";
import { isNumeric, offsetOf, wrapWasmKernel } from "./kernel-patch.ts";

export function registerSlicePatch(): void {
  wrapWasmKernel(tf.Slice, ({ inputs, backend, attrs }) => {
    const { x } = inputs as unknown as { x: tf.TensorInfo };
    const layout = layoutFor(backend);
    if (!layout || !isNumeric(x) || x.shape.length > 4) return null;
    const { begin, size } = attrs as unknown as { begin: number | number[]; size: number | number[] };
    const [from, sizes] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    const out = backend.makeOutput!(sizes, x.dtype);
    if (tf.util.sizeFromShape(sizes) === 0) return out;
    // As 4 axes (leading axes of 1), strides in elements; the copy runs along the last axis.
    const pad = 4 - x.shape.length;
    const shape = [...Array(pad).fill(1), ...x.shape];
    const start = [...Array(pad).fill(0), ...from];
    const counts = [...Array(pad).fill(1), ...sizes];
    const strides = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3]];
    const first = start[0] * strides[0] + start[1] * strides[1] + start[2] * strides[2] + start[3];
    layout.copyBlock(
      offsetOf(backend, x) + 4 * first,
      strides[0],
      strides[1],
      strides[2],
      offsetOf(backend, out),
      counts[0],
      counts[1],
      counts[2],
      counts[3],
    );
    return out;
  });
}
