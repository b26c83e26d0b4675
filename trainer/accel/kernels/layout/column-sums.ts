/**
 * The column sums of a float32 matrix (a bias gradient: Sum over axis 0) for the layout kernel. Each column
 * accumulates in float64, row after row from 0, and rounds to float32 once: the arithmetic of the JS loop it
 * replaces, so the same bits (tested). Eight columns at a time in four f64x2 accumulators, then the rest one by one.
 */
import { joinLow, promoteHigh, promoteLow } from "../../wasm/wat.ts";

/** Accumulators of one column block: 4 f64x2 = 8 columns. */
const BLOCK = 8;

export function columnSumsWat(): string {
  const acc = [0, 1, 2, 3];
  // Column block: the row's 8 floats in two f32x4 loads, each promoted in two halves and added to the accumulators.
  const addRow = acc
    .map((q) => {
      const part = `(local.get $part${q < 2 ? 0 : 1})`;
      return `(local.set $acc${q} (f64x2.add (local.get $acc${q}) ${q % 2 === 0 ? promoteLow(part) : promoteHigh(part)}))`;
    })
    .join("\n        ");
  const demote = (q: number) => `(f32x4.demote_f64x2_zero (local.get $acc${q}))`;
  return `;; dst[j] = sum over i of src[i * cols + j], for j < cols (float32, byte offsets).
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
      (br $tail))))`;
}
