/**
 * A Sum over adjacent axes that are not the innermost ([outer, reduce, inner] over reduce) for the layout kernel, in
 * one pass: tfjs-wasm's own first transposes the axes innermost. Float32 sums in the same order, the same bits (tested).
 */

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

export const SUM_MIDDLE_WAT = `;; dst[o][j] = sum over r of src[o][r][j] (float32, an [outer, reduce, inner] block): a Sum over axes that are not
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
      (br $eachOuter))))`;
