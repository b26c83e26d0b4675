/**
 * A 32-bit pattern written over a run of elements for the layout kernel: Fill, ZerosLike, OnesLike, Pad's border,
 * and the zeros new accumulator rows and segment sums start from (`$fill32`, called by accumulateRows and
 * segmentSum). Filling through a JS view of the shared heap is slow; this is vector-wide.
 */
export const FILL_WAT = `;; count 4-byte elements from dst on set to the bit pattern $bits (Fill, ZerosLike, OnesLike, Pad's border; new
  ;; accumulator rows and segment sums start from its zeros).
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
      (br $tail))))`;
