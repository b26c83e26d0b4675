/**
 * The layout kernel: the copies, sums and element-wise loops of the backward pass as one WebAssembly module on the
 * tfjs wasm heap (text written here, assembled with wabt), one entry point per kernel, each in its own file beside
 * this one. The tfjs kernel patches (../../patches/) call it where the backend set-up enabled it, and fall back to
 * JS loops (or tfjs's own kernels) where not; every entry point gives the bits of what it replaces (tested).
 */

import { wasmHeapOf } from "../../wasm/heap.ts";
import { assembleWat, heapImport } from "../../wasm/wat.ts";
import { ACCUMULATE_ROWS_WAT } from "./accumulate-rows.ts";
import { type BinaryOp, broadcastBinaryWat } from "./broadcast-binary.ts";
import { columnSumsWat } from "./column-sums.ts";
import { COPY_BLOCK_WAT } from "./copy-block.ts";
import { COPY_ROWS_WAT } from "./copy-rows.ts";
import { FILL_WAT } from "./fill.ts";
import { GATHER_ROWS_WAT } from "./gather-rows.ts";
import { RELU_GRADIENT_WAT } from "./relu-gradient.ts";
import { segmentSumWat } from "./segment-sum.ts";
import { SUM_MIDDLE_WAT } from "./sum-middle.ts";
import { TRANSPOSE_WAT } from "./transpose.ts";

/** The module text; `shared`: for a heap that is shared memory (wasm/shared-heap.ts). */
function moduleWat(shared: boolean): string {
  const kernels = [
    columnSumsWat(),
    COPY_ROWS_WAT,
    SUM_MIDDLE_WAT,
    ACCUMULATE_ROWS_WAT,
    FILL_WAT,
    COPY_BLOCK_WAT,
    RELU_GRADIENT_WAT,
    TRANSPOSE_WAT,
    GATHER_ROWS_WAT,
    segmentSumWat("f32"),
    segmentSumWat("i32"),
    broadcastBinaryWat(),
  ];
  return `(module\n  ${heapImport(shared)}\n\n  ${kernels.join("\n\n  ")}\n)`;
}

/** out = a op b over a broadcast plan (broadcast-binary.ts): counts n0-n3, outer strides of a and b, inner mode. */
type BinaryEntry = (
  a: number,
  b: number,
  out: number,
  n0: number,
  n1: number,
  n2: number,
  n3: number,
  as0: number,
  as1: number,
  as2: number,
  bs0: number,
  bs1: number,
  bs2: number,
  mode: number,
) => void;

/** The kernel's entry points; offsets are bytes into the heap it was instantiated on, strides elements. */
export type WasmLayout = LayoutEntries & { [K in `binary_${BinaryOp}`]: BinaryEntry };

interface LayoutEntries {
  columnSums(src: number, rows: number, cols: number, dst: number): void;
  copyRows(src: number, srcStride: number, dst: number, dstStride: number, rows: number, width: number): void;
  /** dst[o][j] = sum over r of src[o][r][j] for an [outer, reduce, inner] float32 block (float32 sums in r order). */
  sumMiddle(src: number, outer: number, reduce: number, inner: number, dst: number): void;
  /** Adds gradient rows from..n-1 into per-id accumulator rows (see the module text); returns where it stopped. */
  accumulateRows(
    slot: number,
    accIds: number,
    accValues: number,
    countAt: number,
    capacity: number,
    ids: number,
    grad: number,
    from: number,
    n: number,
    width: number,
    rows: number,
  ): number;
  /** slot[accIds[s]] = -1 for s < count. */
  clearRows(slot: number, accIds: number, count: number): void;
  /** A block of n0 x n1 x n2 x n3 4-byte elements (strides s0, s1, s2 in elements; the last axis contiguous) to dst. */
  copyBlock(src: number, s0: number, s1: number, s2: number, dst: number, n0: number, n1: number, n2: number, n3: number): void;
  /** out = dy * step(x) for count floats (relu's gradient; step of NaN is NaN, as tfjs's). */
  reluGradient(dy: number, x: number, out: number, count: number): void;
  /** count 4-byte elements from dst set to the 32-bit pattern `bits` (a float's or an int's). */
  fill32(dst: number, count: number, bits: number): void;
  /** dst = src with the last two axes swapped, for `count` matrices of rows x cols 4-byte elements. */
  transpose(src: number, dst: number, rows: number, cols: number, count: number): void;
  /** Rows `ids` (count int32 at `ids`) of a table of `rows` rows to dst; -1, or the position of an id out of range. */
  gatherRows(table: number, ids: number, count: number, rows: number, width: number, dst: number): number;
  /** UnsortedSegmentSum of count float32 rows of width at src by the int32 ids at `ids` into segments rows at dst. */
  segmentSum_f32(src: number, ids: number, count: number, segments: number, width: number, dst: number): void;
  /** The same for int32 rows (sums wrap, as the JS loop's Int32Array stores do). */
  segmentSum_i32(src: number, ids: number, count: number, segments: number, width: number, dst: number): void;
}

/** `sharedHeap`: for a heap that is shared memory (wasm/shared-heap.ts). */
export async function compileLayout(sharedHeap = false): Promise<WebAssembly.Module> {
  return new WebAssembly.Module(await assembleWat(`kser-layout${sharedHeap ? "-shared" : ""}.wat`, moduleWat(sharedHeap)));
}

export function instantiateLayout(module: WebAssembly.Module, memory: WebAssembly.Memory): WasmLayout {
  const kernel = new WebAssembly.Instance(module, { env: { memory } }).exports;
  // Every entry point, counting its calls.
  return Object.fromEntries(
    Object.entries(kernel).map(([name, entry]) => [
      name,
      (...args: number[]) => {
        calls++;
        return (entry as (...a: number[]) => number | undefined)(...args);
      },
    ]),
  ) as unknown as WasmLayout;
}

let enabled: WebAssembly.Module | null = null;
/** Kernel calls in this process (diagnostics, tests). */
let calls = 0;
const perBackend = new WeakMap<object, WasmLayout | null>();

/** Makes the compiled kernel the one the layout patches use from now on (null: their JS loops). */
export function enableWasmLayout(module: WebAssembly.Module | null): void {
  enabled = module;
}

/** The kernel the backend set-up enabled (not when KSER_WASM_LAYOUT=off), and how many calls it has run. */
export function wasmLayoutStatus(): { module: WebAssembly.Module | null; calls: number } {
  return { module: enabled, calls };
}

/** The kernel on a wasm backend's heap, or null (not enabled, or the heap is not reachable). */
export function layoutFor(backend: Parameters<typeof wasmHeapOf>[0]): WasmLayout | null {
  if (!enabled) return null;
  let layout = perBackend.get(backend);
  if (layout === undefined) {
    const heap = wasmHeapOf(backend);
    layout = heap ? instantiateLayout(enabled, heap.memory) : null;
    perBackend.set(backend, layout);
  }
  return layout;
}
