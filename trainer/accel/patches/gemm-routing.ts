/**
 * Routes the wasm backend's float matrix products (BatchMatMul, and _FusedMatMul with bias + linear / relu) to our
 * own kernel (kernels/gemm/gemm.ts): single and batched (equal batch axes or one side shared), either operand transposed.
 * The rest keeps the kernel that was registered before: tiny products, other activations, batch axes broadcast both
 * ways, single products with fewer than 8 rows in the kernel's orientation. Register after the other kernel patches
 * and before tf.setBackend("wasm").
 */
import * as tf from "@tensorflow/tfjs-core";
import { type GemmModules, instantiateGemm, type WasmGemm } from "../kernels/gemm/gemm.ts";
import { type WasmBackend, wasmHeapOf } from "../wasm/heap.ts";

const REGISTERED = Symbol.for("kser.wasmGemm");

/** Below this the original kernels are as fast: the packing and call overhead of a few microseconds is not paid back. */
const MIN_MULTIPLY_ADDS = 32_768;
const MIN_SINGLE_PRODUCT_ROWS = 8;

let compiledKernel: GemmModules | null = null;
/** Threads per product asked for at registration (this one plus helpers). */
let requestedThreads = 1;
/** Products computed by our kernel in this process (diagnostics and tests). */
let productsComputed = 0;
const perBackend = new WeakMap<tf.KernelBackend, WasmGemm | null>();

/** The kernel on this backend's heap; null (once warned) where the heap is not reachable, e.g. another tfjs build. */
function gemmFor(backend: WasmBackend): WasmGemm | null {
  if (perBackend.has(backend)) return perBackend.get(backend) ?? null;
  if (!compiledKernel) throw new Error("the wasm GEMM kernels were registered without a compiled module");
  const heap = wasmHeapOf(backend);
  if (!heap) {
    process.stderr.write("wasm GEMM kernel not used: this tfjs-wasm build does not expose its heap; tfjs's own matrix products instead\n");
    perBackend.set(backend, null);
    return null;
  }
  const gemm = instantiateGemm(compiledKernel, heap.memory, heap.malloc, heap.free, { helperThreads: requestedThreads - 1 });
  perBackend.set(backend, gemm);
  return gemm;
}

const sizeOf = (shape: number[]) => shape.reduce((a, c) => a * c, 1);

/** Where one operand's matrices are, for the kernel: element strides within a matrix and between matrices. */
interface Operand {
  at: number;
  rowStride: number;
  colStride: number;
  batchStride: number;
}

const sizeSuits = (multiplyAdds: number) => multiplyAdds >= MIN_MULTIPLY_ADDS;
// One product with a handful of rows packs all of B for a single tile: tfjs's kernel is faster there.
const rowsSuit = (batch: number, kernelRows: number) => batch > 1 || kernelRows >= MIN_SINGLE_PRODUCT_ROWS;

/**
 * Whether our kernel computes x W + b for x [m, k] and W [k, n] (else tfjs's does, which adds the bias first and so
 * rounds differently): whether the product is large enough, once the kernels are registered on the active backend.
 */
export function gemmTakesDense(m: number, k: number, n: number): boolean {
  return sizeSuits(m * n * k) && rowsSuit(1, m);
}

/**
 * The product of `a` and `b` (last two axes, optional transposes, batch axes equal or one side shared) when it suits
 * the kernel, else null.
 */
function product(
  backend: WasmBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  bias: tf.TensorInfo | null,
  relu: boolean,
): tf.TensorInfo | null {
  if (a.dtype !== "float32" || b.dtype !== "float32" || a.shape.length < 2 || b.shape.length < 2) return null;
  const ar = a.shape.length;
  const br = b.shape.length;
  const leadA = a.shape.slice(0, -2);
  const leadB = b.shape.slice(0, -2);
  const countA = sizeOf(leadA);
  const countB = sizeOf(leadB);
  if (countA !== countB && countA !== 1 && countB !== 1) return null;
  if (countA === countB && countA > 1 && leadA.join() !== leadB.join()) return null;
  const batch = Math.max(countA, countB);
  const m = a.shape[ar - (transposeA ? 1 : 2)];
  const k = a.shape[ar - (transposeA ? 2 : 1)];
  const n = b.shape[br - (transposeB ? 2 : 1)];
  if (b.shape[br - (transposeB ? 1 : 2)] !== k || m === 0 || k === 0 || n === 0) return null;
  if (!sizeSuits(batch * m * n * k)) return null;
  if (bias && (bias.dtype !== "float32" || sizeOf(bias.shape) !== n || bias.shape.length !== 1)) return null;
  // Computing C^T = B^T A^T (written back transposed) instead pays off when A would be read down its columns (a
  // gradient's X^T: the kernel sweeps A once per 8 columns of C, so X^T's column reads miss the cache) and when C has
  // one column (C^T then has 8-wide panels, and the same layout). The bias is per column of C: not swapped.
  // A single product whose swap would leave the kernel under 8 rows (a layer with one output: its weight gradient
  // h^T dy, n = 1) is computed as it is: one panel of B sweeps A once, and tfjs's kernel would repack its fresh
  // operand as weights on every call.
  const swapWanted = !bias && ((transposeA && !transposeB) || (n === 1 && m > 1));
  const swap = swapWanted && (rowsSuit(batch, n) || !rowsSuit(batch, m));
  if (!rowsSuit(batch, swap ? n : m)) return null;
  const gemm = gemmFor(backend);
  if (!gemm) return null;
  const out = backend.makeOutput([...tf.backend_util.assertAndGetBroadcastShape(leadA, leadB), m, n], "float32");
  // Offsets after the output's allocation: the heap may have grown, but offsets never move.
  const left: Operand = {
    at: backend.getMemoryOffset(a.dataId),
    rowStride: transposeA ? 1 : k,
    colStride: transposeA ? m : 1,
    batchStride: countA === 1 ? 0 : m * k,
  };
  const right: Operand = {
    at: backend.getMemoryOffset(b.dataId),
    rowStride: transposeB ? 1 : n,
    colStride: transposeB ? k : 1,
    batchStride: countB === 1 ? 0 : k * n,
  };
  const c = backend.getMemoryOffset(out.dataId);
  const transposed = (x: Operand): Operand => ({ ...x, rowStride: x.colStride, colStride: x.rowStride });
  const [kernelA, kernelB] = swap ? [transposed(right), transposed(left)] : [left, right];
  gemm.matMul({
    batch,
    m: swap ? n : m,
    n: swap ? m : n,
    k,
    a: kernelA.at,
    aRowStride: kernelA.rowStride,
    aColStride: kernelA.colStride,
    aBatchStride: kernelA.batchStride,
    b: kernelB.at,
    bRowStride: kernelB.rowStride,
    bColStride: kernelB.colStride,
    bBatchStride: kernelB.batchStride,
    c,
    cRowStride: swap ? 1 : n,
    cColStride: swap ? n : 1,
    bias: bias ? backend.getMemoryOffset(bias.dataId) : null,
    relu,
  });
  productsComputed++;
  return out;
}

function wrap(
  kernelName: string,
  fast: (args: Parameters<tf.KernelFunc>[0] & { backend: WasmBackend }, fallback: tf.KernelFunc) => tf.TensorInfo | null,
): void {
  const previous = tf.getKernel(kernelName, "wasm") as (tf.KernelConfig & { [REGISTERED]?: boolean }) | undefined;
  if (!previous) throw new Error(`the wasm ${kernelName} kernel is not registered; import @tensorflow/tfjs-backend-wasm first`);
  if (previous[REGISTERED]) return;
  const fallback = previous.kernelFunc;
  tf.unregisterKernel(kernelName, "wasm");
  // The previous kernel's own markers (the batched matMul patch's) stay: it still runs, as the fallback.
  const markers = Object.fromEntries(
    Object.getOwnPropertySymbols(previous).map((key) => [key, (previous as unknown as Record<symbol, unknown>)[key]]),
  );
  tf.registerKernel(
    Object.assign(
      markers,
      {
        kernelName,
        backendName: "wasm",
        setupFunc: previous.setupFunc,
        disposeFunc: previous.disposeFunc,
        kernelFunc: (args: Parameters<tf.KernelFunc>[0]) =>
          fast(args as Parameters<tf.KernelFunc>[0] & { backend: WasmBackend }, fallback) ?? fallback(args),
      },
      { [REGISTERED]: true },
    ),
  );
}

/** `threads`: how many threads share a large product (1: this one only; helpers are started on first use). */
export function registerWasmGemmKernels(compiled: GemmModules, { threads = 1 }: { threads?: number } = {}): void {
  compiledKernel = compiled;
  requestedThreads = Math.max(1, Math.floor(threads));
  wrap(tf.BatchMatMul, ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as unknown as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    return product(backend, a, b, transposeA, transposeB, null, false);
  });
  wrap(tf._FusedMatMul, (args, fallback) => {
    const { inputs, backend, attrs } = args;
    const { a, b, bias, preluActivationWeights } = inputs as unknown as Record<string, tf.TensorInfo | undefined>;
    const { transposeA, transposeB, activation } = attrs as unknown as { transposeA: boolean; transposeB: boolean; activation: string };
    if (!a || !b) return null;
    const ours = !preluActivationWeights && (activation === "linear" || activation === "relu");
    const out = ours ? product(backend, a, b, transposeA, transposeB, bias ?? null, activation === "relu") : null;
    if (out || a.shape.length !== 2 || b.shape.length !== 2) return out;
    // tfjs's own kernel reads 3-D operands (fused.matMul reshapes them; fused-dense.ts does not): give it views.
    const as3d = (x: tf.TensorInfo): tf.TensorInfo => ({ ...x, shape: [1, ...x.shape] });
    const out3d = fallback({ ...args, inputs: { ...inputs, a: as3d(a), b: as3d(b) } }) as tf.TensorInfo;
    return { ...out3d, shape: out3d.shape.slice(1) };
  });
}

/**
 * Whether the products go through our kernel, whether it multiplies and adds in one instruction, and how many
 * threads share a large product (those running on the active backend once it has run one, else those asked for).
 */
export function wasmGemmStatus(): {
  registered: boolean;
  fusedMultiplyAdd: boolean;
  threads: number;
  productsComputed: number;
  /** Pieces of products helper threads computed on the active backend. */
  helperPieces: number;
  /** Whether the active backend's heap is shared memory that the helpers work on in place (once it has run one). */
  sharedHeap: boolean;
} {
  const k = tf.getKernel(tf.BatchMatMul, "wasm") as (tf.KernelConfig & { [REGISTERED]?: boolean }) | undefined;
  const registered = Boolean(k?.[REGISTERED]);
  const running = tf.getBackend() === "wasm" ? perBackend.get(tf.backend()) : undefined;
  return {
    registered,
    fusedMultiplyAdd: registered && Boolean(compiledKernel?.fusedMultiplyAdd),
    threads: registered ? (running?.threads ?? requestedThreads) : 1,
    productsComputed,
    helperPieces: running?.helperPieces ?? 0,
    sharedHeap: running?.sharedHeap ?? false,
  };
}
