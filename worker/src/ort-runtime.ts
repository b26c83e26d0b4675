/**
 * Loads onnxruntime-web inside workerd.
 * workerd forbids compiling wasm at run time and has no import.meta.url, so: the bundle entry with embedded glue,
 * the wasm binary imported as a precompiled WebAssembly.Module, a dummy wasmBinary so ORT neither fetches nor
 * dynamic-imports, and WebAssembly.instantiate redirected to that Module while ORT creates its first
 * InferenceSession (only then).
 * This relies on ORT internals; test/worker/ort-runtime.test.ts guards it.
 */

import ortWasmModule from "onnxruntime-web/ort-wasm-simd-threaded.wasm";
import * as ort from "onnxruntime-web/wasm";
import { WARMUP_MODEL } from "./warmup-model.ts";

export { ort };

ort.env.wasm.numThreads = 1; // no worker threads in workerd
ort.env.wasm.proxy = false;
ort.env.wasm.wasmBinary = new Uint8Array([0]); // any non-empty bytes: selects the embedded glue, skips fetch
ort.env.logLevel = "error";

let ready: Promise<void> | undefined;
let readyError: unknown;
let warmupMs: number | undefined;

async function initialise(): Promise<void> {
  const original = WebAssembly.instantiate;
  // Emscripten calls instantiate(bytes, imports) expecting {instance, module}; hand it the imported Module instead.
  const substitute = async (source: unknown, imports?: WebAssembly.Imports) => {
    if (source instanceof WebAssembly.Module) return original(source, imports);
    const instance = await original(ortWasmModule, imports);
    return { instance, module: ortWasmModule };
  };
  (WebAssembly as { instantiate: unknown }).instantiate = substitute;
  const started = Date.now();
  try {
    const session = await ort.InferenceSession.create(WARMUP_MODEL);
    const out = await session.run({ x: new ort.Tensor("float32", new Float32Array([1.5]), [1]) });
    if ((out.y.data as Float32Array)[0] !== 1.5) throw new Error("ORT warm-up model returned a wrong value");
    await session.release();
  } finally {
    WebAssembly.instantiate = original;
  }
  warmupMs = Date.now() - started;
}

/** Starts (once per isolate) and awaits the wasm backend; rejects with the same error on every call if it failed. */
export function ortReady(): Promise<void> {
  ready ??= initialise().catch((e) => {
    readyError = e;
    throw e;
  });
  return ready;
}

export function ortStatus(): { ready: boolean; error?: string; warmupMs?: number } {
  if (readyError) return { ready: false, error: String(readyError) };
  return { ready: warmupMs !== undefined, warmupMs };
}

/**
 * ORT's graph optimizations are off: the exported graphs are already in their final form (Gemm emitted directly,
 * constants as initializers), so runs are no faster with them, and the optimizer is wasm code that the first request
 * must compile: workerd discards the top-level warm-up's baseline (Liftoff) code before the first request. The
 * measurements: docs/worker.md, "Why the first request is slow".
 */
export const GRAPH_OPTIMIZATION_LEVEL = "disabled" as const;

/** Creates a session once the backend is up; every model session goes through here. */
export async function createSession(bytes: Uint8Array): Promise<ort.InferenceSession> {
  await ortReady();
  return ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: GRAPH_OPTIMIZATION_LEVEL });
}
