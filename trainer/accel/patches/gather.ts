/**
 * wasm GatherV2 computes every output element's offset in a generic N-d loop: row lookups along axis 0 (embedding
 * lookups) are plain row copies on the heap instead (kernels/layout/gather-rows.ts, else a JS loop), and along a
 * later axis strided row copies.
 */
import * as tf from "@tensorflow/tfjs-core";
import { layoutFor } from "../kernels/layout/layout.ts";
import { type Backend, isNumeric, isPatched, offsetOf, patchWasmKernel, sizeOf } from "./kernel-patch.ts";

export function registerGatherPatch(): void {
  patchWasmKernel(tf.GatherV2, (generic) => (args) => {
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
  });
}

/**
 * GatherV2 along an axis after the first (FiBiNET's field pairs: [B, F, E] along 1), slow in wasm's generic
 * loop: for each id, the [outer] rows of x at that id, inner elements wide, copied with one strided
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

export const gatherPatchRegistered = (): boolean => isPatched(tf.GatherV2, "wasm");
