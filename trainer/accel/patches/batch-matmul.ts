/**
 * wasm BatchMatMul with transposeA or transposeB takes a much slower path than the plain one: transpose explicitly
 * with the wasm Transpose kernel (patched by transpose.ts when the layout patches are on: register those first),
 * then run the original kernel without transposes, keeping its setupFunc.
 */
import * as tf from "@tensorflow/tfjs-core";
import { type Backend, patchWasmKernel } from "./kernel-patch.ts";

export function registerBatchMatMulPatch(): void {
  const transposeKernel = tf.getKernel(tf.Transpose, "wasm");
  if (!transposeKernel) throw new Error("the wasm Transpose kernel is not registered; import @tensorflow/tfjs-backend-wasm first");
  const swapLastTwo = (x: tf.TensorInfo, backend: tf.KernelBackend) => {
    const rank = x.shape.length;
    const perm = [...Array(rank).keys()];
    [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
    return transposeKernel.kernelFunc({ inputs: { x }, backend, attrs: { perm } }) as tf.TensorInfo;
  };
  patchWasmKernel(tf.BatchMatMul, (plain) => (args) => {
    const { inputs, backend, attrs } = args;
    const { a, b } = inputs as unknown as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return plain(args);
    const untransposed = { ...attrs, transposeA: false, transposeB: false };
    const product = (x: tf.TensorInfo, y: tf.TensorInfo) =>
      plain({ inputs: { a: x, b: y }, backend, attrs: untransposed }) as tf.TensorInfo;
    const kb = backend as tf.KernelBackend;
    const wb = backend as Backend;
    const size = (x: tf.TensorInfo) => x.shape.reduce((p, d) => p * d, 1);
    const batch = (x: tf.TensorInfo) => size(x) / (x.shape[x.shape.length - 1] * x.shape[x.shape.length - 2]);
    const rows = (x: tf.TensorInfo, t: boolean) => x.shape[x.shape.length - (t ? 1 : 2)];
    const cols = (x: tf.TensorInfo, t: boolean) => x.shape[x.shape.length - (t ? 2 : 1)];
    // A gradient's transposed operand is often the big one (a data batch); (b^T a)^T or (b a^T)^T then
    // transposes the small operand and the output instead: pick whichever moves fewer elements.
    const outSize = Math.max(batch(a), batch(b)) * rows(a, transposeA) * cols(b, transposeB);
    const direct = (transposeA ? size(a) : 0) + (transposeB ? size(b) : 0);
    const swapped = (transposeA !== transposeB ? (transposeA ? size(b) : size(a)) : 0) + outSize;
    if (transposeA !== transposeB && swapped < direct) {
      // a^T b = (b^T a)^T and a b^T = (b a^T)^T.
      const small = swapLastTwo(transposeA ? b : a, kb);
      const inner = transposeA ? product(small, a) : product(b, small);
      const out = swapLastTwo(inner, kb);
      wb.disposeData(small.dataId);
      wb.disposeData(inner.dataId);
      return out;
    }
    const at = transposeA ? swapLastTwo(a, kb) : a;
    const bt = transposeB ? swapLastTwo(b, kb) : b;
    const out = product(at, bt);
    if (transposeA) wb.disposeData(at.dataId);
    if (transposeB) wb.disposeData(bt.dataId);
    return out;
  });
}
