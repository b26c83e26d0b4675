/**
 * tfjs-wasm's threaded build in Node, used for its heap alone: that build's heap is shared memory, so our GEMM's
 * helper threads (gemm-threads.ts) read the operands and write their rows of C in place instead of copying them
 * into memory of their own and back (~4 ms of a ~24 ms reference step on the development machine).
 *
 * tfjs turns the build off in Node (tfjs issue 3830) because emscripten starts a pool of 8 pthread workers from a
 * blob URL, which Node's worker_threads cannot load. Here tfjs runs with one thread (setThreadsCount(1): XNNPACK
 * starts no pthread), so those workers never run a thread: while the backend starts, the blob URL of the pthread
 * script is replaced by inert-pthread.cjs, which answers emscripten's "load" and ends. KSER_WASM_SHARED_HEAP=off
 * keeps the plain SIMD build.
 */
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";

const INERT_PTHREAD = fileURLToPath(new URL("./inert-pthread.cjs", import.meta.url));

type WasmBackendModule = { setThreadsCount(n: number): void; getThreadsCount(): number };

/** Whether to start tfjs-wasm's threaded build for a shared heap: asked for (the default) and possible here. */
export function sharedHeapWanted(): boolean {
  return process.env.KSER_WASM_SHARED_HEAP !== "off" && typeof SharedArrayBuffer === "function";
}

/**
 * Starts the wasm backend on tfjs-wasm's threaded build (one tfjs thread); resolves false, with the flag put back,
 * when it does not start, so that the caller can start the plain build.
 */
export async function startWasmWithSharedHeap(wasm: WasmBackendModule): Promise<boolean> {
  const createObjectURL = URL.createObjectURL;
  // tfjs makes a blob URL for one thing while it starts the threaded build: the pthread worker script.
  URL.createObjectURL = (blob: Blob) => (blob.type === "application/javascript" ? INERT_PTHREAD : createObjectURL(blob));
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
  wasm.setThreadsCount(1);
  try {
    const started = await tf.setBackend("wasm");
    if (started && wasm.getThreadsCount() !== 1) throw new Error(`tfjs-wasm started ${wasm.getThreadsCount()} threads, not 1`);
    if (!started) tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    return started;
  } finally {
    URL.createObjectURL = createObjectURL;
  }
}
