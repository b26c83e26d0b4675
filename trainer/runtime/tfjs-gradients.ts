/**
 * Registers TensorFlow.js's gradient definitions. Only the @tensorflow/tfjs umbrella package does this, and it is
 * not a dependency: its CommonJS build of tfjs-core has no gradients, and the ESM files that have them use
 * extensionless imports, so a small resolution hook (tfjs-esm-resolve-hook.mjs) loads them. The gradient registry,
 * engine and Tensor instanceof checks are global in tfjs-core, so the definitions apply to the CommonJS copy too.
 *
 * One definition is replaced: tfjs's Sum gradient multiplies the reshaped dy by a ones tensor of the input's shape
 * that tf.ones fills element by element in JS and then copies to the backend (6-7 ms of each DeepFM + KSER step at
 * batch 1024). Here the ones come from the Fill kernel (on wasm, a native fill on the heap); the product is the same.
 * (tf.broadcastTo instead of the product was 1.85x slower per step: wasm's Tile kernel is slow.)
 */
import { register } from "node:module";
import * as tf from "@tensorflow/tfjs-core";

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
    })();
  }
  return loaded;
}

/** The gradient of Sum: dy with the summed axes restored as 1, times ones of the input's shape. */
export const sumGradient: tf.GradConfig = {
  kernelName: tf.Sum,
  inputsToSave: ["x"],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const shape = x.shape.slice();
    for (const axis of tf.util.parseAxisParam((attrs as unknown as tf.SumAttrs).axis, x.shape)) shape[axis] = 1;
    const derX = tf.mul(tf.reshape(dy as tf.Tensor, shape), tf.fill(x.shape, 1, "float32"));
    return { x: () => derX };
  },
};
