/**
 * Picks and initialises the TensorFlow.js backend for training: tfjs-node-gpu / tfjs-node when installed (they
 * usually are not: their install needs a download), WebGPU when a real adapter exists, else wasm (SIMD) with the
 * kernel fixes and our GEMM kernel, else cpu with the segment-sum fix. Idempotent: later calls return the first choice.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { hardwareThreadsPerCore } from "./cpu-topology.ts";
import { registerWasmGemmKernels, wasmGemmStatus } from "./gemm-kernels.ts";
import {
  registerBatchMatMulFix,
  registerGatherFix,
  registerIdentityFix,
  registerLayoutFixes,
  registerSegmentSumFix,
} from "./kernel-fixes.ts";
import { withoutAddedProcessHandlers } from "./process-handlers.ts";
import { registerReluGradientKernel } from "./relu-gradient.ts";
import { sharedHeapWanted, startWasmWithSharedHeap } from "./shared-heap.ts";
import { registerGradients } from "./tfjs-gradients.ts";
import { compileAdamW, enabledWasmAdamW, enableWasmAdamW } from "./wasm-adamw.ts";
import { compileGemm } from "./wasm-gemm.ts";
import { isSharedMemory, wasmHeapOf } from "./wasm-heap.ts";
import { compileLayout, enableWasmLayout, wasmLayoutStatus } from "./wasm-layout.ts";

export type BackendPreference = "auto" | "tensorflow" | "webgpu" | "wasm" | "cpu";

const require = createRequire(import.meta.url);
let chosen: Promise<{ name: string }> | null = null;

function resolvable(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

async function tryTensorflow(): Promise<string | null> {
  // Try only one of the two: a failed import of tfjs-node-gpu half-registers kernels.
  const pkg = resolvable("@tensorflow/tfjs-node-gpu")
    ? "@tensorflow/tfjs-node-gpu"
    : resolvable("@tensorflow/tfjs-node")
      ? "@tensorflow/tfjs-node"
      : null;
  if (!pkg) return null;
  try {
    await import(pkg);
    return (await tf.setBackend("tensorflow")) ? "tensorflow" : null;
  } catch {
    return null;
  }
}

async function tryWebgpu(): Promise<string | null> {
  if (!resolvable("webgpu") || !resolvable("@tensorflow/tfjs-backend-webgpu")) return null;
  try {
    type Adapter = { isFallbackAdapter?: boolean; info?: { isFallbackAdapter?: boolean } };
    type Gpu = { requestAdapter(): Promise<Adapter | null> };
    const dawn = (await import("webgpu")) as unknown as { create(flags: string[]): Gpu; globals: object };
    const gpu = dawn.create([]);
    // A software adapter (or none) is slower than wasm: require a real one.
    const adapter = await gpu.requestAdapter();
    if (!adapter || adapter.isFallbackAdapter || adapter.info?.isFallbackAdapter) return null;
    Object.assign(globalThis, dawn.globals);
    Object.defineProperty(globalThis, "navigator", { value: { gpu }, configurable: true, writable: true });
    await import("@tensorflow/tfjs-backend-webgpu");
    return (await tf.setBackend("webgpu")) ? "webgpu" : null;
  } catch {
    return null;
  }
}

/**
 * Dawn finds a real GPU on Linux only through the Vulkan loader. Without it, probing WebGPU in "auto" mode only
 * prints Dawn's warning and falls back, so skip the probe there (an explicit --backend webgpu still tries).
 */
function hasGpuDriverLoader(): boolean {
  if (process.platform !== "linux") return true;
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean),
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
  ];
  return dirs.some((dir) => existsSync(path.join(dir, "libvulkan.so.1")));
}

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

/** Our kernel for the layout fixes' copies and column sums; KSER_WASM_LAYOUT=off keeps their JS loops (same results). */
async function useWasmLayout(sharedHeap: boolean): Promise<void> {
  if (process.env.KSER_WASM_LAYOUT === "off") return;
  try {
    enableWasmLayout(await compileLayout(sharedHeap));
  } catch (err) {
    process.stderr.write(`wasm layout kernel not used (${(err as Error).message}); JS loops instead\n`);
  }
}

function describeWasmKernels(): string {
  const layout = process.env.KSER_NO_LAYOUT_FIXES === "1" ? "tfjs's own" : wasmLayoutStatus().module ? "kser wasm kernel" : "JS loops";
  const memory = wasmHeapOf(tf.backend())?.memory;
  const heap = memory && isSharedMemory(memory) ? "shared (threaded build, one tfjs thread)" : "plain build";
  return `heap: ${heap}; matrix products: ${describeWasmGemm()}; AdamW: ${enabledWasmAdamW() ? "kser wasm kernel" : "JS loop"}; copies, transposes, gathers, slices and sums: ${layout}`;
}

/**
 * Threads for large products: KSER_WASM_THREADS when set (1 = this thread only), else one per physical core this
 * process may use, up to 4: the usable logical CPUs divided by the hardware threads per core (cpu-topology.ts), or
 * by 2 where the topology cannot be read (cloud vCPUs are often one core's two hardware threads, which share its
 * vector units). On the 2-core development VM (no SMT) two threads gave the reference step 1.2-1.3x the examples
 * per wall second, for ~1.2x the CPU per example (docs/models.md).
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

async function tryWasm(): Promise<string | null> {
  try {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    const dist = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm"));
    wasm.setWasmPaths(`${dist}${path.sep}`);
    registerSegmentSumFix("wasm");
    // Before the matMul fix: its explicit transposes then use the fast Transpose.
    if (process.env.KSER_NO_LAYOUT_FIXES !== "1") registerLayoutFixes();
    registerBatchMatMulFix();
    registerGatherFix();
    if (process.env.KSER_COPY_IDENTITY !== "1") registerIdentityFix();
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

async function useCpu(): Promise<string> {
  await import("@tensorflow/tfjs-backend-cpu");
  registerSegmentSumFix("cpu");
  if (!(await tf.setBackend("cpu"))) throw new Error("could not initialise even the cpu backend of TensorFlow.js");
  return "cpu";
}

async function pick(preferred: BackendPreference): Promise<string> {
  const order: Array<() => Promise<string | null>> =
    preferred === "cpu"
      ? []
      : preferred === "wasm"
        ? [tryWasm]
        : preferred === "webgpu"
          ? [tryWebgpu, tryWasm]
          : preferred === "tensorflow"
            ? [tryTensorflow, tryWasm]
            : [tryTensorflow, ...(hasGpuDriverLoader() ? [tryWebgpu] : []), tryWasm];
  for (const attempt of order) {
    const name = await attempt();
    if (name) return name;
  }
  return useCpu();
}

export function initBackend(
  preferred: BackendPreference = "auto",
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
): Promise<{ name: string }> {
  if (!chosen) {
    chosen = registerGradients()
      .then(() => pick(preferred))
      .then((name) => {
        const asked = preferred !== "auto" && preferred !== name ? ` (asked for ${preferred})` : "";
        log(`tfjs backend: ${name}${asked}${name === "wasm" ? `; ${describeWasmKernels()}` : ""}`);
        return { name };
      });
  }
  return chosen;
}
