/**
 * wasm Identity copies its input, and the gradient tape clones (Identity) every tensor it saves for a gradient: the
 * clone shares the input's memory instead, as Reshape already does.
 */
import * as tf from "@tensorflow/tfjs-core";
import { isPatched, wrapWasmKernel } from "./kernel-patch.ts";

/**
 * Identity as a second reference to the same heap memory (reference-counted: the memory goes when the last tensor
 * does). Safe because no kernel writes into its inputs, and the optimizer's in-place updates copy a parameter first
 * when its memory is shared (unshare in optimizer/adam-moments.ts).
 */
export function registerIdentityPatch(): void {
  wrapWasmKernel(tf.Identity, ({ inputs, backend }) => {
    const { x } = inputs as unknown as { x: tf.TensorInfo };
    if (x.dtype === "string" || !backend.incRef) return null;
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  });
}

export const identityPatchRegistered = (): boolean => isPatched(tf.Identity, "wasm");
