/**
 * Registers TensorFlow.js's gradient definitions. Only the @tensorflow/tfjs umbrella package does this, and it is
 * not a dependency: its CommonJS build of tfjs-core has no gradients, and the ESM files that have them use
 * extensionless imports, so a small resolution hook (tfjs-esm-resolve-hook.mjs) loads them. The gradient registry,
 * engine and Tensor instanceof checks are global in tfjs-core, so the definitions apply to the CommonJS copy too.
 */
import { register } from "node:module";
import * as tf from "@tensorflow/tfjs-core";

let loaded: Promise<void> | null = null;

export function registerGradients(): Promise<void> {
  if (!loaded) {
    loaded = (async () => {
      if (tf.getGradient(tf.Sum)) return; // someone (the umbrella package) already did it
      register(new URL("./tfjs-esm-resolve-hook.mjs", import.meta.url));
      await import("@tensorflow/tfjs-core/dist/register_all_gradients.js" as string);
      if (!tf.getGradient(tf.Sum)) throw new Error("tfjs gradient definitions did not register");
    })();
  }
  return loaded;
}
