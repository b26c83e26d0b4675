/**
 * Transposes of the last two axes for the layout kernel (Transpose, and so the batched matMul patch's transposed operands):
 * 4 x 4 blocks through vector shuffles, in bands of rows so that each destination cache line is filled in one visit.
 */
import { transpose4x4 } from "../../wasm/wat.ts";

export const TRANSPOSE_WAT = `;; dst[m][j][i] = src[m][i][j] for count matrices of rows x cols 4-byte elements (Transpose of the last two axes):
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
      ;; 64-byte lines of them before moving on (narrower bands write every line in several visits).
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
      (br $matrices))))`;
