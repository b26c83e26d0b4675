/**
 * Helper threads for the wasm GEMM kernel. tfjs-wasm runs on one thread in Node. Each helper is a worker thread with
 * an instance of the same kernel (assembled with a shared-memory import). For a large product the caller hands a
 * helper a piece of it (some rows of C, or some of a batch's products), which it computes while the calling thread
 * computes its own piece. Where the tfjs heap is shared memory (tfjs's threaded build, wasm/shared-heap.ts) the helpers
 * work on it directly: only their packed operands are allocated there, and the threads of one product claim its
 * blocks of rows from a shared counter as they go (gemm.ts, shareRows). Otherwise each helper has a shared memory of
 * its own, its operands are copied into it and its part of C copied back.
 * Every element of C is computed by the same code in the same order whichever thread runs it, so results do not
 * depend on the thread count (tested).
 *
 * Hand-off is two Atomics words per helper (a job flag the helper waits on, a done flag the caller waits on): a
 * round trip costs a small fraction of a product large enough to share (MIN_THREADED_MULTIPLY_ADDS, gemm.ts).
 */
import { Worker } from "node:worker_threads";
import type { WasmHeap } from "../../wasm/heap.ts";

/** The kernel's work areas: its scratch, B's panel width, rows of A per block, bytes of one block's packed rows of A. */
export interface GemmWorkLayout {
  panel: number;
  /** Bytes of the kernel's scratch (`setScratch`). */
  scratchBytes: number;
  rowBlockFor(k: number): number;
  packedABytesFor(m: number, k: number, rowBlock?: number): number;
}

/** One call of the kernel's `batched` export: offsets in bytes, strides in elements, bias 0 for none. */
export interface GemmJob {
  batch: number;
  m: number;
  n: number;
  k: number;
  a: number;
  aBatch: number;
  aRow: number;
  aCol: number;
  b: number;
  bBatch: number;
  bRow: number;
  bCol: number;
  c: number;
  cRow: number;
  cCol: number;
  bias: number;
  relu: boolean;
  /** Rows of A per block; 0: the layout's choice for k. */
  rowBlock: number;
  /** Byte offset of the shared i32 the row blocks are claimed from (threads sharing one product); 0: none. */
  counter: number;
}

const PAGE_BYTES = 65_536;
/** A helper's memory may grow to 1 GiB; larger pieces stay on the calling thread. */
const MAX_PAGES = 16_384;
/**
 * Control words: the number of the latest job (-1: exit), the number of the last job done, failed, ready, then the
 * 21 arguments of `batched`. Jobs are numbered, and each side waits until the other's word holds the number it
 * expects, not merely until it is woken: a thread descheduled between its store and its notify may wake the other
 * side one job later (a loaded machine did that: the caller copied a C the helper had not written yet).
 */
const JOB = 0;
const DONE = 1;
const FAILED = 2;
const READY = 3;
const ARGS = 4;
const ARG_COUNT = 21;
const EXIT = -1;
/** How long the caller waits for a helper before giving up (a helper that died never answers). */
const WAIT_MS = 30_000;

/** The helper's code: CommonJS, run with `eval` so it needs no file of its own next to compiled or bundled code. */
const HELPER_SOURCE = `
const { workerData } = require("node:worker_threads");
const ctl = new Int32Array(workerData.control);
let kernel = null;
try {
  kernel = new WebAssembly.Instance(workerData.module, { env: { memory: workerData.memory } }).exports;
  kernel.setScratch(workerData.scratch);
  Atomics.store(ctl, ${READY}, 1);
} catch {
  Atomics.store(ctl, ${READY}, -1);
}
Atomics.notify(ctl, ${READY});
let last = 0;
while (kernel) {
  let job;
  while ((job = Atomics.load(ctl, ${JOB})) === last) Atomics.wait(ctl, ${JOB}, last);
  if (job === ${EXIT}) break;
  last = job;
  let failed = 0;
  try {
    kernel.batched(...ctl.subarray(${ARGS}, ${ARGS + ARG_COUNT}));
  } catch {
    failed = 1;
  }
  Atomics.store(ctl, ${FAILED}, failed);
  Atomics.store(ctl, ${DONE}, job);
  Atomics.notify(ctl, ${DONE});
}
`;

/** Where a piece's packed operands are: B's packed panels, the bias padded to whole panels, one row block's packed A. */
export interface GemmWork {
  work: number;
  bias: number;
  packedA: number;
}

/** The arguments of the kernel's `batched` for `job`, its packed operands at `at` (bias read only when it has one). */
export function batchedArgs(job: GemmJob, at: GemmWork, layout: GemmWorkLayout): number[] {
  const flags = (job.bias ? 1 : 0) | (job.relu ? 2 : 0);
  const { batch, m, n, k, a, aBatch, aRow, aCol, b, bBatch, bRow, bCol, c, cRow, cCol } = job;
  const rowBlock = job.rowBlock || layout.rowBlockFor(k);
  return [
    batch,
    m,
    n,
    k,
    a,
    aBatch,
    aRow,
    aCol,
    b,
    bBatch,
    bRow,
    bCol,
    c,
    cRow,
    cCol,
    at.work,
    at.bias,
    flags,
    rowBlock,
    at.packedA,
    job.counter,
  ];
}

/**
 * Allocates a piece's packed operands on `heap` (null when it has no room) and copies its bias there, padded with
 * zeros so that the last panel's vector loads stay inside it. Free `work` when the piece is done.
 */
export function placeWork(heap: WasmHeap, job: GemmJob, layout: GemmWorkLayout): GemmWork | null {
  const { m, n, k } = job;
  const paddedN = Math.ceil(n / layout.panel) * layout.panel;
  const work = heap.malloc(4 * k * paddedN + 4 * paddedN + layout.packedABytesFor(m, k, job.rowBlock || undefined));
  if (work === 0) return null;
  const bias = work + 4 * k * paddedN;
  if (job.bias) {
    const floats = new Float32Array(heap.memory.buffer);
    floats.copyWithin(bias / 4, job.bias / 4, job.bias / 4 + n);
    floats.fill(0, bias / 4 + n, bias / 4 + paddedN);
  }
  return { work, bias, packedA: bias + 4 * paddedN };
}

/** Elements spanned by a strided block: 1 + sum of (count - 1) * stride. */
const span = (dims: [number, number][]) => 1 + dims.reduce((s, [count, stride]) => s + (count - 1) * stride, 0);
const align16 = (bytes: number) => Math.ceil(bytes / 16) * 16;

interface Helper {
  worker: Worker;
  /** The helper's own memory; null when it works on the shared heap. */
  memory: WebAssembly.Memory | null;
  /** Its kernel scratch on the shared heap (freed on close), else 0. */
  scratch: number;
  control: Int32Array;
  /**
   * The running piece, its job number, where its C is in the helper's own memory (copied back when it is done) or,
   * on the shared heap, its packed operands (freed when it is done).
   */
  running: { job: GemmJob; number: number; c: number; work: number } | null;
  /** The number of the helper's latest job (1, 2, ... wrapping before 2^31). */
  jobs: number;
}

export class GemmThreads {
  private readonly helpers: Helper[] = [];

  /**
   * Starts `count` helpers on `sharedModule` (the kernel assembled for shared memory) and waits until each has
   * instantiated it; throws (after stopping them) when one cannot. `sharedHeap`: the tfjs heap when it is shared
   * memory, which the helpers then work on.
   */
  constructor(
    sharedModule: WebAssembly.Module,
    count: number,
    private readonly layout: GemmWorkLayout,
    private readonly sharedHeap: WasmHeap | null = null,
  ) {
    try {
      for (let h = 0; h < count; h++) {
        const memory = sharedHeap ? null : new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
        const scratch = sharedHeap ? sharedHeap.malloc(layout.scratchBytes) : 0;
        if (sharedHeap && scratch === 0) throw new Error("the heap has no room for a GEMM helper's scratch");
        const control = new Int32Array(new SharedArrayBuffer(4 * (ARGS + ARG_COUNT)));
        const worker = new Worker(HELPER_SOURCE, {
          eval: true,
          workerData: { module: sharedModule, memory: memory ?? sharedHeap!.memory, scratch, control: control.buffer },
        });
        // Helpers never keep the process alive; they end with it.
        worker.unref();
        this.helpers.push({ worker, memory, scratch, control, running: null, jobs: 0 });
      }
      for (const [h, helper] of this.helpers.entries()) {
        Atomics.wait(helper.control, READY, 0, WAIT_MS);
        if (Atomics.load(helper.control, READY) !== 1) throw new Error(`GEMM helper thread ${h} could not instantiate the kernel`);
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  get count(): number {
    return this.helpers.length;
  }

  /**
   * Starts helper h on `job`: on the shared heap, with its packed operands allocated there; else with what `job`
   * reads from `heap` (A, B and the bias, at the same strides) copied into the helper's memory. Returns false,
   * starting nothing, when the piece does not fit (in the helper's memory, or the heap has no room).
   */
  start(h: number, job: GemmJob, heap: WebAssembly.Memory): boolean {
    const helper = this.helpers[h];
    if (!helper.memory) return this.startOnSharedHeap(helper, job);
    const { batch, m, n, k } = job;
    const aSpan = span([
      [batch, job.aBatch],
      [m, job.aRow],
      [k, job.aCol],
    ]);
    const bSpan = span([
      [batch, job.bBatch],
      [k, job.bRow],
      [n, job.bCol],
    ]);
    const cSpan = span([
      [batch, m * n],
      [m, job.cRow],
      [n, job.cCol],
    ]);
    const paddedN = Math.ceil(n / this.layout.panel) * this.layout.panel;
    // Layout: the kernel's scratch at 0, then A, B, C, the padded bias, the packed panels of B, packed rows of A.
    const a = align16(this.layout.scratchBytes);
    const b = align16(a + 4 * aSpan);
    const c = align16(b + 4 * bSpan);
    const bias = align16(c + 4 * cSpan);
    const work = align16(bias + 4 * paddedN);
    const packedA = align16(work + 4 * k * paddedN);
    const end = packedA + this.layout.packedABytesFor(m, k, job.rowBlock || undefined);
    const pages = Math.ceil(end / PAGE_BYTES);
    if (pages > MAX_PAGES) return false;
    const have = helper.memory.buffer.byteLength / PAGE_BYTES;
    if (pages > have) helper.memory.grow(pages - have);
    const from = new Float32Array(heap.buffer);
    const to = new Float32Array(helper.memory.buffer);
    to.set(from.subarray(job.a / 4, job.a / 4 + aSpan), a / 4);
    to.set(from.subarray(job.b / 4, job.b / 4 + bSpan), b / 4);
    if (job.bias) {
      to.set(from.subarray(job.bias / 4, job.bias / 4 + n), bias / 4);
      to.fill(0, bias / 4 + n, bias / 4 + paddedN);
    }
    const args = batchedArgs({ ...job, a, b, c, counter: 0 }, { work, bias, packedA }, this.layout);
    this.run(helper, args, { job, c, work: 0 });
    return true;
  }

  /** Starts a helper on the shared heap: its packed B, padded bias and packed rows of A are allocated there. */
  private startOnSharedHeap(helper: Helper, job: GemmJob): boolean {
    const at = placeWork(this.sharedHeap!, job, this.layout);
    if (!at) return false;
    this.run(helper, batchedArgs(job, at, this.layout), { job, c: job.c, work: at.work });
    return true;
  }

  /** Hands the kernel's arguments to the helper and wakes it; `running` says what to do when it is done. */
  private run(helper: Helper, args: number[], running: { job: GemmJob; c: number; work: number }): void {
    helper.control.set(args, ARGS);
    const number = helper.jobs === 0x7fffffff ? 1 : helper.jobs + 1;
    helper.jobs = number;
    Atomics.store(helper.control, JOB, number);
    Atomics.notify(helper.control, JOB);
    helper.running = { ...running, number };
  }

  /** Waits for helper h's piece; copies its part of C into `heap`, or on the shared heap frees its packed operands. */
  finish(h: number, heap: WebAssembly.Memory): void {
    const helper = this.helpers[h];
    const running = helper.running;
    if (!running) return;
    helper.running = null;
    const deadline = Date.now() + WAIT_MS;
    for (let done = Atomics.load(helper.control, DONE); done !== running.number; done = Atomics.load(helper.control, DONE)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`GEMM helper thread ${h} did not finish a product within ${WAIT_MS / 1000} s`);
      Atomics.wait(helper.control, DONE, done, left);
    }
    if (running.work) this.sharedHeap!.free(running.work);
    if (Atomics.load(helper.control, FAILED)) throw new Error(`GEMM helper thread ${h} failed inside the kernel`);
    if (!helper.memory) return;
    const { job, c } = running;
    const from = new Float32Array(helper.memory.buffer);
    const to = new Float32Array(heap.buffer);
    const copy = (offset: number, count: number) => to.set(from.subarray(c / 4 + offset, c / 4 + offset + count), job.c / 4 + offset);
    const { batch, m, n } = job;
    // Each product of C is m x n, row-major (cCol 1) or transposed (cRow 1), products one after another; a piece
    // of rows of one product is a block of a larger C.
    if ((job.cCol === 1 && job.cRow === n) || (job.cRow === 1 && job.cCol === m)) copy(0, batch * m * n);
    else if (batch === 1 && job.cRow === 1) for (let j = 0; j < n; j++) copy(j * job.cCol, m);
    else if (batch === 1 && job.cCol === 1) for (let i = 0; i < m; i++) copy(i * job.cRow, n);
    else throw new Error(`GEMM helper: unsupported output strides ${job.cRow}, ${job.cCol}`);
  }

  /** Stops the helpers (they also end with the process). */
  close(): void {
    for (const helper of this.helpers) {
      Atomics.store(helper.control, JOB, EXIT);
      Atomics.notify(helper.control, JOB);
      void helper.worker.terminate();
      // A helper that is still running can only be one whose product failed; its scratch is left to it.
      if (helper.scratch && !helper.running) this.sharedHeap!.free(helper.scratch);
    }
    this.helpers.length = 0;
  }
}

/**
 * Splits `job` into at most `parts` pieces that together compute it: whole products of a batch, or, for one
 * product, runs of rows (multiples of `tileRows`, at least two tiles each). Fewer pieces when it is too small.
 */
export function splitGemm(job: GemmJob, parts: number, tileRows: number): GemmJob[] {
  if (parts <= 1) return [job];
  if (job.batch >= parts) {
    const pieces: GemmJob[] = [];
    const per = Math.ceil(job.batch / parts);
    for (let q = 0; q < job.batch; q += per) {
      const count = Math.min(per, job.batch - q);
      pieces.push({
        ...job,
        batch: count,
        a: job.a + 4 * q * job.aBatch,
        b: job.b + 4 * q * job.bBatch,
        c: job.c + 4 * q * job.m * job.n,
      });
    }
    return pieces;
  }
  if (job.batch !== 1) return [job];
  const tiles = Math.floor(job.m / tileRows);
  const usable = Math.min(parts, Math.floor(tiles / 2));
  if (usable <= 1) return [job];
  const rowsPer = Math.ceil(tiles / usable) * tileRows;
  const pieces: GemmJob[] = [];
  // The last piece also takes the rows after the last whole tile.
  for (let r = 0; r < job.m; r += rowsPer) {
    const rows = job.m - r - rowsPer < tileRows ? job.m - r : rowsPer;
    pieces.push({ ...job, m: rows, a: job.a + 4 * r * job.aRow, c: job.c + 4 * r * job.cRow });
    if (rows !== rowsPer) break;
  }
  return pieces;
}
