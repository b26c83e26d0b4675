/**
 * tfjs-wasm's threaded build in Node, used for its heap alone: that build's heap is shared memory, so our GEMM's
 * helper threads (kernels/gemm/threads.ts) read the operands and write their rows of C in place instead of copying
 * them into memory of their own and back.
 *
 * tfjs turns the build off in Node (tfjs issue 3830) because emscripten starts a pool of 8 pthread workers from a
 * blob URL, which Node's worker_threads cannot load. Here tfjs runs with one thread (setThreadsCount(1): XNNPACK
 * starts no pthread), so those workers would never run a thread: while the backend starts, the glue's
 * `require("worker_threads").Worker` is an inert stand-in that answers emscripten's "load" with "loaded" (all it
 * waits for at start-up) and refuses to run a thread; the glue also copies it to `globalThis.Worker`, which is put
 * back afterwards. KSER_WASM_SHARED_HEAP=off keeps the plain SIMD build.
 */
import { createRequire } from "node:module";
import * as tf from "@tensorflow/tfjs-core";

const require = createRequire(import.meta.url);

type WasmBackendModule = { setThreadsCount(n: number): void; getThreadsCount(): number };
type Listener = (message: unknown) => void;

/** What emscripten's pthread pool uses of a Node Worker, without a thread behind it. */
class InertPthread {
  private readonly listeners = new Map<string, Listener[]>();

  on(event: string, listener: Listener): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }

  postMessage(message: { cmd?: string }): void {
    if (message?.cmd === "load") setImmediate(() => this.emit("message", { cmd: "loaded" }));
    else if (message?.cmd === "run") {
      setImmediate(() =>
        this.emit("error", new Error("tfjs-wasm started a pthread, but it runs with one thread here (KSER_WASM_SHARED_HEAP=off)")),
      );
    }
  }

  private emit(event: string, value: unknown): void {
    for (const listener of this.listeners.get(event) ?? []) listener(value);
  }

  ref(): void {}
  unref(): void {}
  terminate(): Promise<number> {
    return Promise.resolve(0);
  }
}

/** Whether to start tfjs-wasm's threaded build for a shared heap: asked for (the default) and possible here. */
export function sharedHeapWanted(): boolean {
  return process.env.KSER_WASM_SHARED_HEAP !== "off" && typeof SharedArrayBuffer === "function";
}

/**
 * Starts the wasm backend on tfjs-wasm's threaded build (one tfjs thread); resolves false, with the flag put back,
 * when it does not start, so that the caller can start the plain build.
 */
export async function startWasmWithSharedHeap(wasm: WasmBackendModule): Promise<boolean> {
  // The CommonJS exports object the glue reads (our ESM imports of worker_threads keep the real Worker).
  const workerThreads = require("node:worker_threads") as { Worker: unknown };
  const realWorker = workerThreads.Worker;
  const globalWorker = Object.getOwnPropertyDescriptor(globalThis, "Worker");
  workerThreads.Worker = InertPthread;
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
  wasm.setThreadsCount(1);
  try {
    const started = await tf.setBackend("wasm");
    if (started && wasm.getThreadsCount() !== 1) throw new Error(`tfjs-wasm started ${wasm.getThreadsCount()} threads, not 1`);
    if (!started) tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    return started;
  } finally {
    workerThreads.Worker = realWorker;
    if (globalWorker) Object.defineProperty(globalThis, "Worker", globalWorker);
    else delete (globalThis as { Worker?: unknown }).Worker;
  }
}
