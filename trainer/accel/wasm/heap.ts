/**
 * The tfjs wasm backend's heap as our kernels use it: its memory, its allocator and where a tensor's values are.
 * tfjs-wasm does not document these; a build that does not expose them gets null, and callers keep tfjs's own way.
 */
import type * as tf from "@tensorflow/tfjs-core";

export type WasmBackend = tf.KernelBackend & {
  wasm: { asm?: { memory?: unknown }; wasmMemory?: unknown; _malloc(bytes: number): number; _free(at: number): void };
  getMemoryOffset(dataId: tf.DataId): number;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
};

export interface WasmHeap {
  memory: WebAssembly.Memory;
  /** Byte offset of `bytes` new bytes (0 when the heap has no room); offsets stay valid when the heap grows. */
  malloc(bytes: number): number;
  free(at: number): void;
}

/** Whether `memory` is shared memory (tfjs-wasm's threaded build's heap, shared-heap.ts). */
export function isSharedMemory(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer === "function" && memory.buffer instanceof SharedArrayBuffer;
}

export function wasmHeapOf(backend: tf.KernelBackend): WasmHeap | null {
  const heap = (backend as WasmBackend).wasm;
  // The plain build exports its memory; the threaded build imports it (shared-heap.ts) and keeps it as wasmMemory.
  const memory = heap?.asm?.memory ?? heap?.wasmMemory;
  if (!(memory instanceof WebAssembly.Memory) || typeof heap._malloc !== "function" || typeof heap._free !== "function") return null;
  return { memory, malloc: (bytes) => heap._malloc(bytes) >>> 0, free: (at) => heap._free(at) };
}
