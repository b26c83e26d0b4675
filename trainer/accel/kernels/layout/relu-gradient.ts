/**
 * Relu's gradient in one pass for the layout kernel (patches/relu-gradient.ts registers the tfjs kernel that calls
 * it): the products tfjs's dy * step(x) computes, so the same bits (tested).
 */
export const RELU_GRADIENT_WAT = `;; out[i] = dy[i] * step(x[i]), step = 1 where x > 0, 0 where not, x itself where x is NaN: the gradient of relu
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
      (br $tail))))`;
