/** The row gather of GatherV2 along axis 0 (embedding lookups) for the layout kernel, rows through `$copyRow`. */
export const GATHER_ROWS_WAT = `;; dst row i = table row ids[i] (int32 ids), for i < count, rows of width 4-byte elements. Returns -1, or the
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
    (i32.const -1))`;
