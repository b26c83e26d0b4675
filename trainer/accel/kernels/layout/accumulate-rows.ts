/**
 * Sums of an embedding lookup's gradient rows by table row for the layout kernel (optimizer/row-sums-heap.ts keeps
 * the sums on the heap): float32 adds in element order, the JS accumulator's arithmetic, so the same bits (tested).
 * New accumulator rows start from `$fill32`'s zeros (fill.ts).
 */
export const ACCUMULATE_ROWS_WAT = `;; Sums gradient rows by embedding row (optimizer/row-sums-heap.ts): gradient row i (width floats at grad) is added into
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
      (br $each))))`;
