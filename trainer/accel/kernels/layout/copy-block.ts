/** A slice of a tensor of up to 4 axes as one block copy for the layout kernel (rows through `$copyRow`, copy-rows.ts). */
export const COPY_BLOCK_WAT = `;; The block of n0 x n1 x n2 x n3 elements (4 bytes each) from src, axis strides s0 / s1 / s2 in elements (the last
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
      (br_if $axis0 (i32.lt_u (local.get $i0) (local.get $n0)))))`;
