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
 * Large products can be shared with helper threads (gemm-threads.ts): tfjs-wasm itself runs on one thread in Node.
 *
 * Layout: B is packed into panels of 8 columns ([ceil(N/8)][K][8], zero-padded) so a 4 x 8 tile of C lives in
 * eight v128 accumulators while K is swept; A's rows are packed four side by side ([K][4] per tile) so one pointer
 * with constant offsets reaches all four (a transposed A with few panels is read in place, already side by side).
 * Reading each row through its own pointer, and keeping the accumulators live across the store calls, made V8 spill
 * them inside the sweep.
 */

import { isSharedMemory } from "../wasm/heap.ts";
import { assembleWat, heapImport, relaxedSimdModule, transpose4x4 } from "../wasm/wat.ts";
import { batchedArgs, type GemmJob, GemmThreads, type GemmWorkLayout, placeWork, splitGemm } from "./gemm-threads.ts";

/**
 * Rows of C per tile: 4 x 8 keeps 8 accumulators, B's two vectors and the four broadcasts V8 hoists within the 15
 * vector registers it allocates on x64 (6 x 8 tiles spill).
 */
const TILE_ROWS = 4;
const PANEL = 8;
/** Products with at most this many columns read a transposed A in place instead of packing it ($rows). */
const IN_PLACE_MAX_COLUMNS = 64;
/** The kernel's scratch: one tile of C (`$tileOut`). */
const TILE_OUT_BYTES = 32 * TILE_ROWS;

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

const madd = (fused: boolean, a: string, b: string, c: string) =>
  fused ? `(f32x4.relaxed_madd ${a} ${b} ${c})` : `(f32x4.add (f32x4.mul ${a} ${b}) ${c})`;

/** Accumulator locals of an `rows` x 8 tile of C. */
const accumulatorLocals = (rows: number) => [...Array(rows).keys()].map((i) => `(local $acc${i}a v128) (local $acc${i}b v128)`).join(" ");

/** Multiply-adds of one K step into the tile's row `i`, from the f32 at `x` (an address expression). */
const rowMadds = (fused: boolean, i: number, x: string) => `(local.set $x (v128.load32_splat ${x}))
        (local.set $acc${i}a ${madd(fused, "(local.get $x)", "(local.get $b0)", `(local.get $acc${i}a)`)})
        (local.set $acc${i}b ${madd(fused, "(local.get $x)", "(local.get $b1)", `(local.get $acc${i}b)`)})`;

/** Parks the tile's `rows` finished rows at $tileOut, then adds bias / relu and stores them from $c on. */
const storeRows = (rows: number) => {
  const r = [...Array(rows).keys()];
  const park = r.map(
    (i) => `(v128.store offset=${32 * i} (global.get $tileOut) (local.get $acc${i}a))
      (v128.store offset=${32 * i + 16} (global.get $tileOut) (local.get $acc${i}b))`,
  );
  const store = r.map(
    (i) => `(call $store (i32.add (local.get $c) (i32.mul (i32.const ${i}) (local.get $cRow)))
        (i32.add (global.get $tileOut) (i32.const ${32 * i})) (local.get $bias) (local.get $flags) (local.get $cols) (local.get $cCol))`,
  );
  return [...park, ...store].join("\n");
};

/**
 * One TILE_ROWS x 8 tile of C: A's rows packed side by side ($packA, [k][TILE_ROWS]), so one pointer and constant
 * offsets reach every row; the sweep over K keeps the accumulators in registers. Each accumulator adds its products
 * in the order p = 0, 1, ..., k-1.
 */
function tileWat(fused: boolean): string {
  const rows = [...Array(TILE_ROWS).keys()];
  const zero = rows.map((i) => `(local.set $acc${i}a (v128.const i32x4 0 0 0 0)) (local.set $acc${i}b (v128.const i32x4 0 0 0 0))`);
  const step = rows.map((i) => rowMadds(fused, i, `offset=${4 * i} (local.get $a)`));
  // $a: the tile's packed rows; $panel: packed panel; $cols: columns of C left from this panel.
  return `(func $tile (param $a i32) (param $aStep i32) (param $panel i32) (param $k i32)
      (param $c i32) (param $cRow i32) (param $bias i32) (param $flags i32) (param $cols i32) (param $cCol i32)
      (local $x v128) (local $b0 v128) (local $b1 v128) ${accumulatorLocals(TILE_ROWS)}
    ${zero.join("\n")}
    (loop $sweep
      (local.set $b0 (v128.load (local.get $panel)))
      (local.set $b1 (v128.load offset=16 (local.get $panel)))
      ${step.join("\n")}
      (local.set $a (i32.add (local.get $a) (local.get $aStep)))
      (local.set $panel (i32.add (local.get $panel) (i32.const 32)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br_if $sweep (local.get $k)))
    ${storeRows(TILE_ROWS)})`;
}

/** One row of C (the m mod TILE_ROWS rows left over), A read in place through its column stride $aCol (bytes). */
function rowWat(fused: boolean): string {
  return `(func $row (param $a i32) (param $aCol i32) (param $panel i32) (param $k i32)
      (param $c i32) (param $bias i32) (param $flags i32) (param $cols i32) (param $cCol i32)
      (local $x v128) (local $b0 v128) (local $b1 v128) (local $cRow i32) ${accumulatorLocals(1)}
    (loop $sweep
      (local.set $b0 (v128.load (local.get $panel)))
      (local.set $b1 (v128.load offset=16 (local.get $panel)))
      ${rowMadds(fused, 0, "(local.get $a)")}
      (local.set $a (i32.add (local.get $a) (local.get $aCol)))
      (local.set $panel (i32.add (local.get $panel) (i32.const 32)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br_if $sweep (local.get $k)))
    ${storeRows(1)})`;
}

/** The module text; `shared` imports shared memory (a shared tfjs heap, or a helper thread's own, gemm-threads.ts). */
function moduleWat(fused: boolean, shared: boolean): string {
  return `(module
  ${heapImport(shared)}
  ;; 32 bytes per row of a tile: its accumulators are stored there when its sweep ends, so that no vector is live
  ;; across a call (V8 would otherwise keep spilling them to the stack inside the sweep).
  (global $tileOut (mut i32) (i32.const 0))
  (func (export "setScratch") (param $at i32) (global.set $tileOut (local.get $at)))

  ;; Takes 8 floats at $src, adds the bias (flags & 1), applies relu (flags & 2) and stores min(cols, 8) of them
  ;; from $dst on, $colStep bytes apart (4: a row of C; more: a column of C's transpose, one float at a time).
  (func $store (param $dst i32) (param $src i32) (param $bias i32) (param $flags i32) (param $cols i32)
      (param $colStep i32)
      (local $lo v128) (local $hi v128) (local $j i32)
    (local.set $lo (v128.load (local.get $src)))
    (local.set $hi (v128.load offset=16 (local.get $src)))
    (if (i32.and (local.get $flags) (i32.const 1)) (then
      (local.set $lo (f32x4.add (local.get $lo) (v128.load (local.get $bias))))
      (local.set $hi (f32x4.add (local.get $hi) (v128.load offset=16 (local.get $bias))))))
    (if (i32.and (local.get $flags) (i32.const 2)) (then
      (local.set $lo (f32x4.max (local.get $lo) (v128.const i32x4 0 0 0 0)))
      (local.set $hi (f32x4.max (local.get $hi) (v128.const i32x4 0 0 0 0)))))
    (if (i32.and (i32.ge_u (local.get $cols) (i32.const 8)) (i32.eq (local.get $colStep) (i32.const 4)))
      (then (v128.store (local.get $dst) (local.get $lo)) (v128.store offset=16 (local.get $dst) (local.get $hi)))
      (else
        (v128.store (local.get $src) (local.get $lo))
        (v128.store offset=16 (local.get $src) (local.get $hi))
        (if (i32.gt_u (local.get $cols) (i32.const 8)) (then (local.set $cols (i32.const 8))))
        (loop $copy
          (f32.store (i32.add (local.get $dst) (i32.mul (local.get $j) (local.get $colStep)))
            (f32.load (i32.add (local.get $src) (i32.shl (local.get $j) (i32.const 2)))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $copy (i32.lt_u (local.get $j) (local.get $cols)))))))

  ${tileWat(fused)}
  ${rowWat(fused)}

  ;; Transposes $blocks 4 x 4 blocks that run along K: lane l of step p is the float at $src + l * $laneStride + 4p
  ;; (steps adjacent); step p's four lanes are written as one vector at $dst + p * $dstStep.
  (func $transposeSteps (param $src i32) (param $laneStride i32) (param $blocks i32) (param $dst i32) (param $dstStep i32)
      (local $s1 i32) (local $s2 i32) (local $s3 i32) (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
      (local $lo01 v128) (local $lo23 v128) (local $hi01 v128) (local $hi23 v128)
    (if (i32.eqz (local.get $blocks)) (then (return)))
    (local.set $s1 (i32.add (local.get $src) (local.get $laneStride)))
    (local.set $s2 (i32.add (local.get $s1) (local.get $laneStride)))
    (local.set $s3 (i32.add (local.get $s2) (local.get $laneStride)))
    (loop $each
      (local.set $r0 (v128.load (local.get $src)))
      (local.set $r1 (v128.load (local.get $s1)))
      (local.set $r2 (v128.load (local.get $s2)))
      (local.set $r3 (v128.load (local.get $s3)))
      ${transpose4x4.pairs}
      ${transpose4x4.columns
        .map(
          (column) => `(v128.store (local.get $dst) ${column})
      (local.set $dst (i32.add (local.get $dst) (local.get $dstStep)))`,
        )
        .join("\n      ")}
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (local.set $s1 (i32.add (local.get $s1) (i32.const 16)))
      (local.set $s2 (i32.add (local.get $s2) (i32.const 16)))
      (local.set $s3 (i32.add (local.get $s3) (i32.const 16)))
      (local.set $blocks (i32.sub (local.get $blocks) (i32.const 1)))
      (br_if $each (local.get $blocks))))

  ;; Packs $tiles tiles of ${TILE_ROWS} rows of A (byte strides aRow / aCol) row-interleaved: [tiles][k][${TILE_ROWS}].
  ;; Adjacent rows are copied a vector per step, rows with adjacent steps are transposed four steps at a time; the
  ;; steps left (and any other strides) are copied one float at a time.
  (func $packA (param $a i32) (param $aRow i32) (param $aCol i32) (param $tiles i32) (param $k i32) (param $dst i32)
      (local $p i32) (local $src i32) (local $to i32)
    (if (local.get $tiles) (then (loop $eachTile
      (local.set $p (i32.const 0))
      (if (i32.eq (local.get $aRow) (i32.const 4))
        (then
          (local.set $src (local.get $a))
          (local.set $to (local.get $dst))
          (loop $vectors
            (v128.store (local.get $to) (v128.load (local.get $src)))
            (local.set $src (i32.add (local.get $src) (local.get $aCol)))
            (local.set $to (i32.add (local.get $to) (i32.const 16)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br_if $vectors (i32.lt_u (local.get $p) (local.get $k)))))
        (else (if (i32.eq (local.get $aCol) (i32.const 4)) (then
          (call $transposeSteps (local.get $a) (local.get $aRow) (i32.shr_u (local.get $k) (i32.const 2)) (local.get $dst) (i32.const 16))
          (local.set $p (i32.and (local.get $k) (i32.const -4)))))))
      (local.set $src (i32.add (local.get $a) (i32.mul (local.get $p) (local.get $aCol))))
      (local.set $to (i32.add (local.get $dst) (i32.shl (local.get $p) (i32.const 4))))
      (block $scalarDone (loop $scalar
        (br_if $scalarDone (i32.ge_u (local.get $p) (local.get $k)))
        ${[...Array(TILE_ROWS).keys()].map((i) => `(f32.store offset=${4 * i} (local.get $to) (f32.load (i32.add (local.get $src) (i32.mul (local.get $aRow) (i32.const ${i})))))`).join("\n        ")}
        (local.set $to (i32.add (local.get $to) (i32.const ${4 * TILE_ROWS})))
        (local.set $src (i32.add (local.get $src) (local.get $aCol)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $scalar)))
      (local.set $dst (i32.add (local.get $dst) (i32.mul (local.get $k) (i32.const ${4 * TILE_ROWS}))))
      (local.set $a (i32.add (local.get $a) (i32.mul (local.get $aRow) (i32.const ${TILE_ROWS}))))
      (local.set $tiles (i32.sub (local.get $tiles) (i32.const 1)))
      (br_if $eachTile (local.get $tiles))))))

  ;; Packs B (k x n, element strides rs / cs) into panels of 8 columns, zero-padded: [ceil(n/8)][k][8]. The full
  ;; panels of a row-major B are filled row by row, two vectors per panel; then per panel: adjacent steps (a
  ;; transposed B) are transposed four lanes and four steps at a time; whatever is left (the last steps, a partial
  ;; panel's lanes, other strides) is copied lane by lane, each lane a strided run along K.
  (func $pack (param $b i32) (param $rs i32) (param $cs i32) (param $k i32) (param $n i32) (param $dst i32)
      (local $j i32) (local $p i32) (local $q i32) (local $lanes i32) (local $src i32) (local $to i32)
      (local $transposedLanes i32) (local $transposedSteps i32)
    (local.set $rs (i32.shl (local.get $rs) (i32.const 2)))
    (local.set $cs (i32.shl (local.get $cs) (i32.const 2)))
    ;; Row-major B's full panels: row by row, each row's 8-float runs to every panel, so B is read once front to
    ;; back instead of once per panel down a column of runs (a long K then misses the cache).
    (if (i32.and (i32.eq (local.get $cs) (i32.const 4)) (i32.ge_u (local.get $n) (i32.const 8))) (then
      (local.set $lanes (i32.shr_u (local.get $n) (i32.const 3)))
      (local.set $transposedSteps (i32.shl (local.get $k) (i32.const 5)))
      (local.set $p (i32.const 0))
      (loop $packRows
        (local.set $src (i32.add (local.get $b) (i32.mul (local.get $p) (local.get $rs))))
        (local.set $to (i32.add (local.get $dst) (i32.shl (local.get $p) (i32.const 5))))
        (local.set $q (local.get $lanes))
        (loop $runs
          (v128.store (local.get $to) (v128.load (local.get $src)))
          (v128.store offset=16 (local.get $to) (v128.load offset=16 (local.get $src)))
          (local.set $src (i32.add (local.get $src) (i32.const 32)))
          (local.set $to (i32.add (local.get $to) (local.get $transposedSteps)))
          (local.set $q (i32.sub (local.get $q) (i32.const 1)))
          (br_if $runs (local.get $q)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br_if $packRows (i32.lt_u (local.get $p) (local.get $k))))
      (local.set $j (i32.shl (local.get $lanes) (i32.const 3)))
      (local.set $dst (i32.add (local.get $dst) (i32.mul (local.get $lanes) (local.get $transposedSteps))))))
    (block $done (loop $panels
      (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $lanes (select (i32.const 8) (i32.sub (local.get $n) (local.get $j))
        (i32.ge_u (i32.sub (local.get $n) (local.get $j)) (i32.const 8))))
      (local.set $src (i32.add (local.get $b) (i32.mul (local.get $j) (local.get $cs))))
      (local.set $transposedLanes (i32.const 0))
      (local.set $transposedSteps (i32.const 0))
      ;; A partial panel is zeroed first (a vector loop: V8's memory.fill costs microseconds per call).
      (if (i32.lt_u (local.get $lanes) (i32.const 8)) (then
        (local.set $to (local.get $dst))
        (local.set $p (local.get $k))
        (loop $zero
          (v128.store (local.get $to) (v128.const i32x4 0 0 0 0))
          (v128.store offset=16 (local.get $to) (v128.const i32x4 0 0 0 0))
          (local.set $to (i32.add (local.get $to) (i32.const 32)))
          (local.set $p (i32.sub (local.get $p) (i32.const 1)))
          (br_if $zero (local.get $p)))))
      (if (i32.eq (local.get $rs) (i32.const 4)) (then
          (local.set $transposedLanes (i32.and (local.get $lanes) (i32.const -4)))
          (local.set $transposedSteps (i32.and (local.get $k) (i32.const -4)))
          (local.set $q (i32.const 0))
          (block $groupsDone (loop $groups
            (br_if $groupsDone (i32.ge_u (local.get $q) (local.get $transposedLanes)))
            (call $transposeSteps (i32.add (local.get $src) (i32.mul (local.get $q) (local.get $cs))) (local.get $cs)
              (i32.shr_u (local.get $k) (i32.const 2)) (i32.add (local.get $dst) (i32.shl (local.get $q) (i32.const 2))) (i32.const 32))
            (local.set $q (i32.add (local.get $q) (i32.const 4)))
            (br $groups)))))
      ;; Lane by lane: the transposed lanes from their last steps on, the other lanes from step 0.
      (local.set $q (i32.const 0))
      (block $lanesDone (loop $eachLane
        (br_if $lanesDone (i32.ge_u (local.get $q) (local.get $lanes)))
        (local.set $p (select (local.get $transposedSteps) (i32.const 0) (i32.lt_u (local.get $q) (local.get $transposedLanes))))
        (local.set $to (i32.add (local.get $dst) (i32.add (i32.shl (local.get $p) (i32.const 5)) (i32.shl (local.get $q) (i32.const 2)))))
        (local.set $src (i32.add (local.get $b) (i32.add (i32.mul (i32.add (local.get $j) (local.get $q)) (local.get $cs))
          (i32.mul (local.get $p) (local.get $rs)))))
        (block $stepsDone (loop $steps
          (br_if $stepsDone (i32.ge_u (local.get $p) (local.get $k)))
          (f32.store (local.get $to) (f32.load (local.get $src)))
          (local.set $to (i32.add (local.get $to) (i32.const 32)))
          (local.set $src (i32.add (local.get $src) (local.get $rs)))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $steps)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $eachLane)))
      (local.set $dst (i32.add (local.get $dst) (i32.shl (local.get $k) (i32.const 5))))
      (local.set $j (i32.add (local.get $j) (i32.const 8)))
      (br $panels))))

  ;; C[m, n] = A (m x k, strides aRow / aCol in elements) times packed B; bias padded to a multiple of 8 floats.
  ;; Rows of A are taken $rowBlock at a time through every panel, so a block of A and of C stays in cache while the
  ;; packed B streams past it (without blocking, A and C together outgrow the L2 cache at training sizes). With a
  ;; $counter (the address of an i32 on shared memory, else 0), the blocks are claimed from it one by one, so that
  ;; threads running the same product share its rows by how fast each gets through them.
  (func $gemm (param $m i32) (param $n i32) (param $k i32) (param $a i32) (param $aRow i32) (param $aCol i32)
      (param $packed i32) (param $c i32) (param $cRow i32) (param $cCol i32) (param $bias i32) (param $flags i32)
      (param $rowBlock i32) (param $packedA i32) (param $counter i32)
      (local $i i32)
    (block $done (loop $blocks
      (if (local.get $counter) (then (local.set $i (i32.atomic.rmw.add (local.get $counter) (local.get $rowBlock)))))
      (br_if $done (i32.ge_u (local.get $i) (local.get $m)))
      (call $rows (select (local.get $rowBlock) (i32.sub (local.get $m) (local.get $i))
          (i32.le_u (i32.add (local.get $i) (local.get $rowBlock)) (local.get $m)))
        (local.get $n) (local.get $k)
        (i32.add (local.get $a) (i32.shl (i32.mul (local.get $i) (local.get $aRow)) (i32.const 2))) (local.get $aRow) (local.get $aCol)
        (local.get $packed)
        (i32.add (local.get $c) (i32.shl (i32.mul (local.get $i) (local.get $cRow)) (i32.const 2))) (local.get $cRow) (local.get $cCol)
        (local.get $bias) (local.get $flags) (local.get $packedA))
      (if (i32.eqz (local.get $counter)) (then (local.set $i (i32.add (local.get $i) (local.get $rowBlock)))))
      (br $blocks))))

  ;; One row block: its full tiles are packed once ($packA) and reused for every panel; the rows left over are read
  ;; in place.
  (func $rows (param $m i32) (param $n i32) (param $k i32) (param $a i32) (param $aRow i32) (param $aCol i32)
      (param $packed i32) (param $c i32) (param $cRow i32) (param $cCol i32) (param $bias i32) (param $flags i32)
      (param $packedA i32)
      (local $i i32) (local $j i32) (local $panel i32) (local $cols i32) (local $tiles i32) (local $tileBytes i32)
      (local $tileA i32) (local $full i32) (local $tilesA i32) (local $aStep i32)
    (local.set $aRow (i32.shl (local.get $aRow) (i32.const 2)))
    (local.set $aCol (i32.shl (local.get $aCol) (i32.const 2)))
    (local.set $cRow (i32.shl (local.get $cRow) (i32.const 2)))
    (local.set $cCol (i32.shl (local.get $cCol) (i32.const 2)))
    (local.set $tiles (i32.div_u (local.get $m) (i32.const ${TILE_ROWS})))
    (local.set $full (i32.mul (local.get $tiles) (i32.const ${TILE_ROWS})))
    ;; Rows already side by side (a transposed A) are read in place, $aCol apart, when there are few panels to
    ;; sweep them for; otherwise packing pays: each step then reads 16 adjacent bytes instead of part of a cache line
    ;; that L1 cannot keep for the next tile once k is large.
    (if (i32.and (i32.eq (local.get $aRow) (i32.const 4)) (i32.le_u (local.get $n) (i32.const ${IN_PLACE_MAX_COLUMNS})))
      (then
        (local.set $aStep (local.get $aCol))
        (local.set $tileBytes (i32.const ${4 * TILE_ROWS}))
        (local.set $tilesA (local.get $a)))
      (else
        (local.set $aStep (i32.const ${4 * TILE_ROWS}))
        (local.set $tileBytes (i32.mul (local.get $k) (i32.const ${4 * TILE_ROWS})))
        (local.set $tilesA (local.get $packedA))
        (call $packA (local.get $a) (local.get $aRow) (local.get $aCol) (local.get $tiles) (local.get $k) (local.get $packedA))))
    (local.set $panel (local.get $packed))
    (block $done (loop $panels
      (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $cols (i32.sub (local.get $n) (local.get $j)))
      (local.set $i (i32.const 0))
      (local.set $tileA (local.get $tilesA))
      (block $tilesDone (loop $tiles
        (br_if $tilesDone (i32.ge_u (local.get $i) (local.get $full)))
        (call $tile (local.get $tileA) (local.get $aStep) (local.get $panel) (local.get $k)
          (i32.add (local.get $c) (i32.add (i32.mul (local.get $i) (local.get $cRow)) (i32.mul (local.get $j) (local.get $cCol))))
          (local.get $cRow) (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))) (local.get $flags) (local.get $cols)
          (local.get $cCol))
        (local.set $tileA (i32.add (local.get $tileA) (local.get $tileBytes)))
        (local.set $i (i32.add (local.get $i) (i32.const ${TILE_ROWS})))
        (br $tiles)))
      (block $restDone (loop $rest
        (br_if $restDone (i32.ge_u (local.get $i) (local.get $m)))
        (call $row (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $aRow))) (local.get $aCol) (local.get $panel) (local.get $k)
          (i32.add (local.get $c) (i32.add (i32.mul (local.get $i) (local.get $cRow)) (i32.mul (local.get $j) (local.get $cCol))))
          (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))) (local.get $flags) (local.get $cols) (local.get $cCol))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rest)))
      (local.set $panel (i32.add (local.get $panel) (i32.shl (local.get $k) (i32.const 5))))
      (local.set $j (i32.add (local.get $j) (i32.const ${PANEL})))
      (br $panels))))

  ;; count products C_q = A_q B_q, C contiguous; operand strides between products in elements (0: one operand for
  ;; all). B is packed once when it is shared. $counter: see $gemm (one product only).
  (func (export "batched") (param $count i32) (param $m i32) (param $n i32) (param $k i32)
      (param $a i32) (param $aBatch i32) (param $aRow i32) (param $aCol i32)
      (param $b i32) (param $bBatch i32) (param $bRow i32) (param $bCol i32)
      (param $c i32) (param $cRow i32) (param $cCol i32) (param $work i32) (param $bias i32) (param $flags i32)
      (param $rowBlock i32) (param $packedA i32) (param $counter i32)
      (local $q i32)
    (local.set $aBatch (i32.shl (local.get $aBatch) (i32.const 2)))
    (local.set $bBatch (i32.shl (local.get $bBatch) (i32.const 2)))
    (loop $products
      (if (i32.or (i32.eqz (local.get $q)) (i32.ne (local.get $bBatch) (i32.const 0)))
        (then (call $pack (local.get $b) (local.get $bRow) (local.get $bCol) (local.get $k) (local.get $n) (local.get $work))))
      (call $gemm (local.get $m) (local.get $n) (local.get $k) (local.get $a) (local.get $aRow) (local.get $aCol)
        (local.get $work) (local.get $c) (local.get $cRow) (local.get $cCol) (local.get $bias) (local.get $flags)
        (local.get $rowBlock) (local.get $packedA) (local.get $counter))
      (local.set $a (i32.add (local.get $a) (local.get $aBatch)))
      (local.set $b (i32.add (local.get $b) (local.get $bBatch)))
      (local.set $c (i32.add (local.get $c) (i32.shl (i32.mul (local.get $m) (local.get $n)) (i32.const 2))))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br_if $products (i32.lt_u (local.get $q) (local.get $count)))))
)`;
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

/**
 * Instantiates the kernel on `memory` (the tfjs wasm heap). `malloc` / `free` are the heap's own allocator, for the
 * packed B panel and the padded bias of each call; `rowBlockBytes` sizes the row blocks of A (tests make it small);
 * `helperThreads` starts that many helper threads (gemm-threads.ts) that take pieces of large products; if they
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
   * ROW_CLAIMS_PER_THREAD per thread,
   * whole tiles, no larger than the cache blocking's.
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
    matMul({
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
    }) {
      if (m <= 0 || n <= 0 || k <= 0 || batch <= 0)
        throw new Error(`wasm GEMM needs positive sizes, got batch=${batch} m=${m} n=${n} k=${k}`);
      const job: GemmJob = {
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
