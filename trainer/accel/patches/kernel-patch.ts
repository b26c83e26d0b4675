/**
 * What every tfjs kernel patch of ours shares: replacing a registered kernel (marked, so that registering again is a
 * no-op), wrapping a wasm kernel with a fast path that falls back to the original, and where a tensor's values are on
 * the wasm heap. Every patch must be registered before tf.setBackend(name), so that the backend's setup functions
 * see it (backend/wasm.ts keeps the order).
 */
import * as tf from "@tensorflow/tfjs-core";

export type Backend = tf.KernelBackend & {
  readSync(dataId: tf.DataId): tf.backend_util.BackendValues;
  disposeData(dataId: tf.DataId): boolean;
  makeTensorInfo?(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): tf.TensorInfo;
  makeOutput?(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap?(info: tf.TensorInfo): tf.backend_util.TypedArray;
  incRef?(dataId: tf.DataId): void;
  getMemoryOffset?(dataId: tf.DataId): number;
};

/** Marks kernels we registered so a second registration (re-init) is a no-op. */
const PATCHED = Symbol.for("kser.kernelFix");

export function isPatched(kernelName: string, backendName: string): boolean {
  const k = tf.getKernel(kernelName, backendName) as (tf.KernelConfig & { [PATCHED]?: boolean }) | undefined;
  return Boolean(k?.[PATCHED]);
}

export function replaceKernel(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, config.backendName)) tf.unregisterKernel(config.kernelName, config.backendName);
  tf.registerKernel(Object.assign(config, { [PATCHED]: true }));
}

/**
 * Replaces the registered wasm kernel `kernelName` by `patched(original kernel function)`, keeping the original's
 * setup and dispose functions (a no-op when our patch is already there).
 */
export function patchWasmKernel(kernelName: string, patched: (original: tf.KernelFunc) => tf.KernelFunc): void {
  if (isPatched(kernelName, "wasm")) return;
  const original = tf.getKernel(kernelName, "wasm");
  if (!original) throw new Error(`the wasm ${kernelName} kernel is not registered; import @tensorflow/tfjs-backend-wasm first`);
  replaceKernel({
    kernelName,
    backendName: "wasm",
    setupFunc: original.setupFunc,
    disposeFunc: original.disposeFunc,
    kernelFunc: patched(original.kernelFunc),
  });
}

/** Wraps a wasm kernel: `fast` returns null to fall back to the original (whose setup stays registered). */
export function wrapWasmKernel(
  kernelName: string,
  fast: (args: Parameters<tf.KernelFunc>[0] & { backend: Backend }, original: tf.KernelFunc) => tf.TensorInfo | tf.TensorInfo[] | null,
): void {
  patchWasmKernel(kernelName, (generic) => (args) => {
    const b = args.backend as Backend;
    if (!b.makeOutput || !b.typedArrayFromHeap) return generic(args);
    return fast(args as Parameters<tf.KernelFunc>[0] & { backend: Backend }, generic) ?? generic(args);
  });
}

export const sizeOf = (shape: number[]) => shape.reduce((a, c) => a * c, 1);
/** Byte offset of a tensor's values on the wasm heap. */
export const offsetOf = (backend: Backend, t: tf.TensorInfo) => backend.getMemoryOffset!(t.dataId);
export const isNumeric = (x: tf.TensorInfo) => x.dtype === "float32" || x.dtype === "int32";

/** Whether the segment-sum and batched-matMul patches are in place for a backend (tests and diagnostics). */
export function kernelPatchesRegistered(backendName: "wasm" | "cpu"): { segmentSum: boolean; batchMatMul: boolean } {
  return {
    segmentSum: isPatched(tf.UnsortedSegmentSum, backendName),
    batchMatMul: backendName === "wasm" ? isPatched(tf.BatchMatMul, "wasm") : false,
  };
}
