/**
 * UnsortedSegmentSum for float32 or int32 rows: dst row s = the rows i of src whose id is s, added in i order onto
 * zero; ids outside [0, segments) are skipped, as TF does. Each element's sum takes the same additions in the same
 * order as the JS loop it replaces (float32 adds: the JS loop's float64 add rounded to float32 is the same value), so
 * the same bits.
 */
export function segmentSumWat(type: "f32" | "i32"): string {
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
