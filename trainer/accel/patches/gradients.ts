/**
 * Registers TensorFlow.js's gradient definitions. Only the @tensorflow/tfjs umbrella package does this, and it is
 * not a dependency: its CommonJS build of tfjs-core has no gradients, and the ESM files that have them use
 * extensionless imports, so a small resolution hook (tfjs-esm-resolve-hook.mjs) loads them. The gradient registry,
 * engine and Tensor instanceof checks are global in tfjs-core, so the definitions apply to the CommonJS copy too.
 *
 * Three definitions are replaced, one is added. tfjs's Sum and Mean gradients multiply the reshaped dy by a ones
 * tensor of the input's shape that tf.ones fills element by element in JS and then copies to the backend (and
 * leaves as garbage), a large share of a training step's CPU time. Here the ones come from the Fill kernel (on
 * wasm, a native fill on the heap); the arithmetic is the same. (tf.broadcastTo instead of the product is slower:
 * wasm's Tile kernel is slow.) Relu's gradient is one kernel instead of three (relu-gradient.ts). _FusedMatMul
 * gets a gradient, for fused-dense.ts (tfjs gives it none: its fused.matMul wraps the kernel in a customGrad).
 */
import { register } from "node:module";
import * as tf from "@tensorflow/tfjs-core";
import { fusedMatMulGradient } from "./fused-dense.ts";
import { reluGradient } from "./relu-gradient.ts";

let loaded: Promise<void> | null = null;

export function registerGradients(): Promise<void> {
  if (!loaded) {
    loaded = (async () => {
      // Someone (the umbrella package) may have registered them already.
      if (!tf.getGradient(tf.Sum)) {
        register(new URL("./tfjs-esm-resolve-hook.mjs", import.meta.url));
        await import("@tensorflow/tfjs-core/dist/register_all_gradients.js" as string);
        if (!tf.getGradient(tf.Sum)) throw new Error("tfjs gradient definitions did not register");
      }
      tf.registerGradient(sumGradient);
      tf.registerGradient(meanGradient);
      tf.registerGradient(reluGradientConfig);
      tf.registerGradient(fusedMatMulGradient);
    })();
  }
  return loaded;
}

/** dy with the axes that `attrs.axis` reduced restored as 1, times ones of x's shape (from the Fill kernel). */
function spreadOverReducedAxes(dy: tf.Tensor, x: tf.Tensor, attrs: tf.NamedAttrMap): tf.Tensor {
  const shape = x.shape.slice();
  for (const axis of tf.util.parseAxisParam((attrs as unknown as tf.SumAttrs).axis, x.shape)) shape[axis] = 1;
  return tf.mul(tf.reshape(dy, shape), tf.fill(x.shape, 1, "float32"));
}

/** The gradient of Sum, as tfjs defines it. */
export const sumGradient: tf.GradConfig = {
  kernelName: tf.Sum,
  inputsToSave: ["x"],
  gradFunc: (dy, [x], attrs) => {
    const derX = spreadOverReducedAxes(dy as tf.Tensor, x, attrs);
    return { x: () => derX };
  },
};

/** The gradient of Mean, as tfjs defines it: the spread dy divided by the number of elements averaged. */
export const meanGradient: tf.GradConfig = {
  kernelName: tf.Mean,
  inputsToSave: ["x"],
  gradFunc: (dy, [x], attrs) => {
    const axes = tf.util.parseAxisParam((attrs as unknown as tf.MeanAttrs).axis, x.shape);
    const averaged = axes.reduce((n, axis) => n * x.shape[axis], 1);
    return { x: () => tf.div(spreadOverReducedAxes(dy as tf.Tensor, x, attrs), averaged) };
  },
};

/** The gradient of Relu, as tfjs defines it (dy * step(x)), with relu-gradient.ts's one kernel for float32. */
export const reluGradientConfig: tf.GradConfig = {
  kernelName: tf.Relu,
  inputsToSave: ["x"],
  gradFunc: (dy, [x]) => ({
    x: () => (x.dtype === "float32" ? reluGradient(dy as tf.Tensor, x) : tf.mul(dy as tf.Tensor, tf.cast(tf.step(x), "float32"))),
  }),
};
