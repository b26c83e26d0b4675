/**
 * Float32 Add, Sub, Multiply and RealDiv with broadcasting, as strided loops in our wasm layout kernel: the plan
 * (shapes collapsed to at most 4 strided axes whose last one runs contiguously) and the kernel's text.
 *
 * Why: tfjs-wasm's broadcasting binary ops walk every output element through a generic index computation, a large
 * share of a KSER step (its history masks and gate products broadcast). Each output element is one IEEE float32
 * operation on the same two inputs, so the results are the same bits.
 */

/** Ops whose larger operand has fewer elements stay with wasm's own kernels: there, planning costs about what the loop saves. */
export const MIN_BROADCAST_ELEMENTS = 4096;

export const BINARY_OPS = { Add: "add", Sub: "sub", Multiply: "mul", RealDiv: "div" } as const;
export type BinaryOp = (typeof BINARY_OPS)[keyof typeof BINARY_OPS];

/** How the innermost axis reads the operands: both contiguous, `b` one value, or `a` one value. */
export const InnerMode = { Both: 0, ScalarB: 1, ScalarA: 2 } as const;
export type InnerMode = (typeof InnerMode)[keyof typeof InnerMode];

/**
 * out[i0][i1][i2][i3] = a[i0*aStrides[0] + i1*aStrides[1] + i2*aStrides[2] + i3*(inner a stride)] op (the same for
 * b), output contiguous; strides in elements; `mode` gives the inner strides (1 or 0).
 */
export interface BroadcastPlan {
  counts: [number, number, number, number];
  aStrides: [number, number, number];
  bStrides: [number, number, number];
  mode: InnerMode;
}

type Axis = { n: number; a: number; b: number };

/** Row-major element strides of `shape` padded to `rank`, 0 along the axes it broadcasts (size 1). */
function broadcastStrides(shape: number[], rank: number): number[] {
  const padded = [...Array(rank - shape.length).fill(1), ...shape];
  const strides = Array(rank).fill(0);
  let step = 1;
  for (let i = rank - 1; i >= 0; i--) {
    strides[i] = padded[i] === 1 ? 0 : step;
    step *= padded[i];
  }
  return strides;
}

/** The plan for `a op b` with output shape `outShape` (their broadcast); null when it needs more than 4 axes. */
export function planBroadcast(aShape: number[], bShape: number[], outShape: number[]): BroadcastPlan | null {
  const rank = outShape.length;
  const aStrides = broadcastStrides(aShape, rank);
  const bStrides = broadcastStrides(bShape, rank);
  const axes: Axis[] = [];
  for (let i = 0; i < rank; i++) {
    if (outShape[i] === 1) continue;
    const axis = { n: outShape[i], a: aStrides[i], b: bStrides[i] };
    const inner = axes[axes.length - 1];
    // An axis merges into the one before when both operands step through them as one (contiguous or broadcast).
    if (inner && inner.a === axis.a * axis.n && inner.b === axis.b * axis.n) {
      inner.n *= axis.n;
      inner.a = axis.a;
      inner.b = axis.b;
    } else axes.push(axis);
  }
  if (axes.length === 0) axes.push({ n: 1, a: 1, b: 1 });
  if (axes.length > 4) return null;
  while (axes.length < 4) axes.unshift({ n: 1, a: 0, b: 0 });
  const last = axes[3];
  const mode = last.a === 1 && last.b === 1 ? InnerMode.Both : last.a === 1 ? InnerMode.ScalarB : InnerMode.ScalarA;
  return {
    counts: [axes[0].n, axes[1].n, axes[2].n, axes[3].n],
    aStrides: [axes[0].a, axes[1].a, axes[2].a],
    bStrides: [axes[0].b, axes[1].b, axes[2].b],
    mode,
  };
}

/** One contiguous run of $n outputs at $o from $pa and $pb (vectors of 4, then the rest one by one). */
function innerRun(op: BinaryOp, mode: InnerMode): string {
  const vecA = mode === InnerMode.ScalarA ? "(local.get $va)" : "(v128.load (local.get $pa))";
  const vecB = mode === InnerMode.ScalarB ? "(local.get $vb)" : "(v128.load (local.get $pb))";
  const oneA = mode === InnerMode.ScalarA ? "(local.get $sa)" : "(f32.load (local.get $pa))";
  const oneB = mode === InnerMode.ScalarB ? "(local.get $sb)" : "(f32.load (local.get $pb))";
  const stepA = mode === InnerMode.ScalarA ? "" : "(local.set $pa (i32.add (local.get $pa) (i32.const STEP)))";
  const stepB = mode === InnerMode.ScalarB ? "" : "(local.set $pb (i32.add (local.get $pb) (i32.const STEP)))";
  return `(func $${op}_${mode} (param $pa i32) (param $pb i32) (param $o i32) (param $n i32)
      (local $end i32) (local $vecEnd i32) (local $sa f32) (local $sb f32) (local $va v128) (local $vb v128)
    (local.set $end (i32.add (local.get $o) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $vecEnd (i32.add (local.get $o) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    ${mode === InnerMode.ScalarA ? "(local.set $sa (f32.load (local.get $pa))) (local.set $va (f32x4.splat (local.get $sa)))" : ""}
    ${mode === InnerMode.ScalarB ? "(local.set $sb (f32.load (local.get $pb))) (local.set $vb (f32x4.splat (local.get $sb)))" : ""}
    (block $vecDone (loop $vec
      (br_if $vecDone (i32.ge_u (local.get $o) (local.get $vecEnd)))
      (v128.store (local.get $o) (f32x4.${op} ${vecA} ${vecB}))
      ${stepA.replace("STEP", "16")} ${stepB.replace("STEP", "16")}
      (local.set $o (i32.add (local.get $o) (i32.const 16)))
      (br $vec)))
    (block $tailDone (loop $tail
      (br_if $tailDone (i32.ge_u (local.get $o) (local.get $end)))
      (f32.store (local.get $o) (f32.${op} ${oneA} ${oneB}))
      ${stepA.replace("STEP", "4")} ${stepB.replace("STEP", "4")}
      (local.set $o (i32.add (local.get $o) (i32.const 4)))
      (br $tail))))`;
}

/** The outer three axes of a plan around the inner runs, for one op (exported as `binary_<op>`). */
function outerLoops(op: BinaryOp): string {
  const axis = (k: number, body: string) => `(local.set $i${k} (i32.const 0))
      (local.set $pa${k + 1} (local.get $pa${k})) (local.set $pb${k + 1} (local.get $pb${k}))
      (block $done${k} (loop $axis${k}
        (br_if $done${k} (i32.ge_u (local.get $i${k}) (local.get $n${k})))
        ${body}
        (local.set $pa${k + 1} (i32.add (local.get $pa${k + 1}) (local.get $as${k})))
        (local.set $pb${k + 1} (i32.add (local.get $pb${k + 1}) (local.get $bs${k})))
        (local.set $i${k} (i32.add (local.get $i${k}) (i32.const 1)))
        (br $axis${k})))`;
  const run = `(if (i32.eqz (local.get $mode))
          (then (call $${op}_0 (local.get $pa3) (local.get $pb3) (local.get $o) (local.get $n3)))
          (else (if (i32.eq (local.get $mode) (i32.const 1))
            (then (call $${op}_1 (local.get $pa3) (local.get $pb3) (local.get $o) (local.get $n3)))
            (else (call $${op}_2 (local.get $pa3) (local.get $pb3) (local.get $o) (local.get $n3))))))
        (local.set $o (i32.add (local.get $o) (local.get $runBytes)))`;
  return `(func (export "binary_${op}") (param $pa0 i32) (param $pb0 i32) (param $o i32)
      (param $n0 i32) (param $n1 i32) (param $n2 i32) (param $n3 i32)
      (param $as0 i32) (param $as1 i32) (param $as2 i32) (param $bs0 i32) (param $bs1 i32) (param $bs2 i32) (param $mode i32)
      (local $i0 i32) (local $i1 i32) (local $i2 i32) (local $pa1 i32) (local $pa2 i32) (local $pa3 i32)
      (local $pb1 i32) (local $pb2 i32) (local $pb3 i32) (local $runBytes i32)
    ;; strides to bytes
    ${["as0", "as1", "as2", "bs0", "bs1", "bs2"].map((s) => `(local.set $${s} (i32.shl (local.get $${s}) (i32.const 2)))`).join(" ")}
    (local.set $runBytes (i32.shl (local.get $n3) (i32.const 2)))
    ${axis(0, axis(1, axis(2, run)))})`;
}

/** The kernel text of every op (inner runs and outer loops), for the layout module. */
export function broadcastBinaryWat(): string {
  const ops = Object.values(BINARY_OPS);
  return ops
    .flatMap((op) => [innerRun(op, InnerMode.Both), innerRun(op, InnerMode.ScalarB), innerRun(op, InnerMode.ScalarA), outerLoops(op)])
    .join("\n\n  ");
}
