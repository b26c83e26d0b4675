/**
 * An f32 matrix product for the tfjs wasm backend's heap, in WebAssembly we write as text and
 * assemble at start-up with wabt.
 *
 * Why: tfjs-wasm's XNNPACK build predates relaxed SIMD, so its GEMM multiplies and adds separately, every gradient
 * product first transposes an operand, and batched products run in a scalar loop. This kernel uses
 * `f32x4.relaxed_madd` (one fused multiply-add where the CPU has FMA) and reads either operand through row and
 * column strides, so a transposed operand costs nothing extra; batched products (the KSER chunk products) run
 * through the same tiles. Where relaxed SIMD cannot be enabled it is built with a separate multiply and add.
 * Timings: docs/accelerators.md.
 *
 * Large products can be shared with helper threads (threads.ts): tfjs-wasm itself runs on one thread in Node.
 *
 * Layout: B is packed into panels of 8 columns ([ceil(N/8)][K][8], zero-padded) so a 4 x 8 tile of C lives in
 * eight v128 accumulators while K is swept; A's rows are packed four side by side ([K][4] per tile) so one pointer
 * with constant offsets reaches all four (a transposed A with few panels is read in place, already side by side).
 * Reading each row through its own pointer, and keeping the accumulators live across the store calls, made V8 spill
 * them inside the sweep.
 */

import { isSharedMemory } from "../../wasm/heap.ts";
import { assembleWat, heapImport, relaxedSimdModule } from "../../wasm/wat.ts";
import { BATCHED_WAT, GEMM_WAT, ROWS_WAT } from "./drive.ts";
import { PACK_A_WAT, PACK_B_WAT, TRANSPOSE_STEPS_WAT } from "./pack.ts";
import { batchedArgs, type GemmJob, GemmThreads, type GemmWorkLayout, placeWork, splitGemm } from "./threads.ts";
import { PANEL, rowWat, STORE_WAT, TILE_OUT_BYTES, TILE_ROWS, tileWat } from "./tile.ts";

export interface GemmArgs {
  /** Products computed one after another (C is [batch, m, n]); strides between them in elements, 0 to share one. */
  batch?: number;
  aBatchStride?: number;
  bBatchStride?: number;
  m: number;
  n: number;
  k: number;
  /** Byte offset of A and its strides in elements: A[i][p] is at a + 4 * (i * aRowStride + p * aColStride). */
  a: number;
  aRowStride: number;
  aColStride: number;
  b: number;
  bRowStride: number;
  bColStride: number;
  /** Byte offset of C and its element strides (default row-major [m, n]; 1 and m write C's transpose). */
  c: number;
  cRowStride?: number;
  cColStride?: number;
  /** Byte offset of a bias of n floats added to every row, or null. */
  bias: number | null;
  relu: boolean;
}

export interface WasmGemm {
  /** True when the products use fused multiply-add (relaxed SIMD available). */
  readonly fusedMultiplyAdd: boolean;
  /** Threads that share large products: this one plus its helpers. */
  readonly threads: number;
  /** Pieces of products the helper threads have computed (diagnostics, tests). */
  readonly helperPieces: number;
  /** True when the heap is shared memory and the helpers work on it in place (no operand copies). */
  readonly sharedHeap: boolean;
  /** Stops the helper threads (they also end with the process); later products run on this thread. */
  close(): void;
  /** C = op(A) op(B) (+ bias) (then relu) for each of `batch` products, all operands on the heap of `memory`. */
  matMul(args: GemmArgs): void;
}

/** The module text; `shared` imports shared memory (a shared tfjs heap, or a helper thread's own, threads.ts). */
function moduleWat(fused: boolean, shared: boolean): string {
  const functions = [
    STORE_WAT,
    tileWat(fused),
    rowWat(fused),
    TRANSPOSE_STEPS_WAT,
    PACK_A_WAT,
    PACK_B_WAT,
    GEMM_WAT,
    ROWS_WAT,
    BATCHED_WAT,
  ];
  return `(module\n  ${heapImport(shared)}\n  ${functions.join("\n\n  ")}\n)`;
}

/** Assembles one variant of the module. */
function assemble(fused: boolean, shared = false): Promise<Uint8Array> {
  return assembleWat(`kser-gemm-${fused ? "fma" : "plain"}${shared ? "-shared" : ""}.wat`, moduleWat(fused, shared));
}

/** Bytes of A per row block (see $gemm): a block of packed rows that stays in the L2 cache while B's panels pass. */
const ROW_BLOCK_BYTES = 262_144;

export interface GemmModules {
  fusedMultiplyAdd: boolean;
  module: WebAssembly.Module;
  /** The same kernel on shared memory, for helper threads; null where shared memory is not available. */
  sharedModule: WebAssembly.Module | null;
}

/** Compiles the kernel module; `allowFused: false` forces the separate multiply and add (for comparison). */
export async function compileGemm(allowFused = true): Promise<GemmModules> {
  const fusedModule = allowFused ? relaxedSimdModule(await assemble(true)) : null;
  const fused = fusedModule !== null;
  const module = fusedModule ?? new WebAssembly.Module(await assemble(false));
  const sharedModule = typeof SharedArrayBuffer === "function" ? new WebAssembly.Module(await assemble(fused, true)) : null;
  return { fusedMultiplyAdd: fused, module, sharedModule };
}

type GemmExports = {
  setScratch(at: number): void;
  batched(...args: number[]): void;
};

/** Row blocks per thread when threads claim the rows of one product (shareRows). */
const ROW_CLAIMS_PER_THREAD = 4;

/** Products smaller than this stay on one thread: copying operands to a helper and back is not paid back. */
const MIN_THREADED_MULTIPLY_ADDS = 1 << 20;

/** The kernel's working memory for row blocks of `rowBlockBytes` of A (what a helper thread must set aside too). */
export function gemmWorkLayout(rowBlockBytes = ROW_BLOCK_BYTES): GemmWorkLayout {
  // Rows per block: a multiple of the tile's rows, at least one tile.
  const rowBlockFor = (k: number) => Math.max(TILE_ROWS, Math.floor(rowBlockBytes / (4 * k) / TILE_ROWS) * TILE_ROWS);
  return {
    panel: PANEL,
    scratchBytes: TILE_OUT_BYTES,
    rowBlockFor,
    // The full tiles of one row block, packed by $packA.
    packedABytesFor: (m, k, rowBlock = rowBlockFor(k)) => 4 * k * Math.floor(Math.min(m, rowBlock) / TILE_ROWS) * TILE_ROWS,
  };
}

/** The kernel's job for `args` (defaults filled in), after checking its sizes. */
function gemmJob({
  batch = 1,
  aBatchStride = 0,
  bBatchStride = 0,
  m,
  n,
  k,
  a,
  aRowStride,
  aColStride,
  b,
  bRowStride,
  bColStride,
  c,
  cRowStride = n,
  cColStride = 1,
  bias,
  relu,
}: GemmArgs): GemmJob {
  if (m <= 0 || n <= 0 || k <= 0 || batch <= 0) throw new Error(`wasm GEMM needs positive sizes, got batch=${batch} m=${m} n=${n} k=${k}`);
  return {
    batch,
    m,
    n,
    k,
    a,
    aBatch: aBatchStride,
    aRow: aRowStride,
    aCol: aColStride,
    b,
    bBatch: bBatchStride,
    bRow: bRowStride,
    bCol: bColStride,
    c,
    cRow: cRowStride,
    cCol: cColStride,
    bias: bias ?? 0,
    relu,
    rowBlock: 0,
    counter: 0,
  };
}

/**
 * Instantiates the kernel on `memory` (the tfjs wasm heap). `malloc` / `free` are the heap's own allocator, for the
 * packed B panel and the padded bias of each call; `rowBlockBytes` sizes the row blocks of A (tests make it small);
 * `helperThreads` starts that many helper threads (threads.ts) that take pieces of large products; if they
 * cannot start, the kernel says so and runs on the calling thread alone.
 */
export function instantiateGemm(
  compiled: GemmModules,
  memory: WebAssembly.Memory,
  malloc: (bytes: number) => number,
  free: (at: number) => void,
  { rowBlockBytes = ROW_BLOCK_BYTES, helperThreads = 0 }: { rowBlockBytes?: number; helperThreads?: number } = {},
): WasmGemm {
  const layout = gemmWorkLayout(rowBlockBytes);
  const heap = { memory, malloc, free };
  const { rowBlockFor } = layout;
  // A shared heap (tfjs's threaded build) needs the shared-memory kernel, and its helpers work on it directly.
  const sharedHeap = isSharedMemory(memory);
  if (sharedHeap && !compiled.sharedModule) throw new Error("wasm GEMM: the heap is shared memory, and no shared-memory kernel was built");
  const module = sharedHeap ? compiled.sharedModule! : compiled.module;
  const kernel = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as GemmExports;
  const scratch = malloc(TILE_OUT_BYTES) >>> 0;
  kernel.setScratch(scratch);
  let helpers: GemmThreads | null = null;
  if (helperThreads > 0 && compiled.sharedModule) {
    try {
      helpers = new GemmThreads(compiled.sharedModule, helperThreads, layout, sharedHeap ? heap : null);
    } catch (err) {
      process.stderr.write(`wasm GEMM runs on one thread: ${(err as Error).message}\n`);
    }
  }

  let helperPieces = 0;
  // On a shared heap the threads of one product claim its row blocks from this word (see $gemm).
  const rowCounter = sharedHeap && helperThreads > 0 ? malloc(16) >>> 0 : 0;

  /**
   * One product for every thread, each claiming blocks of rows as it goes: a thread that starts late or is
   * descheduled takes fewer (with rows split in fixed halves, the caller waits for a late helper). Blocks: about
   * ROW_CLAIMS_PER_THREAD per thread, whole tiles, no larger than the cache blocking's.
   */
  const shareRows = (job: GemmJob, threads: number): GemmJob[] => {
    Atomics.store(new Int32Array(memory.buffer), rowCounter / 4, 0);
    const even = Math.floor(job.m / (ROW_CLAIMS_PER_THREAD * threads) / TILE_ROWS) * TILE_ROWS;
    const rowBlock = Math.min(rowBlockFor(job.k), Math.max(TILE_ROWS, even));
    return Array.from({ length: threads }, () => ({ ...job, rowBlock, counter: rowCounter }));
  };

  /** One piece on this thread, on the tfjs heap. */
  const runHere = (job: GemmJob) => {
    const at = placeWork(heap, job, layout);
    if (!at) throw new Error(`wasm GEMM: the heap has no room for the packed operands of a ${job.m} x ${job.k} x ${job.n} product`);
    try {
      kernel.batched(...batchedArgs(job, at, layout));
    } finally {
      free(at.work);
    }
  };

  return {
    fusedMultiplyAdd: compiled.fusedMultiplyAdd,
    get threads() {
      return 1 + (helpers?.count ?? 0);
    },
    get helperPieces() {
      return helperPieces;
    },
    sharedHeap,
    close() {
      helpers?.close();
      helpers = null;
    },
    matMul(args) {
      const job = gemmJob(args);
      const { batch, m, n, k } = job;
      const large = batch * m * n * k >= MIN_THREADED_MULTIPLY_ADDS;
      const threads = 1 + (helpers?.count ?? 0);
      const [own, ...others] =
        helpers && large && rowCounter && batch === 1 && m >= 2 * threads * TILE_ROWS
          ? shareRows(job, threads)
          : helpers && large
            ? splitGemm(job, threads, TILE_ROWS)
            : [job];
      // Helpers first, so they run while this thread computes its own piece; a piece too big for a helper runs here.
      // Every helper that started is waited for, whatever fails, before its memory is used again.
      const started: boolean[] = [];
      try {
        for (const [h, piece] of others.entries()) started.push(helpers!.start(h, piece, memory));
        helperPieces += started.filter(Boolean).length;
        runHere(own);
        others.forEach((piece, h) => {
          if (!started[h]) runHere(piece);
        });
      } finally {
        started.forEach((running, h) => {
          if (running) helpers!.finish(h, memory);
        });
      }
    },
  };
}
