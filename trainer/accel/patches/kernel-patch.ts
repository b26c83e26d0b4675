/**
 * Two kernel-level fixes for TensorFlow.js training in Node (see shared/notes/trainer-runtime.md):
 *  1. UnsortedSegmentSum (the gradient of every embedding lookup) is missing on wasm and O(segments x N) on cpu:
 *     a linear-time kernel adds each row into its segment.
 *  2. wasm BatchMatMul with transposeA/transposeB takes a path ~10x slower than the plain one: transpose explicitly
 *     with the wasm Transpose kernel, then run the original kernel without transposes (keeping its setupFunc).
 *  3. wasm GatherV2 computes every output element's offset in a generic N-d loop (~25 ms for 5k embedding rows of
 *     32 floats): row lookups along axis 0 are plain row copies on the heap instead, and along a later axis strided
 *     row copies (and UnsortedSegmentSum, their gradient, adds rows on the heap).
 *  4. Layout kernels of the backward pass (Transpose, Concat, SplitV, 2-D Sum over axis 0) as copies on the heap,
 *     Concat, SplitV and Sum in our wasm kernel (wasm-layout.ts) once the backend set-up has compiled it, else JS
 *     loops (registerLayoutFixes; KSER_NO_LAYOUT_FIXES=1 leaves wasm's own, for comparison in bench:train).
 *  5. wasm Identity copies its input, and the tape clones (Identity) every tensor it saves for a gradient: the
 *     clone shares the input's memory instead (registerIdentityFix), as Reshape already does.
 *  6. float32 Add, Sub, Multiply and RealDiv with broadcasting as strided loops in the layout kernel (broadcast-binary.ts;
 *     part of registerLayoutFixes): wasm's own cost 1-2 ns per element on the KSER step's broadcast shapes; likewise
 *     Fill, ZerosLike, OnesLike and a Pad along one axis.
 * All must be registered before tf.setBackend(name) so that the backend's setup functions see them.
 */
import * as tf from "@tensorflow/tfjs-core";
import { BINARY_OPS, MIN_BROADCAST_ELEMENTS, planBroadcast } from "./broadcast-binary.ts";
import { layoutFor, type WasmLayout } from "./wasm-layout.ts";

type Backend = tf.KernelBackend & {
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
      const layout = layoutFor(b);
      if (layout && b.makeOutput && segmentIds.dtype === "int32" && isNumeric(x)) {
        // wasm with our layout kernel: rows added on the heap, nothing copied to JS.
        const rowShape = x.shape.slice(segmentIds.shape.length);
        const out = b.makeOutput([numSegments, ...rowShape], x.dtype);
        const add = x.dtype === "float32" ? layout.segmentSum_f32 : layout.segmentSum_i32;
        add(offsetOf(b, x), offsetOf(b, segmentIds), sizeOf(segmentIds.shape), numSegments, sizeOf(rowShape), offsetOf(b, out));
        return out;
      }
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
      const along = axis < 0 ? axis + x.shape.length : axis;
      if (along > 0 && !batchDims) {
        const out = gatherMiddleAxis(b, x, indices, along);
        if (out) return out;
      }
      if (along !== 0 || batchDims || x.dtype === "string" || !b.makeOutput || !b.typedArrayFromHeap) return generic(args);
      const rows = x.shape[0];
      const rowSize = x.shape.slice(1).reduce((a, c) => a * c, 1);
      const layout = layoutFor(b);
      if (layout && b.getMemoryOffset && indices.dtype === "int32" && (x.dtype === "float32" || x.dtype === "int32")) {
        // All on the heap: the ids are read where they are, no copy of them to JS.
        const count = tf.util.sizeFromShape(indices.shape);
        const out = b.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
        const idsAt = b.getMemoryOffset(indices.dataId);
        const bad = layout.gatherRows(b.getMemoryOffset(x.dataId), idsAt, count, rows, rowSize, b.getMemoryOffset(out.dataId));
        if (bad >= 0) {
          const id = b.typedArrayFromHeap(indices)[bad];
          b.disposeData(out.dataId);
          throw new Error(`GatherV2: the index value ${id} is not in [0, ${rows - 1}]`);
        }
        return out;
      }
      const ids = b.readSync(indices.dataId) as ArrayLike<number>;
      const out = b.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
      // Views are taken after makeOutput: allocating may grow (and so detach) the heap.
      const src = b.typedArrayFromHeap(x);
      const dst = b.typedArrayFromHeap(out);
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i];
        if (!(id >= 0 && id < rows)) throw new Error(`GatherV2: the index value ${id} is not in [0, ${rows - 1}]`);
      }
      // Narrow rows (embeddings): an element loop; subarray+set allocates two views per row.
      gatherRows(src, dst, ids, rowSize);
      return out;
    },
  });
}

/**
 * GatherV2 along an axis after the first (FiBiNET's field pairs: [B, F, E] along 1), which wasm's generic loop runs at
 * ~40 ns per element: for each id, the [outer] rows of x at that id, inner elements wide, copied with one strided
 * row copy of the layout kernel. Null where that kernel or the dtypes do not fit (wasm's own kernel then).
 */
function gatherMiddleAxis(b: Backend, x: tf.TensorInfo, indices: tf.TensorInfo, axis: number): tf.TensorInfo | null {
  const layout = layoutFor(b);
  if (!layout || !b.makeOutput || !b.typedArrayFromHeap || indices.dtype !== "int32" || !isNumeric(x)) return null;
  const outer = sizeOf(x.shape.slice(0, axis));
  const n = x.shape[axis];
  const inner = sizeOf(x.shape.slice(axis + 1));
  // A copy: allocating the output may grow (and so detach) the heap under a view.
  const ids = b.typedArrayFromHeap(indices).slice();
  for (const id of ids) if (!(id >= 0 && id < n)) throw new Error(`GatherV2: the index value ${id} is not in [0, ${n - 1}]`);
  const out = b.makeOutput([...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)], x.dtype);
  const src = offsetOf(b, x);
  const dst = offsetOf(b, out);
  const count = ids.length;
  for (let i = 0; i < count; i++) layout.copyRows(src + 4 * ids[i] * inner, n * inner, dst + 4 * i * inner, count * inner, outer, inner);
  return out;
}

function gatherRows(src: tf.backend_util.TypedArray, dst: tf.backend_util.TypedArray, ids: ArrayLike<number>, rowSize: number) {
  if (rowSize >= 64) {
    for (let i = 0; i < ids.length; i++) dst.set(src.subarray(ids[i] * rowSize, (ids[i] + 1) * rowSize), i * rowSize);
    return;
  }
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i] * rowSize;
    const d = i * rowSize;
    for (let j = 0; j < rowSize; j++) dst[d + j] = src[s + j];
  }
}

export const gatherFixRegistered = (): boolean => isPatched(tf.GatherV2, "wasm");

/** Whether both fixes are in place for a backend (tests and diagnostics). */
export function kernelFixesRegistered(backendName: "wasm" | "cpu"): { segmentSum: boolean; batchMatMul: boolean } {
  return {
    segmentSum: isPatched(tf.UnsortedSegmentSum, backendName),
    batchMatMul: backendName === "wasm" ? isPatched(tf.BatchMatMul, "wasm") : false,
  };
}

/** Wraps a wasm kernel: `fast` returns null to fall back to the original (whose setup stays registered). */
function wrapWasmKernel(
  kernelName: string,
  fast: (args: Parameters<tf.KernelFunc>[0] & { backend: Backend }, original: tf.KernelFunc) => tf.TensorInfo | tf.TensorInfo[] | null,
): void {
  if (isPatched(kernelName, "wasm")) return;
  const original = tf.getKernel(kernelName, "wasm");
  if (!original) throw new Error(`the wasm ${kernelName} kernel is not registered; import @tensorflow/tfjs-backend-wasm first`);
  const generic = original.kernelFunc;
  replaceKernel({
    kernelName,
    backendName: "wasm",
    setupFunc: original.setupFunc,
    disposeFunc: original.disposeFunc,
    kernelFunc: (args) => {
      const b = args.backend as Backend;
      if (!b.makeOutput || !b.typedArrayFromHeap) return generic(args);
      return fast(args as Parameters<tf.KernelFunc>[0] & { backend: Backend }, generic) ?? generic(args);
    },
  });
}

/** Copies `rows` rows of `width` elements between strided layouts (a loop beats subarray+set for narrow rows). */
function copyRows(
  src: tf.backend_util.TypedArray,
  srcOff: number,
  srcStride: number,
  dst: tf.backend_util.TypedArray,
  dstOff: number,
  dstStride: number,
  rows: number,
  width: number,
) {
  if (width >= 64) {
    for (let i = 0; i < rows; i++) dst.set(src.subarray(srcOff + i * srcStride, srcOff + i * srcStride + width), dstOff + i * dstStride);
    return;
  }
  for (let i = 0; i < rows; i++) {
    const s = srcOff + i * srcStride;
    const d = dstOff + i * dstStride;
    for (let j = 0; j < width; j++) dst[d + j] = src[s + j];
  }
}

const sizeOf = (shape: number[]) => shape.reduce((a, c) => a * c, 1);
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
const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
/** Byte offset of a tensor's values on the wasm heap. */
const offsetOf = (backend: Backend, t: tf.TensorInfo) => backend.getMemoryOffset!(t.dataId);
const isNumeric = (x: tf.TensorInfo) => x.dtype === "float32" || x.dtype === "int32";

/** dst[j * rows + i] = src[i * cols + j], cache-blocked. */
function transposeBlock(
  src: tf.backend_util.TypedArray,
  srcOff: number,
  dst: tf.backend_util.TypedArray,
  dstOff: number,
  rows: number,
  cols: number,
) {
  const T = 32;
  for (let i0 = 0; i0 < rows; i0 += T) {
    const i1 = Math.min(rows, i0 + T);
    for (let j0 = 0; j0 < cols; j0 += T) {
      const j1 = Math.min(cols, j0 + T);
      for (let i = i0; i < i1; i++) {
        const s = srcOff + i * cols;
        for (let j = j0; j < j1; j++) dst[dstOff + j * rows + i] = src[s + j];
      }
    }
  }
}

/**
 * 4. Layout kernels of every backward pass, as plain copies on the heap: wasm's generic paths cost several ns per
 * element (a [1024, 256] transpose ~2 ms, splitting the [B, 160] concat gradient into 10 parts ~5 ms):
 *  - Transpose that swaps the last two axes (2-D transposes, the batched matMul fix),
 *  - Concat and SplitV (field concatenation and its gradient; along any axis),
 *  - Sum of a 2-D tensor over axis 0 (bias gradients; wasm transposes first), and with the layout kernel, over
 *    adjacent middle axes of any tensor (wasm transposes first there too),
 *  - Slice of up to 4 axes (id columns, batches, chunk ranges) when the wasm layout kernel is enabled: wasm's own
 *    copies its whole input out of the heap first (readSync) and then loops in JS.
 */
export function registerLayoutFixes(): void {
  wrapWasmKernel(tf.Transpose, ({ inputs, backend, attrs }) => {
    const { x } = inputs as unknown as { x: tf.TensorInfo };
    const { perm } = attrs as unknown as { perm: number[] };
    const r = x.shape.length;
    if (r < 2 || !isNumeric(x) || perm.some((p, i) => p !== (i === r - 2 ? r - 1 : i === r - 1 ? r - 2 : i))) return null;
    const rows = x.shape[r - 2];
    const cols = x.shape[r - 1];
    const out = backend.makeOutput!(
      perm.map((p) => x.shape[p]),
      x.dtype,
    );
    const mat = rows * cols;
    const layout = layoutFor(backend);
    if (layout) {
      if (mat > 0) layout.transpose(offsetOf(backend, x), offsetOf(backend, out), rows, cols, sizeOf(x.shape) / mat);
      return out;
    }
    const src = backend.typedArrayFromHeap!(x);
    const dst = backend.typedArrayFromHeap!(out);
    for (let off = 0; off < src.length; off += mat) transposeBlock(src, off, dst, off, rows, cols);
    return out;
  });
  // Along any axis: with the axes before it as rows and it plus the axes after it as one, each part is a column block.
  wrapWasmKernel(tf.Concat, ({ inputs, backend, attrs }) => {
    const xs = Object.values(inputs as unknown as Record<string, tf.TensorInfo>);
    const r = xs[0]?.shape.length ?? 0;
    if (r < 1) return null;
    const axis = tf.util.parseAxisParam((attrs as unknown as { axis: number }).axis, xs[0].shape)[0];
    const lead = xs[0].shape.slice(0, axis);
    const tail = xs[0].shape.slice(axis + 1);
    const sameFrame = (x: tf.TensorInfo) =>
      x.shape.length === r && x.shape.slice(0, axis).join() === lead.join() && x.shape.slice(axis + 1).join() === tail.join();
    if (xs.some((x) => x.dtype !== xs[0].dtype || !isNumeric(x) || !sameFrame(x))) return null;
    const rows = sizeOf(lead);
    const widths = xs.map((x) => x.shape[axis] * sizeOf(tail));
    const total = widths.reduce((a, c) => a + c, 0);
    const out = backend.makeOutput!([...lead, xs.reduce((a, x) => a + x.shape[axis], 0), ...tail], xs[0].dtype);
    const layout = layoutFor(backend);
    let col = 0;
    xs.forEach((x, k) => {
      const w = widths[k];
      if (w === 0 || rows === 0) return;
      if (layout) layout.copyRows(offsetOf(backend, x), w, offsetOf(backend, out) + 4 * col, total, rows, w);
      else copyRows(backend.typedArrayFromHeap!(x), 0, w, backend.typedArrayFromHeap!(out), col, total, rows, w);
      col += w;
    });
    return out;
  });
  wrapWasmKernel(tf.SplitV, ({ inputs, backend, attrs }) => {
    const { x } = inputs as unknown as { x: tf.TensorInfo };
    const { numOrSizeSplits } = attrs as unknown as { numOrSizeSplits: number | number[] };
    const r = x.shape.length;
    if (r < 1 || !isNumeric(x)) return null;
    const axis = tf.util.parseAxisParam((attrs as unknown as { axis: number }).axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, axis) as number[];
    if (sizes.reduce((a, c) => a + c, 0) !== x.shape[axis]) return null;
    const lead = x.shape.slice(0, axis);
    const tail = x.shape.slice(axis + 1);
    const rows = sizeOf(lead);
    const total = x.shape[axis] * sizeOf(tail);
    const outs = sizes.map((size) => backend.makeOutput!([...lead, size, ...tail], x.dtype));
    const layout = layoutFor(backend);
    let col = 0;
    outs.forEach((out, k) => {
      const w = sizes[k] * sizeOf(tail);
      if (w > 0 && rows > 0) {
        if (layout) layout.copyRows(offsetOf(backend, x) + 4 * col, total, offsetOf(backend, out), w, rows, w);
        else copyRows(backend.typedArrayFromHeap!(x), col, total, backend.typedArrayFromHeap!(out), 0, w, rows, w);
      }
      col += w;
    });
    return outs;
  });
  wrapWasmKernel(tf.Sum, ({ inputs, backend, attrs }) => {
    const { x } = inputs as unknown as { x: tf.TensorInfo };
    const { axis, keepDims } = attrs as unknown as { axis: number | number[]; keepDims: boolean };
    // (parseAxisParam: negative axes counted from the end, no axis = all of them)
    const axes = tf.util.parseAxisParam(axis, x.shape);
    if (x.dtype !== "float32") return null;
    if (x.shape.length !== 2 || axes.length !== 1 || axes[0] !== 0) return sumMiddleAxes(x, axes, keepDims, backend);
    const [rows, cols] = x.shape;
    const out = backend.makeOutput!(keepDims ? [1, cols] : [cols], "float32");
    const layout = layoutFor(backend);
    if (layout) {
      layout.columnSums(offsetOf(backend, x), rows, cols, offsetOf(backend, out));
      return out;
    }
    const src = backend.typedArrayFromHeap!(x);
    const dst = backend.typedArrayFromHeap!(out);
    // Accumulate in float64 rows-first (cache-friendly), then store.
    const acc = new Float64Array(cols);
    for (let i = 0; i < rows; i++) {
      const o = i * cols;
      for (let j = 0; j < cols; j++) acc[j] += src[o + j];
    }
    for (let j = 0; j < cols; j++) dst[j] = acc[j];
    return out;
  });
  /**
   * A Sum over adjacent axes that are not the innermost (e.g. [B, K, d] over K), in one pass on the heap: wasm's own
   * first transposes them innermost. Same float32 sums in the same order (tested to the bit).
   */
  function sumMiddleAxes(x: tf.TensorInfo, axes: number[], keepDims: boolean, backend: Backend): tf.TensorInfo | null {
    const sorted = [...new Set(axes)].sort((a, b) => a - b);
    const first = sorted[0];
    const last = sorted[sorted.length - 1];
    const layout = layoutFor(backend);
    if (!layout || sorted.length === 0 || last - first + 1 !== sorted.length || last === x.shape.length - 1) return null;
    const outer = sizeOf(x.shape.slice(0, first));
    const reduce = sizeOf(x.shape.slice(first, last + 1));
    const inner = sizeOf(x.shape.slice(last + 1));
    const shape = keepDims
      ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d))
      : [...x.shape.slice(0, first), ...x.shape.slice(last + 1)];
    const out = backend.makeOutput!(shape, "float32");
    if (outer * inner > 0) layout.sumMiddle(offsetOf(backend, x), outer, reduce, inner, offsetOf(backend, out));
    return out;
  }
  wrapWasmKernel(tf.Slice, ({ inputs, backend, attrs }) => {
    const { x } = inputs as unknown as { x: tf.TensorInfo };
    const layout = layoutFor(backend);
    if (!layout || !isNumeric(x) || x.shape.length > 4) return null;
    const { begin, size } = attrs as unknown as { begin: number | number[]; size: number | number[] };
    const [from, sizes] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    const out = backend.makeOutput!(sizes, x.dtype);
    if (tf.util.sizeFromShape(sizes) === 0) return out;
    // As 4 axes (leading axes of 1), strides in elements; the copy runs along the last axis.
    const pad = 4 - x.shape.length;
    const shape = [...Array(pad).fill(1), ...x.shape];
    const start = [...Array(pad).fill(0), ...from];
    const counts = [...Array(pad).fill(1), ...sizes];
    const strides = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3]];
    const first = start[0] * strides[0] + start[1] * strides[1] + start[2] * strides[2] + start[3];
    layout.copyBlock(
      offsetOf(backend, x) + 4 * first,
      strides[0],
      strides[1],
      strides[2],
      offsetOf(backend, out),
      counts[0],
      counts[1],
      counts[2],
      counts[3],
    );
    return out;
  });
  // Fill writes through a view of the heap, and TypedArray.fill on the shared heap's view takes ~1 ns per element.
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
  // Pad along one axis (a Slice's gradient): the constant everywhere, then one strided copy of x; wasm's own pads
  // element by element (~6 ns each: ESFNet's [1024,6,1,4] -> [1024,6,5,4] 0.8 ms).
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

/**
 * 5. Identity as a second reference to the same heap memory (reference-counted: the memory goes when the last
 * tensor does). Safe because no kernel writes into its inputs, and the optimizer's in-place updates copy a
 * parameter first when its memory is shared (unshare in trainer/train/adam-moments.ts).
 */
export function registerIdentityFix(): void {
  wrapWasmKernel(tf.Identity, ({ inputs, backend }) => {
    const { x } = inputs as unknown as { x: tf.TensorInfo };
    if (x.dtype === "string" || !backend.incRef) return null;
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  });
}

export const identityFixRegistered = (): boolean => isPatched(tf.Identity, "wasm");
