/**
 * Picks and initialises the TensorFlow.js backend for training: tfjs-node-gpu / tfjs-node when installed (they
 * usually are not: their install needs a download), WebGPU when a real adapter exists, else wasm (SIMD) with our
 * kernel patches and kernels (wasm.ts), else cpu with the segment-sum patch. Idempotent: later calls return the
 * first choice.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { registerGradients } from "../patches/gradients.ts";
import { registerSegmentSumPatch } from "../patches/segment-sum.ts";
import { describeWasmKernels, tryWasm } from "./wasm.ts";

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

async function useCpu(): Promise<string> {
  await import("@tensorflow/tfjs-backend-cpu");
  registerSegmentSumPatch("cpu");
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
