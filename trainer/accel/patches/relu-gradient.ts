/**
 * Relu's gradient as one kernel. tfjs computes it as dy * cast(step(x)): three kernels and two intermediate tensors
 * per relu layer per step. On wasm with our layout kernel it is one pass on the heap
 * (kernels/layout/relu-gradient.ts); elsewhere, and on wasm without the layout
 * kernel (KSER_WASM_LAYOUT=off), it is tfjs's own composition minus the no-op cast. The products are the same, so
 * the results are the same bits (tested).
 */
import * as tf from "@tensorflow/tfjs-core";
import { layoutFor } from "../kernels/layout/layout.ts";
import type { WasmBackend } from "../wasm/heap.ts";

export const RELU_GRADIENT = "KserReluGradient";

/** Registers the kernel on wasm (inputs dy and x, float32, same shape). Call before tf.setBackend("wasm"). */
export function registerReluGradientKernel(): void {
  if (tf.getKernel(RELU_GRADIENT, "wasm")) return;
  tf.registerKernel({
    kernelName: RELU_GRADIENT,
    backendName: "wasm",
    kernelFunc: ({ inputs, backend }) => {
      const { dy, x } = inputs as unknown as { dy: tf.TensorInfo; x: tf.TensorInfo };
      const wasm = backend as WasmBackend;
      const out = wasm.makeOutput(x.shape, "float32");
      const count = tf.util.sizeFromShape(x.shape);
      const layout = layoutFor(wasm);
      if (!layout) throw new Error(`${RELU_GRADIENT} needs the wasm layout kernel (reluGradient checks before calling it)`);
      layout.reluGradient(wasm.getMemoryOffset(dy.dataId), wasm.getMemoryOffset(x.dataId), wasm.getMemoryOffset(out.dataId), count);
      return out;
    },
  });
}

/** dy * step(x) (1 where x > 0, else 0; NaN where x is NaN): the gradient of relu(x). */
export function reluGradient(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  if (dy.dtype !== "float32" || x.dtype !== "float32" || dy.shape.join() !== x.shape.join()) {
    throw new Error(`relu gradient: dy [${dy.shape}] ${dy.dtype} and x [${x.shape}] ${x.dtype} must be float32 of one shape`);
  }
  if (tf.getBackend() === "wasm" && tf.getKernel(RELU_GRADIENT, "wasm") && layoutFor(tf.backend() as WasmBackend)) {
    return tf.engine().runKernel(RELU_GRADIENT, { dy, x }) as tf.Tensor;
  }
  return tf.mul(dy, tf.step(x));
}
