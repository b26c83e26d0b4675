/**
 * Fill, ZerosLike, OnesLike and a Pad along one axis (a Slice's gradient) through the layout kernel's fill
 * (kernels/layout/fill.ts): wasm's own fill through a JS view of the heap, which is slow on the shared heap, and
 * its Pad goes element by element. Pad is the constant everywhere, then one strided copy of x.
 */
import * as tf from "@tensorflow/tfjs-core";
import { layoutFor, type WasmLayout } from "../kernels/layout/layout.ts";
import { type Backend, isNumeric, offsetOf, sizeOf, wrapWasmKernel } from "./kernel-patch.ts";

/** The 32 bits a float32 or int32 tensor stores for `value`. */
function bitsOf(value: number, dtype: "float32" | "int32"): number {
  return dtype === "int32" ? value | 0 : new Int32Array(Float32Array.of(value).buffer)[0];
}
/** A new float32 or int32 tensor of `shape` with every element `value`, filled by the layout kernel. */
function filledOutput(backend: Backend, layout: WasmLayout, shape: number[], dtype: "float32" | "int32", value: number): tf.TensorInfo {
  const out = backend.makeOutput!(shape, dtype);
  layout.fill32(offsetOf(backend, out), sizeOf(shape), bitsOf(value, dtype));
  return out;
}

export function registerFillPatches(): void {
  wrapWasmKernel(tf.Fill, ({ backend, attrs }) => {
    const { shape, value, dtype } = attrs as unknown as { shape: number[]; value: number; dtype?: tf.DataType };
    const layout = layoutFor(backend);
    const type = dtype ?? tf.util.inferDtype(value);
    if (!layout || (type !== "float32" && type !== "int32")) return null;
    return filledOutput(backend, layout, shape, type, value);
  });
  // ZerosLike and OnesLike fill through the same view.
  for (const [kernelName, value] of [
    [tf.ZerosLike, 0],
    [tf.OnesLike, 1],
  ] as const) {
    wrapWasmKernel(kernelName, ({ inputs, backend }) => {
      const { x } = inputs as unknown as { x: tf.TensorInfo };
      const layout = layoutFor(backend);
      if (!layout || !isNumeric(x)) return null;
      return filledOutput(backend, layout, x.shape, x.dtype as "float32" | "int32", value);
    });
  }
  // Pad along one axis (a Slice's gradient): the constant everywhere, then one strided copy of x.
  wrapWasmKernel(tf.PadV2, ({ inputs, backend, attrs }) => {
    const { x } = inputs as unknown as { x: tf.TensorInfo };
    const { paddings, constantValue } = attrs as unknown as { paddings: Array<[number, number]>; constantValue: number };
    const layout = layoutFor(backend);
    const padded = paddings.flatMap(([before, after], axis) => (before + after > 0 ? [axis] : []));
    if (!layout || !isNumeric(x) || padded.length > 1) return null;
    const shape = x.shape.map((d, i) => d + paddings[i][0] + paddings[i][1]);
    const out = filledOutput(backend, layout, shape, x.dtype as "float32" | "int32", constantValue);
    if (sizeOf(x.shape) === 0) return out;
    const axis = padded[0] ?? 0;
    // Rows: the axes before `axis`; each row of x (its axis and the axes after) goes to the same row of out.
    const rows = sizeOf(x.shape.slice(0, axis));
    const inner = sizeOf(x.shape.slice(axis + 1));
    const run = x.shape[axis] * inner;
    const before = paddings[axis]?.[0] ?? 0;
    layout.copyRows(offsetOf(backend, x), run, offsetOf(backend, out) + 4 * before * inner, shape[axis] * inner, rows, run);
    return out;
  });
}
