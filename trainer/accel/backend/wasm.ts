/**
 * The wasm backend with our accelerators: the tfjs kernel patches (../patches/), registered before the backend
 * starts, our GEMM, AdamW and layout kernels (../kernels/), compiled here, and tfjs-wasm's threaded build for its
 * shared heap (../wasm/shared-heap.ts). Each KSER_WASM_* switch turns one part off (docs/accelerators.md); a part
 * that cannot be built here is left out with a warning, and training goes on without it.
 */
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { compileAdamW, enabledWasmAdamW, enableWasmAdamW } from "../kernels/adamw.ts";
import { compileGemm } from "../kernels/gemm/gemm.ts";
import { compileLayout, enableWasmLayout, wasmLayoutStatus } from "../kernels/layout/layout.ts";
import { registerBatchMatMulPatch } from "../patches/batch-matmul.ts";
import { registerGatherPatch } from "../patches/gather.ts";
import { registerWasmGemmKernels, wasmGemmStatus } from "../patches/gemm-routing.ts";
import { registerIdentityPatch } from "../patches/identity.ts";
import { registerLayoutPatches } from "../patches/layout-patches.ts";
import { registerReluGradientKernel } from "../patches/relu-gradient.ts";
import { registerSegmentSumPatch } from "../patches/segment-sum.ts";
import { isSharedMemory, wasmHeapOf } from "../wasm/heap.ts";
import { sharedHeapWanted, startWasmWithSharedHeap } from "../wasm/shared-heap.ts";
import { hardwareThreadsPerCore } from "./cpu-topology.ts";
import { withoutAddedProcessHandlers } from "./process-handlers.ts";

const require = createRequire(import.meta.url);

/**
 * Our GEMM kernel for wasm's products. KSER_WASM_GEMM=off keeps tfjs's own, =plain ours without fused multiply-add
 * (comparisons). If it cannot be built here, training goes on with tfjs's products: say so rather than lose wasm.
 */
async function useWasmGemm(): Promise<void> {
  const gemm = process.env.KSER_WASM_GEMM ?? "fma";
  if (gemm === "off") return;
  try {
    registerWasmGemmKernels(await compileGemm(gemm !== "plain"), { threads: gemmThreads() });
  } catch (err) {
    process.stderr.write(`wasm GEMM kernel not used (${(err as Error).message}); tfjs's own matrix products instead\n`);
  }
}

/**
 * Our AdamW kernel for optimizers on the wasm backend (moments on the wasm heap). KSER_WASM_ADAMW=off keeps the JS
 * update (same results, slower); so does a kernel that cannot be built here, with a warning.
 */
async function useWasmAdamW(sharedHeap: boolean): Promise<void> {
  if (process.env.KSER_WASM_ADAMW === "off") return;
  try {
    enableWasmAdamW(await compileAdamW(sharedHeap));
  } catch (err) {
    process.stderr.write(`wasm AdamW kernel not used (${(err as Error).message}); the JS update instead\n`);
  }
}

/** Our kernel for the layout patches' copies and sums; KSER_WASM_LAYOUT=off keeps their JS loops (same results). */
async function useWasmLayout(sharedHeap: boolean): Promise<void> {
  if (process.env.KSER_WASM_LAYOUT === "off") return;
  try {
    enableWasmLayout(await compileLayout(sharedHeap));
  } catch (err) {
    process.stderr.write(`wasm layout kernel not used (${(err as Error).message}); JS loops instead\n`);
  }
}

/** What runs where on the wasm backend: our GEMM (and its threads), our AdamW kernel, the layout kernel and its calls. */
export function wasmKernelStatus(): {
  gemm: ReturnType<typeof wasmGemmStatus>;
  adamw: boolean;
  layout: { kernel: boolean; calls: number };
} {
  const layout = wasmLayoutStatus();
  return { gemm: wasmGemmStatus(), adamw: enabledWasmAdamW() !== null, layout: { kernel: layout.module !== null, calls: layout.calls } };
}

export function describeWasmKernels(): string {
  const layout = process.env.KSER_NO_LAYOUT_FIXES === "1" ? "tfjs's own" : wasmLayoutStatus().module ? "kser wasm kernel" : "JS loops";
  const memory = wasmHeapOf(tf.backend())?.memory;
  const heap = memory && isSharedMemory(memory) ? "shared (threaded build, one tfjs thread)" : "plain build";
  return `heap: ${heap}; matrix products: ${describeWasmGemm()}; AdamW: ${enabledWasmAdamW() ? "kser wasm kernel" : "JS loop"}; copies, transposes, gathers, slices and sums: ${layout}`;
}

/**
 * Threads for large products: KSER_WASM_THREADS when set (1 = this thread only), else one per physical core this
 * process may use, up to 4: the usable logical CPUs divided by the hardware threads per core (cpu-topology.ts), or
 * by 2 where the topology cannot be read (cloud vCPUs are often one core's two hardware threads, which share its
 * vector units).
 */
export function gemmThreads(threadsPerCore: number | null = hardwareThreadsPerCore()): number {
  const asked = process.env.KSER_WASM_THREADS;
  if (asked !== undefined) {
    const n = Number(asked);
    if (!Number.isInteger(n) || n < 1) throw new Error(`KSER_WASM_THREADS must be a whole number >= 1, got "${asked}"`);
    return n;
  }
  return Math.max(1, Math.min(Math.floor(availableParallelism() / (threadsPerCore ?? 2)), 4));
}

function describeWasmGemm(): string {
  const { registered, fusedMultiplyAdd, threads } = wasmGemmStatus();
  if (!registered) return "tfjs's own";
  return `kser GEMM (${fusedMultiplyAdd ? "fused multiply-add" : "separate multiply and add"}, ${threads} thread${threads > 1 ? "s" : ""})`;
}

export async function tryWasm(): Promise<string | null> {
  try {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    const dist = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm"));
    wasm.setWasmPaths(`${dist}${path.sep}`);
    registerSegmentSumPatch("wasm");
    // Before the matMul patch: its explicit transposes then use the patched Transpose.
    if (process.env.KSER_NO_LAYOUT_FIXES !== "1") registerLayoutPatches();
    registerBatchMatMulPatch();
    registerGatherPatch();
    if (process.env.KSER_COPY_IDENTITY !== "1") registerIdentityPatch();
    registerReluGradientKernel();
    await useWasmGemm();
    const shared = sharedHeapWanted();
    await useWasmAdamW(shared);
    await useWasmLayout(shared);
    if (shared) {
      if (await withoutAddedProcessHandlers(() => startWasmWithSharedHeap(wasm))) return "wasm";
      process.stderr.write("tfjs-wasm's threaded build did not start here: its plain build instead (GEMM helpers copy operands)\n");
      await useWasmAdamW(false);
      await useWasmLayout(false);
    }
    return (await withoutAddedProcessHandlers(() => tf.setBackend("wasm"))) ? "wasm" : null;
  } catch {
    return null;
  }
}
