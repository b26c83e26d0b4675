/**
 * Strided row copies for the layout kernel: Concat and SplitV along any axis, a middle-axis gather, Pad's copy of its
 * input. `$copyRow` (one row: vectors, then the last elements) is also called by copyBlock and gatherRows.
 */
export const COPY_ROWS_WAT = `;; One row of width 4-byte elements from s to d: vectors, then the last width % 4 elements.
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
      (br $row))))`;
