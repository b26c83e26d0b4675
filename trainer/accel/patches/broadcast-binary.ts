/**
 * float32 Add, Sub, Multiply and RealDiv with broadcasting as strided loops of the layout kernel
 * (kernels/layout/broadcast-binary.ts): one plan of at most 4 strided axes per op, the same IEEE operation per
 * element, so the same bits. Same-shape and small ops stay with wasm's own kernels.
 */
import * as tf from "@tensorflow/tfjs-core";
import { BINARY_OPS, MIN_BROADCAST_ELEMENTS, planBroadcast } from "../kernels/layout/broadcast-binary.ts";
import { layoutFor } from "../kernels/layout/layout.ts";
import { offsetOf, sizeOf, wrapWasmKernel } from "./kernel-patch.ts";

const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

export function registerBroadcastBinaryPatches(): void {
  for (const [kernelName, op] of Object.entries(BINARY_OPS)) {
    wrapWasmKernel(kernelName, ({ inputs, backend }) => {
      const { a, b } = inputs as unknown as { a: tf.TensorInfo; b: tf.TensorInfo };
      const layout = layoutFor(backend);
      // Only broadcasts of some size: wasm's own is as fast on same shapes (XNNPACK's plain loop) and on small
      // outputs, where planning here costs more than it saves.
      const larger = Math.max(sizeOf(a.shape), sizeOf(b.shape));
      if (!layout || a.dtype !== "float32" || b.dtype !== "float32" || larger < MIN_BROADCAST_ELEMENTS || sameShape(a.shape, b.shape))
        return null;
      const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      const plan = planBroadcast(a.shape, b.shape, shape);
      if (!plan) return null;
      const out = backend.makeOutput!(shape, "float32");
      if (sizeOf(shape) === 0) return out;
      const [n0, n1, n2, n3] = plan.counts;
      const [as0, as1, as2] = plan.aStrides;
      const [bs0, bs1, bs2] = plan.bStrides;
      const [aAt, bAt, outAt] = [offsetOf(backend, a), offsetOf(backend, b), offsetOf(backend, out)];
      layout[`binary_${op}`](aAt, bAt, outAt, n0, n1, n2, n3, as0, as1, as2, bs0, bs1, bs2, plan.mode);
      return out;
    });
  }
}
