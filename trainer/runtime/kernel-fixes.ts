/**
 * Two kernel-level fixes for TensorFlow.js training in Node (see shared/notes/trainer-runtime.md):
 *  1. UnsortedSegmentSum (the gradient of every embedding lookup) is missing on wasm and O(segments x N) on cpu:
 *     a linear-time kernel adds each row into its segment.
 *  2. wasm BatchMatMul with transposeA/transposeB takes a path ~10x slower than the plain one: transpose explicitly
 *     with the wasm Transpose kernel, then run the original kernel without transposes (keeping its setupFunc).
 *  3. wasm GatherV2 computes every output element's offset in a generic N-d loop (~25 ms for 5k embedding rows of
 *     32 floats): row lookups along axis 0 are plain row copies on the heap instead.
 * Both must be registered before tf.setBackend(name) so that the backend's setup functions see them.
 */
import * as tf from "@tensorflow/tfjs-core";

type Backend = tf.KernelBackend & {
  readSync(dataId: tf.DataId): tf.backend_util.BackendValues;
  disposeData(dataId: tf.DataId): boolean;
  makeTensorInfo?(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): tf.TensorInfo;
  makeOutput?(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap?(info: tf.TensorInfo): tf.backend_util.TypedArray;
};

/** Marks kernels we registered so a second registration (re-init) is a no-op. */
const PATCHED = Symbol.for("kser.kernelFix");

function isPatched(kernelName: string, backendName: string): boolean {
  const k = tf.getKernel(kernelName, backendName) as (tf.KernelConfig & { [PATCHED]?: boolean }) | undefined;
  return Boolean(k?.[PATCHED]);
}

function replaceKernel(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, config.backendName)) tf.unregisterKernel(config.kernelName, config.backendName);
  tf.registerKernel(Object.assign(config, { [PATCHED]: true }));
}

/** Linear-time segment sum: out[segmentIds[i]] += x[i] (ids outside [0, numSegments) are dropped, as in TF). */
function segmentSumValues(
  x: Float32Array | Int32Array,
  ids: Int32Array,
  numSegments: number,
  rowSize: number,
  out: Float32Array | Int32Array,
) {
  out.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * rowSize;
    const dst = s * rowSize;
    for (let j = 0; j < rowSize; j++) out[dst + j] += x[src + j];
  }
}

export function registerSegmentSumFix(backendName: "wasm" | "cpu"): void {
  if (isPatched(tf.UnsortedSegmentSum, backendName)) return;
  replaceKernel({
    kernelName: tf.UnsortedSegmentSum,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as unknown as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const numSegments = (attrs as unknown as { numSegments: number }).numSegments;
      const b = backend as Backend;
      const xValues = b.readSync(x.dataId) as Float32Array | Int32Array;
      const idValues = Int32Array.from(b.readSync(segmentIds.dataId) as ArrayLike<number>);
      const segRank = segmentIds.shape.length;
      const rowShape = x.shape.slice(segRank);
      const rowSize = rowShape.reduce((a, c) => a * c, 1);
      const outShape = [numSegments, ...rowShape];
      if (b.makeOutput && b.typedArrayFromHeap) {
        // wasm: write straight into the output's heap view.
        const out = b.makeOutput(outShape, x.dtype);
        segmentSumValues(xValues, idValues, numSegments, rowSize, b.typedArrayFromHeap(out) as Float32Array);
        return out;
      }
      const values = x.dtype === "int32" ? new Int32Array(numSegments * rowSize) : new Float32Array(numSegments * rowSize);
      segmentSumValues(xValues, idValues, numSegments, rowSize, values);
      return b.makeTensorInfo!(outShape, x.dtype, values);
    },
  });
}

export function registerBatchMatMulFix(): void {
  if (isPatched(tf.BatchMatMul, "wasm")) return;
  const original = tf.getKernel(tf.BatchMatMul, "wasm");
  const transposeKernel = tf.getKernel(tf.Transpose, "wasm");
  if (!original || !transposeKernel)
    throw new Error("wasm BatchMatMul/Transpose kernels are not registered; import @tensorflow/tfjs-backend-wasm first");
  const plain = original.kernelFunc;
  const swapLastTwo = (x: tf.TensorInfo, backend: tf.KernelBackend) => {
    const rank = x.shape.length;
    const perm = [...Array(rank).keys()];
    [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
    return transposeKernel.kernelFunc({ inputs: { x }, backend, attrs: { perm } }) as tf.TensorInfo;
  };
  replaceKernel({
    kernelName: tf.BatchMatMul,
    backendName: "wasm",
    setupFunc: original.setupFunc,
    disposeFunc: original.disposeFunc,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const { a, b } = inputs as unknown as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      if (!transposeA && !transposeB) return plain(args);
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
        const inner = (
          transposeA
            ? plain({ inputs: { a: small, b: a }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } })
            : plain({ inputs: { a: b, b: small }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } })
        ) as tf.TensorInfo;
        const out = swapLastTwo(inner, kb);
        wb.disposeData(small.dataId);
        wb.disposeData(inner.dataId);
        return out;
      }
      const at = transposeA ? swapLastTwo(a, kb) : a;
      const bt = transposeB ? swapLastTwo(b, kb) : b;
      const out = plain({ inputs: { a: at, b: bt }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
      if (transposeA) wb.disposeData(at.dataId);
      if (transposeB) wb.disposeData(bt.dataId);
      return out;
    },
  });
}

export function registerGatherFix(): void {
  if (isPatched(tf.GatherV2, "wasm")) return;
  const original = tf.getKernel(tf.GatherV2, "wasm");
  if (!original) throw new Error("the wasm GatherV2 kernel is not registered; import @tensorflow/tfjs-backend-wasm first");
  const generic = original.kernelFunc;
  replaceKernel({
    kernelName: tf.GatherV2,
    backendName: "wasm",
    setupFunc: original.setupFunc,
    disposeFunc: original.disposeFunc,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const { x, indices } = inputs as unknown as { x: tf.TensorInfo; indices: tf.TensorInfo };
      const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number };
      const b = backend as Backend;
      if ((axis !== 0 && axis !== -x.shape.length) || batchDims || x.dtype === "string" || !b.makeOutput || !b.typedArrayFromHeap)
        return generic(args);
      const ids = b.readSync(indices.dataId) as ArrayLike<number>;
      const rows = x.shape[0];
      const rowSize = x.shape.slice(1).reduce((a, c) => a * c, 1);
      const out = b.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
      // Views are taken after makeOutput: allocating may grow (and so detach) the heap.
      const src = b.typedArrayFromHeap(x);
      const dst = b.typedArrayFromHeap(out);
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i];
        if (!(id >= 0 && id < rows)) throw new Error(`GatherV2: the index value ${id} is not in [0, ${rows - 1}]`);
        dst.set(src.subarray(id * rowSize, (id + 1) * rowSize), i * rowSize);
      }
      return out;
    },
  });
}

export const gatherFixRegistered = (): boolean => isPatched(tf.GatherV2, "wasm");

/** Whether both fixes are in place for a backend (tests and diagnostics). */
export function kernelFixesRegistered(backendName: "wasm" | "cpu"): { segmentSum: boolean; batchMatMul: boolean } {
  return {
    segmentSum: isPatched(tf.UnsortedSegmentSum, backendName),
    batchMatMul: backendName === "wasm" ? isPatched(tf.BatchMatMul, "wasm") : false,
  };
}
