/**
 * Copies and sums of the backward pass as a WebAssembly kernel on the tfjs wasm heap (text written here, assembled
 * with wabt): strided row copies (Concat and SplitV along any axis, kernel-fixes.ts), slices of up to 4 axes,
 * transposes of the last two axes (Transpose, and so the matMul fix's transposed operands), the
 * row gather of GatherV2 (embedding lookups along axis 0; along a middle axis as strided row copies), UnsortedSegmentSum
 * (the gradient of a gather), the column sums of a matrix (a bias gradient: Sum over axis 0),
 * Sums over middle axes, the sums of an embedding lookup's gradient rows by row id (sparse-embeddings.ts),
 * relu's gradient (relu-gradient.ts), fills (Fill, ZerosLike, OnesLike, Pad), and float32 Add / Sub / Multiply /
 * RealDiv with broadcasting (broadcast-binary.ts).
 *
 * Why: the same loops in JS over views of the wasm heap ran at ~5-7 ns per element (a [1024, 256] column sum 1.7 ms,
 * concatenating ten [1024, 16] fields 0.9 ms, splitting their gradient 1.0 ms, measured in isolation), ~4 ms of a
 * reference training step; here they run vector-wide (docs/models.md).
 *
 * The column sums accumulate in float64, row after row from 0, then round to float32 once: the JS loop's arithmetic,
 * so the results are the same bits (tested).
 */

import { type BinaryOp, broadcastBinaryWat } from "./broadcast-binary.ts";
import { wasmHeapOf } from "./wasm-heap.ts";
import { assembleWat, heapImport, joinLow, promoteHigh, promoteLow, transpose4x4 } from "./wat.ts";

/** Accumulators of one column block: 4 f64x2 = 8 columns. */
const BLOCK = 8;

/** sumMiddle's inner loop: `acc` = the sum down the reduce rows of column $j (one float or four), in row order. */
const sumDownColumn = (acc: string, zero: string, add: string, load: string) => `(local.set ${acc} ${zero})
        (local.set $p (i32.add (local.get $src) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $r (i32.const 0))
        (block $rowsDone (loop $rows
          (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $reduce)))
          (local.set ${acc} (${add} (local.get ${acc}) (${load} (local.get $p))))
          (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br $rows)))`;

function moduleWat(shared: boolean): string {
  const acc = [0, 1, 2, 3];
  // Column block: the row's 8 floats in two f32x4 loads, each promoted in two halves and added to the accumulators.
  const addRow = acc
    .map((q) => {
      const part = `(local.get $part${q < 2 ? 0 : 1})`;
      return `(local.set $acc${q} (f64x2.add (local.get $acc${q}) ${q % 2 === 0 ? promoteLow(part) : promoteHigh(part)}))`;
    })
    .join("\n        ");
  const demote = (q: number) => `(f32x4.demote_f64x2_zero (local.get $acc${q}))`;
  return `(module
  ${heapImport(shared)}

  ;; dst[j] = sum over i of src[i * cols + j], for j < cols (float32, byte offsets).
  (func (export "columnSums") (param $src i32) (param $rows i32) (param $cols i32) (param $dst i32)
      (local $j i32) (local $i i32) (local $p i32) (local $rowBytes i32) (local $s f64) (local $part0 v128) (local $part1 v128)
      ${acc.map((q) => `(local $acc${q} v128)`).join(" ")}
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (block $blocksDone (loop $blocks
      (br_if $blocksDone (i32.gt_u (i32.add (local.get $j) (i32.const ${BLOCK})) (local.get $cols)))
      ${acc.map((q) => `(local.set $acc${q} (v128.const i64x2 0 0))`).join(" ")}
      (local.set $p (i32.add (local.get $src) (i32.shl (local.get $j) (i32.const 2))))
      (local.set $i (i32.const 0))
      (block $rowsDone (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $rows)))
        (local.set $part0 (v128.load (local.get $p)))
        (local.set $part1 (v128.load offset=16 (local.get $p)))
        ${addRow}
        (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rowLoop)))
      (v128.store (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2))) ${joinLow(demote(0), demote(1))})
      (v128.store offset=16 (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2))) ${joinLow(demote(2), demote(3))})
      (local.set $j (i32.add (local.get $j) (i32.const ${BLOCK})))
      (br $blocks)))
    ;; The last cols % ${BLOCK} columns one at a time.
    (block $tailDone (loop $tail
      (br_if $tailDone (i32.ge_u (local.get $j) (local.get $cols)))
      (local.set $s (f64.const 0))
      (local.set $p (i32.add (local.get $src) (i32.shl (local.get $j) (i32.const 2))))
      (local.set $i (i32.const 0))
      (block $rowsDone (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $rows)))
        (local.set $s (f64.add (local.get $s) (f64.promote_f32 (f32.load (local.get $p)))))
        (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rowLoop)))
      (f32.store (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2))) (f32.demote_f64 (local.get $s)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $tail))))

  ;; One row of width 4-byte elements from s to d: vectors, then the last width % 4 elements.
  (func $copyRow (param $s i32) (param $d i32) (param $width i32)
      (local $end i32) (local $vecEnd i32)
    (local.set $end (i32.add (local.get $s) (i32.shl (local.get $width) (i32.const 2))))
    (local.set $vecEnd (i32.add (local.get $s) (i32.shl (i32.and (local.get $width) (i32.const -4)) (i32.const 2))))
    (block $vecDone (loop $vec
      (br_if $vecDone (i32.ge_u (local.get $s) (local.get $vecEnd)))
      (v128.store (local.get $d) (v128.load (local.get $s)))
      (local.set $s (i32.add (local.get $s) (i32.const 16)))
      (local.set $d (i32.add (local.get $d) (i32.const 16)))
      (br $vec)))
    (block $tailDone (loop $tail
      (br_if $tailDone (i32.ge_u (local.get $s) (local.get $end)))
      (i32.store (local.get $d) (i32.load (local.get $s)))
      (local.set $s (i32.add (local.get $s) (i32.const 4)))
      (local.set $d (i32.add (local.get $d) (i32.const 4)))
      (br $tail))))

  ;; rows rows of width 4-byte elements from src (row stride srcStride elements) to dst (row stride dstStride).
  (func (export "copyRows") (param $src i32) (param $srcStride i32) (param $dst i32) (param $dstStride i32)
      (param $rows i32) (param $width i32)
      (local $i i32)
    (local.set $srcStride (i32.shl (local.get $srcStride) (i32.const 2)))
    (local.set $dstStride (i32.shl (local.get $dstStride) (i32.const 2)))
    (block $done (loop $row
      (br_if $done (i32.ge_u (local.get $i) (local.get $rows)))
      (call $copyRow (local.get $src) (local.get $dst) (local.get $width))
      (local.set $src (i32.add (local.get $src) (local.get $srcStride)))
      (local.set $dst (i32.add (local.get $dst) (local.get $dstStride)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $row))))

  ;; dst[o][j] = sum over r of src[o][r][j] (float32, an [outer, reduce, inner] block): a Sum over axes that are not
  ;; the innermost. Accumulates in float32 in r order, as tfjs-wasm's Sum does after moving the axes innermost (the
  ;; same bits, tested), four j at a time.
  (func (export "sumMiddle") (param $src i32) (param $outer i32) (param $reduce i32) (param $inner i32) (param $dst i32)
      (local $o i32) (local $j i32) (local $r i32) (local $p i32) (local $rowBytes i32) (local $acc v128) (local $s f32)
    (local.set $rowBytes (i32.shl (local.get $inner) (i32.const 2)))
    (block $outerDone (loop $eachOuter
      (br_if $outerDone (i32.ge_u (local.get $o) (local.get $outer)))
      (local.set $j (i32.const 0))
      (block $vecDone (loop $vec
        (br_if $vecDone (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $inner)))
        ${sumDownColumn("$acc", "(v128.const i32x4 0 0 0 0)", "f32x4.add", "v128.load")}
        (v128.store (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2))) (local.get $acc))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $vec)))
      (block $tailDone (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $j) (local.get $inner)))
        ${sumDownColumn("$s", "(f32.const 0)", "f32.add", "f32.load")}
        (f32.store (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2))) (local.get $s))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $tail)))
      (local.set $src (i32.add (local.get $src) (i32.mul (local.get $rowBytes) (local.get $reduce))))
      (local.set $dst (i32.add (local.get $dst) (local.get $rowBytes)))
      (local.set $o (i32.add (local.get $o) (i32.const 1)))
      (br $eachOuter))))

  ;; Sums gradient rows by embedding row (sparse-embeddings.ts): gradient row i (width floats at grad) is added into
  ;; the accumulator row of id ids[i]. slot[id] is that row's place in accIds / accValues (-1: not yet touched; a new
  ;; id takes the next place, zeroed first); the count of places in use is the i32 at countAt. Stops at the first id
  ;; outside [0, rows) or when a new id finds all capacity places taken; returns how many gradient rows were added
  ;; (the caller grows the places, or reports the id, and calls again from there).
  (func (export "accumulateRows") (param $slot i32) (param $accIds i32) (param $accValues i32) (param $countAt i32)
      (param $capacity i32) (param $ids i32) (param $grad i32) (param $from i32) (param $n i32) (param $width i32)
      (param $rows i32) (result i32)
      (local $i i32) (local $id i32) (local $s i32) (local $count i32) (local $rowBytes i32) (local $d i32) (local $g i32)
      (local $end i32) (local $vecEnd i32)
    (local.set $count (i32.load (local.get $countAt)))
    (local.set $rowBytes (i32.shl (local.get $width) (i32.const 2)))
    (local.set $i (local.get $from))
    (block $stop (loop $each
      (br_if $stop (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $id (i32.load (i32.add (local.get $ids) (i32.shl (local.get $i) (i32.const 2)))))
      (br_if $stop (i32.ge_u (local.get $id) (local.get $rows)))
      (local.set $s (i32.load (i32.add (local.get $slot) (i32.shl (local.get $id) (i32.const 2)))))
      (if (i32.lt_s (local.get $s) (i32.const 0)) (then
        (br_if $stop (i32.ge_u (local.get $count) (local.get $capacity)))
        (local.set $s (local.get $count))
        (local.set $count (i32.add (local.get $count) (i32.const 1)))
        (i32.store (i32.add (local.get $slot) (i32.shl (local.get $id) (i32.const 2))) (local.get $s))
        (i32.store (i32.add (local.get $accIds) (i32.shl (local.get $s) (i32.const 2))) (local.get $id))
        (call $fill32 (i32.add (local.get $accValues) (i32.mul (local.get $s) (local.get $rowBytes))) (local.get $width) (i32.const 0))))
      ;; accumulator row += gradient row, float32 adds in element order (what the JS loop computes).
      (local.set $d (i32.add (local.get $accValues) (i32.mul (local.get $s) (local.get $rowBytes))))
      (local.set $g (i32.add (local.get $grad) (i32.mul (local.get $i) (local.get $rowBytes))))
      (local.set $end (i32.add (local.get $g) (local.get $rowBytes)))
      (local.set $vecEnd (i32.add (local.get $g) (i32.shl (i32.and (local.get $width) (i32.const -4)) (i32.const 2))))
      (block $vecDone (loop $vec
        (br_if $vecDone (i32.ge_u (local.get $g) (local.get $vecEnd)))
        (v128.store (local.get $d) (f32x4.add (v128.load (local.get $d)) (v128.load (local.get $g))))
        (local.set $g (i32.add (local.get $g) (i32.const 16)))
        (local.set $d (i32.add (local.get $d) (i32.const 16)))
        (br $vec)))
      (block $tailDone (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $g) (local.get $end)))
        (f32.store (local.get $d) (f32.add (f32.load (local.get $d)) (f32.load (local.get $g))))
        (local.set $g (i32.add (local.get $g) (i32.const 4)))
        (local.set $d (i32.add (local.get $d) (i32.const 4)))
        (br $tail)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $each)))
    (i32.store (local.get $countAt) (local.get $count))
    (local.get $i))

  ;; Marks the count places' ids untouched again (slot = -1): the next step starts empty.
  (func (export "clearRows") (param $slot i32) (param $accIds i32) (param $count i32)
      (local $s i32)
    (block $done (loop $each
      (br_if $done (i32.ge_u (local.get $s) (local.get $count)))
      (i32.store (i32.add (local.get $slot) (i32.shl (i32.load (i32.add (local.get $accIds) (i32.shl (local.get $s) (i32.const 2))))
        (i32.const 2))) (i32.const -1))
      (local.set $s (i32.add (local.get $s) (i32.const 1)))
      (br $each))))

  ;; count 4-byte elements from dst on set to the bit pattern $bits (Fill, ZerosLike, OnesLike, Pad's border; new
  ;; accumulator rows and segment sums start from its zeros).
  ;; (TypedArray.fill on the shared heap's view takes ~1 ns per element.)
  (func $fill32 (export "fill32") (param $dst i32) (param $count i32) (param $bits i32)
      (local $end i32) (local $vecEnd i32) (local $v v128)
    (local.set $v (i32x4.splat (local.get $bits)))
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $count) (i32.const 2))))
    (local.set $vecEnd (i32.add (local.get $dst) (i32.shl (i32.and (local.get $count) (i32.const -4)) (i32.const 2))))
    (block $vecDone (loop $vec
      (br_if $vecDone (i32.ge_u (local.get $dst) (local.get $vecEnd)))
      (v128.store (local.get $dst) (local.get $v))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br $vec)))
    (block $tailDone (loop $tail
      (br_if $tailDone (i32.ge_u (local.get $dst) (local.get $end)))
      (i32.store (local.get $dst) (local.get $bits))
      (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
      (br $tail))))

  ;; The block of n0 x n1 x n2 x n3 elements (4 bytes each) from src, axis strides s0 / s1 / s2 in elements (the last
  ;; axis contiguous), to dst in row-major order: a slice of a tensor of up to 4 axes.
  (func (export "copyBlock") (param $src i32) (param $s0 i32) (param $s1 i32) (param $s2 i32) (param $dst i32)
      (param $n0 i32) (param $n1 i32) (param $n2 i32) (param $n3 i32)
      (local $i0 i32) (local $i1 i32) (local $i2 i32) (local $p0 i32) (local $p1 i32) (local $rowBytes i32)
    (local.set $s0 (i32.shl (local.get $s0) (i32.const 2)))
    (local.set $s1 (i32.shl (local.get $s1) (i32.const 2)))
    (local.set $s2 (i32.shl (local.get $s2) (i32.const 2)))
    (local.set $rowBytes (i32.shl (local.get $n3) (i32.const 2)))
    (local.set $p0 (local.get $src))
    (loop $axis0
      (local.set $p1 (local.get $p0))
      (local.set $i1 (i32.const 0))
      (loop $axis1
        (local.set $i2 (i32.const 0))
        (loop $axis2
          (call $copyRow (i32.add (local.get $p1) (i32.mul (local.get $i2) (local.get $s2))) (local.get $dst) (local.get $n3))
          (local.set $dst (i32.add (local.get $dst) (local.get $rowBytes)))
          (local.set $i2 (i32.add (local.get $i2) (i32.const 1)))
          (br_if $axis2 (i32.lt_u (local.get $i2) (local.get $n2))))
        (local.set $p1 (i32.add (local.get $p1) (local.get $s1)))
        (local.set $i1 (i32.add (local.get $i1) (i32.const 1)))
        (br_if $axis1 (i32.lt_u (local.get $i1) (local.get $n1))))
      (local.set $p0 (i32.add (local.get $p0) (local.get $s0)))
      (local.set $i0 (i32.add (local.get $i0) (i32.const 1)))
      (br_if $axis0 (i32.lt_u (local.get $i0) (local.get $n0)))))

  ;; out[i] = dy[i] * step(x[i]), step = 1 where x > 0, 0 where not, x itself where x is NaN: the gradient of relu
  ;; as tfjs computes it (dy times Step of x, three kernels there), in one pass. Same products, same bits.
  (func (export "reluGradient") (param $dy i32) (param $x i32) (param $out i32) (param $count i32)
      (local $i i32) (local $vecEnd i32) (local $end i32) (local $v v128) (local $s f32)
    (local.set $end (i32.shl (local.get $count) (i32.const 2)))
    (local.set $vecEnd (i32.shl (i32.and (local.get $count) (i32.const -4)) (i32.const 2)))
    (block $vecDone (loop $vec
      (br_if $vecDone (i32.ge_u (local.get $i) (local.get $vecEnd)))
      (local.set $v (v128.load (i32.add (local.get $x) (local.get $i))))
      (v128.store (i32.add (local.get $out) (local.get $i))
        (f32x4.mul (v128.load (i32.add (local.get $dy) (local.get $i)))
          (v128.bitselect (local.get $v)
            (v128.and (f32x4.gt (local.get $v) (v128.const i32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1))
            (f32x4.ne (local.get $v) (local.get $v)))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $vec)))
    (block $tailDone (loop $tail
      (br_if $tailDone (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $s (f32.load (i32.add (local.get $x) (local.get $i))))
      (f32.store (i32.add (local.get $out) (local.get $i))
        (f32.mul (f32.load (i32.add (local.get $dy) (local.get $i)))
          (select (f32.const 1) (select (local.get $s) (f32.const 0) (f32.ne (local.get $s) (local.get $s)))
            (f32.gt (local.get $s) (f32.const 0)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $tail))))

  ;; dst[m][j][i] = src[m][i][j] for count matrices of rows x cols 4-byte elements (Transpose of the last two axes):
  ;; 4 x 4 blocks through vector shuffles, the rows and columns past the last whole block one element at a time.
  (func (export "transpose") (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32) (param $count i32)
      (local $srcRow i32) (local $dstRow i32) (local $rows4 i32) (local $cols4 i32) (local $i0 i32) (local $iEnd i32) (local $i i32) (local $j i32)
      (local $s i32) (local $d i32) (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
      (local $lo01 v128) (local $lo23 v128) (local $hi01 v128) (local $hi23 v128)
    (local.set $srcRow (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $dstRow (i32.shl (local.get $rows) (i32.const 2)))
    (local.set $rows4 (i32.and (local.get $rows) (i32.const -4)))
    (local.set $cols4 (i32.and (local.get $cols) (i32.const -4)))
    (block $matricesDone (loop $matrices
      (br_if $matricesDone (i32.eqz (local.get $count)))
      ;; Bands of 32 rows: each 4 x 4 block writes 16 bytes to each of 4 destination rows, so a band fills whole
      ;; 64-byte lines of them before moving on (bands of 4 rows wrote every line in four visits: [1024, 128] took
      ;; 0.17 ms against 0.06-0.07 ms; 16 rows 0.08).
      (local.set $i0 (i32.const 0))
      (block $bandsDone (loop $bands
        (br_if $bandsDone (i32.ge_u (local.get $i0) (local.get $rows4)))
        (local.set $iEnd (select (i32.add (local.get $i0) (i32.const 32)) (local.get $rows4)
          (i32.lt_u (i32.add (local.get $i0) (i32.const 32)) (local.get $rows4))))
        (local.set $j (i32.const 0))
        (block $columnsDone (loop $columns
          (br_if $columnsDone (i32.ge_u (local.get $j) (local.get $cols4)))
          (local.set $i (local.get $i0))
          (block $blocksDone (loop $blocks
            (br_if $blocksDone (i32.ge_u (local.get $i) (local.get $iEnd)))
            (local.set $s (i32.add (local.get $src) (i32.add (i32.mul (local.get $i) (local.get $srcRow)) (i32.shl (local.get $j) (i32.const 2)))))
            (local.set $r0 (v128.load (local.get $s)))
            (local.set $r1 (v128.load (i32.add (local.get $s) (local.get $srcRow))))
            (local.set $r2 (v128.load (i32.add (local.get $s) (i32.shl (local.get $srcRow) (i32.const 1)))))
            (local.set $r3 (v128.load (i32.add (local.get $s) (i32.mul (local.get $srcRow) (i32.const 3)))))
            ${transpose4x4.pairs}
            (local.set $d (i32.add (local.get $dst) (i32.add (i32.mul (local.get $j) (local.get $dstRow)) (i32.shl (local.get $i) (i32.const 2)))))
            (v128.store (local.get $d) ${transpose4x4.columns[0]})
            (v128.store (i32.add (local.get $d) (local.get $dstRow)) ${transpose4x4.columns[1]})
            (v128.store (i32.add (local.get $d) (i32.shl (local.get $dstRow) (i32.const 1))) ${transpose4x4.columns[2]})
            (v128.store (i32.add (local.get $d) (i32.mul (local.get $dstRow) (i32.const 3))) ${transpose4x4.columns[3]})
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $blocks)))
          (local.set $j (i32.add (local.get $j) (i32.const 4)))
          (br $columns)))
        (local.set $i0 (local.get $iEnd))
        (br $bands)))
      ;; Columns past the last whole block, for every row; then rows past the last whole block, for the other columns.
      (local.set $i (i32.const 0))
      (block $edgeRowsDone (loop $edgeRows
        (br_if $edgeRowsDone (i32.ge_u (local.get $i) (local.get $rows)))
        (local.set $j (select (local.get $cols4) (i32.const 0) (i32.lt_u (local.get $i) (local.get $rows4))))
        (block $edgeColsDone (loop $edgeCols
          (br_if $edgeColsDone (i32.ge_u (local.get $j) (local.get $cols)))
          (i32.store
            (i32.add (local.get $dst) (i32.add (i32.mul (local.get $j) (local.get $dstRow)) (i32.shl (local.get $i) (i32.const 2))))
            (i32.load (i32.add (local.get $src) (i32.add (i32.mul (local.get $i) (local.get $srcRow)) (i32.shl (local.get $j) (i32.const 2))))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $edgeCols)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $edgeRows)))
      (local.set $src (i32.add (local.get $src) (i32.mul (local.get $rows) (local.get $srcRow))))
      (local.set $dst (i32.add (local.get $dst) (i32.mul (local.get $rows) (local.get $srcRow))))
      (local.set $count (i32.sub (local.get $count) (i32.const 1)))
      (br $matrices))))

  ;; dst row i = table row ids[i] (int32 ids), for i < count, rows of width 4-byte elements. Returns -1, or the
  ;; position of the first id outside [0, rows) (copying stops there).
  (func (export "gatherRows") (param $table i32) (param $ids i32) (param $count i32) (param $rows i32) (param $width i32)
      (param $dst i32) (result i32)
      (local $i i32) (local $id i32) (local $rowBytes i32)
    (local.set $rowBytes (i32.shl (local.get $width) (i32.const 2)))
    (block $done (loop $row
      (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
      (local.set $id (i32.load (i32.add (local.get $ids) (i32.shl (local.get $i) (i32.const 2)))))
      ;; Unsigned: a negative id is out of range too.
      (if (i32.ge_u (local.get $id) (local.get $rows)) (then (return (local.get $i))))
      (call $copyRow (i32.add (local.get $table) (i32.mul (local.get $id) (local.get $rowBytes))) (local.get $dst) (local.get $width))
      (local.set $dst (i32.add (local.get $dst) (local.get $rowBytes)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $row)))
    (i32.const -1))

  ${segmentSumWat("f32")}
  ${segmentSumWat("i32")}

  ${broadcastBinaryWat()}
)`;
}

/**
 * UnsortedSegmentSum for float32 or int32 rows: dst row s = the rows i of src whose id is s, added in i order onto
 * zero; ids outside [0, segments) are skipped, as TF does. Each element's sum takes the same additions in the same
 * order as the JS loop it replaces (float32 adds: the JS loop's float64 add rounded to float32 is the same value), so
 * the same bits.
 */
function segmentSumWat(type: "f32" | "i32"): string {
  return `;; d[j] += s[j] for a row of width ${type} elements: vectors, then the last width % 4.
  (func $addRow_${type} (param $s i32) (param $d i32) (param $width i32)
      (local $end i32) (local $vecEnd i32)
    (local.set $end (i32.add (local.get $s) (i32.shl (local.get $width) (i32.const 2))))
    (local.set $vecEnd (i32.add (local.get $s) (i32.shl (i32.and (local.get $width) (i32.const -4)) (i32.const 2))))
    (block $vecDone (loop $vec
      (br_if $vecDone (i32.ge_u (local.get $s) (local.get $vecEnd)))
      (v128.store (local.get $d) (${type}x4.add (v128.load (local.get $d)) (v128.load (local.get $s))))
      (local.set $s (i32.add (local.get $s) (i32.const 16)))
      (local.set $d (i32.add (local.get $d) (i32.const 16)))
      (br $vec)))
    (block $tailDone (loop $tail
      (br_if $tailDone (i32.ge_u (local.get $s) (local.get $end)))
      (${type}.store (local.get $d) (${type}.add (${type}.load (local.get $d)) (${type}.load (local.get $s))))
      (local.set $s (i32.add (local.get $s) (i32.const 4)))
      (local.set $d (i32.add (local.get $d) (i32.const 4)))
      (br $tail))))

  ;; dst = segments rows of width ${type} elements: row s = the sum of the count rows of src whose int32 id is s.
  (func (export "segmentSum_${type}") (param $src i32) (param $ids i32) (param $count i32) (param $segments i32)
      (param $width i32) (param $dst i32)
      (local $i i32) (local $s i32) (local $rowBytes i32)
    (local.set $rowBytes (i32.shl (local.get $width) (i32.const 2)))
    (call $fill32 (local.get $dst) (i32.mul (local.get $segments) (local.get $width)) (i32.const 0))
    (block $done (loop $row
      (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
      (local.set $s (i32.load (i32.add (local.get $ids) (i32.shl (local.get $i) (i32.const 2)))))
      ;; Unsigned: a negative id is out of range too.
      (if (i32.lt_u (local.get $s) (local.get $segments))
        (then (call $addRow_${type} (i32.add (local.get $src) (i32.mul (local.get $i) (local.get $rowBytes)))
          (i32.add (local.get $dst) (i32.mul (local.get $s) (local.get $rowBytes))) (local.get $width))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $row))))`;
}

/** out = a op b over a broadcast plan (broadcast-binary.ts): counts n0-n3, outer strides of a and b, inner mode. */
type BinaryEntry = (
  a: number,
  b: number,
  out: number,
  n0: number,
  n1: number,
  n2: number,
  n3: number,
  as0: number,
  as1: number,
  as2: number,
  bs0: number,
  bs1: number,
  bs2: number,
  mode: number,
) => void;

/** The kernel's entry points; offsets are bytes into the heap it was instantiated on, strides elements. */
export type WasmLayout = LayoutEntries & { [K in `binary_${BinaryOp}`]: BinaryEntry };

interface LayoutEntries {
  columnSums(src: number, rows: number, cols: number, dst: number): void;
  copyRows(src: number, srcStride: number, dst: number, dstStride: number, rows: number, width: number): void;
  /** dst[o][j] = sum over r of src[o][r][j] for an [outer, reduce, inner] float32 block (float32 sums in r order). */
  sumMiddle(src: number, outer: number, reduce: number, inner: number, dst: number): void;
  /** Adds gradient rows from..n-1 into per-id accumulator rows (see the module text); returns where it stopped. */
  accumulateRows(
    slot: number,
    accIds: number,
    accValues: number,
    countAt: number,
    capacity: number,
    ids: number,
    grad: number,
    from: number,
    n: number,
    width: number,
    rows: number,
  ): number;
  /** slot[accIds[s]] = -1 for s < count. */
  clearRows(slot: number, accIds: number, count: number): void;
  /** A block of n0 x n1 x n2 x n3 4-byte elements (strides s0, s1, s2 in elements; the last axis contiguous) to dst. */
  copyBlock(src: number, s0: number, s1: number, s2: number, dst: number, n0: number, n1: number, n2: number, n3: number): void;
  /** out = dy * step(x) for count floats (relu's gradient; step of NaN is NaN, as tfjs's). */
  reluGradient(dy: number, x: number, out: number, count: number): void;
  /** count 4-byte elements from dst set to the 32-bit pattern `bits` (a float's or an int's). */
  fill32(dst: number, count: number, bits: number): void;
  /** dst = src with the last two axes swapped, for `count` matrices of rows x cols 4-byte elements. */
  transpose(src: number, dst: number, rows: number, cols: number, count: number): void;
  /** Rows `ids` (count int32 at `ids`) of a table of `rows` rows to dst; -1, or the position of an id out of range. */
  gatherRows(table: number, ids: number, count: number, rows: number, width: number, dst: number): number;
  /** UnsortedSegmentSum of count float32 rows of width at src by the int32 ids at `ids` into segments rows at dst. */
  segmentSum_f32(src: number, ids: number, count: number, segments: number, width: number, dst: number): void;
  /** The same for int32 rows (sums wrap, as the JS loop's Int32Array stores do). */
  segmentSum_i32(src: number, ids: number, count: number, segments: number, width: number, dst: number): void;
}

/** `sharedHeap`: for a heap that is shared memory (shared-heap.ts). */
export async function compileLayout(sharedHeap = false): Promise<WebAssembly.Module> {
  return new WebAssembly.Module(await assembleWat(`kser-layout${sharedHeap ? "-shared" : ""}.wat`, moduleWat(sharedHeap)));
}

export function instantiateLayout(module: WebAssembly.Module, memory: WebAssembly.Memory): WasmLayout {
  const kernel = new WebAssembly.Instance(module, { env: { memory } }).exports;
  // Every entry point, counting its calls.
  return Object.fromEntries(
    Object.entries(kernel).map(([name, entry]) => [
      name,
      (...args: number[]) => {
        calls++;
        return (entry as (...a: number[]) => number | undefined)(...args);
      },
    ]),
  ) as unknown as WasmLayout;
}

let enabled: WebAssembly.Module | null = null;
/** Kernel calls in this process (diagnostics, tests). */
let calls = 0;
const perBackend = new WeakMap<object, WasmLayout | null>();

/** Makes the compiled kernel the one the layout kernel fixes use from now on (null: their JS loops). */
export function enableWasmLayout(module: WebAssembly.Module | null): void {
  enabled = module;
}

/** The kernel the backend set-up enabled (not when KSER_WASM_LAYOUT=off), and how many calls it has run. */
export function wasmLayoutStatus(): { module: WebAssembly.Module | null; calls: number } {
  return { module: enabled, calls };
}

/** The kernel on a wasm backend's heap, or null (not enabled, or the heap is not reachable). */
export function layoutFor(backend: Parameters<typeof wasmHeapOf>[0]): WasmLayout | null {
  if (!enabled) return null;
  let layout = perBackend.get(backend);
  if (layout === undefined) {
    const heap = wasmHeapOf(backend);
    layout = heap ? instantiateLayout(enabled, heap.memory) : null;
    perBackend.set(backend, layout);
  }
  return layout;
}
