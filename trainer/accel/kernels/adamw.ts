/**
 * The AdamW update as a WebAssembly kernel on the tfjs wasm heap, in text we write here and assemble with wabt.
 *
 * Why: the update is a handful of flops per element over every updated element of a step (the dense layers plus the
 * embedding rows a batch touched); this kernel does four elements per pass, two at a time in f64x2. What is left is
 * mostly cache misses on the scattered embedding rows and their moments (reading the next rows ahead does not help).
 *
 * The arithmetic is the JS loop's, operation for operation, in float64 (what JS computes in) with float32 loads and
 * stores (what the Float32Arrays round to): wasm's f64 add, multiply, divide and square root are IEEE-exact like
 * JS's, and neither fuses a multiply with an add, so the results are bit-identical to the JS update (tested).
 */
import { assembleWat, heapImport, joinLow, promoteHigh, promoteLow } from "../wasm/wat.ts";

/**
 * The update of two elements in f64x2 (suffix V) or one in f64 (suffix S): `g`, `m`, `v`, `w` are float64 values,
 * `demote` rounds to float32 (kept in the low lanes), `promote` reads such a float32 back as float64.
 */
function moments(t: "f64x2" | "f64", K: (c: string) => string, g: string, m: string, v: string) {
  return {
    // m = b1 m + c1 g; v = b2 v + (c2 g) g: the JS loop's order of operations.
    m: `(${t}.add (${t}.mul ${K("B1")} ${m}) (${t}.mul ${K("C1")} ${g}))`,
    v: `(${t}.add (${t}.mul ${K("B2")} ${v}) (${t}.mul (${t}.mul ${K("C2")} ${g}) ${g}))`,
  };
}
/** w decay - (step m) / (sqrt(v) + eps), m and v the stored (float32) moments. */
const weight = (t: "f64x2" | "f64", K: (c: string) => string, w: string, m: string, v: string) =>
  `(${t}.sub (${t}.mul ${w} ${K("DECAY")}) (${t}.div (${t}.mul ${K("STEP")} ${m}) (${t}.add (${t}.sqrt ${v}) ${K("EPS")})))`;

const CONSTANTS = ["B1", "B2", "C1", "C2", "EPS", "DECAY", "STEP"] as const;

function moduleWat(shared: boolean): string {
  const vec = (c: string) => `(global.get $${c}v)`;
  const sca = (c: string) => `(global.get $${c})`;
  const halves = (["Lo", "Hi"] as const).map((h) => {
    const half = h === "Lo" ? promoteLow : promoteHigh;
    const mv = moments("f64x2", vec, `(local.get $g${h})`, half("(local.get $m4)"), half("(local.get $v4)"));
    return `(local.set $g${h} ${half("(local.get $g4)")})
      (local.set $m${h} (f32x4.demote_f64x2_zero ${mv.m}))
      (local.set $v${h} (f32x4.demote_f64x2_zero ${mv.v}))
      (local.set $w${h} (f32x4.demote_f64x2_zero ${weight("f64x2", vec, half("(local.get $w4)"), promoteLow(`(local.get $m${h})`), promoteLow(`(local.get $v${h})`))}))`;
  });
  const scalar = moments(
    "f64",
    sca,
    "(local.get $gs)",
    "(f64.promote_f32 (f32.load (local.get $m)))",
    "(f64.promote_f32 (f32.load (local.get $v)))",
  );
  return `(module
  ${heapImport(shared)}
  ${CONSTANTS.map((c) => `(global $${c} (mut f64) (f64.const 0)) (global $${c}v (mut v128) (v128.const i64x2 0 0))`).join("\n  ")}

  (func (export "setConstants") ${CONSTANTS.map((c) => `(param $${c} f64)`).join(" ")}
    ${CONSTANTS.map((c) => `(global.set $${c} (local.get $${c})) (global.set $${c}v (f64x2.splat (local.get $${c})))`).join("\n    ")})

  ;; n consecutive elements: w (updated in place), its gradient g and moments m, v, all float32 at byte offsets.
  (func $range (param $w i32) (param $g i32) (param $m i32) (param $v i32) (param $n i32)
      (local $vecEnd i32) (local $end i32)
      (local $g4 v128) (local $m4 v128) (local $v4 v128) (local $w4 v128)
      (local $gLo v128) (local $gHi v128) (local $mLo v128) (local $mHi v128) (local $vLo v128) (local $vHi v128)
      (local $wLo v128) (local $wHi v128) (local $gs f64) (local $ms f32) (local $vs f32)
    (local.set $vecEnd (i32.add (local.get $w) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (local.set $end (i32.add (local.get $w) (i32.shl (local.get $n) (i32.const 2))))
    (block $vecDone (loop $vec
      (br_if $vecDone (i32.ge_u (local.get $w) (local.get $vecEnd)))
      (local.set $g4 (v128.load (local.get $g)))
      (local.set $m4 (v128.load (local.get $m)))
      (local.set $v4 (v128.load (local.get $v)))
      (local.set $w4 (v128.load (local.get $w)))
      ${halves.join("\n      ")}
      (v128.store (local.get $m) ${joinLow("(local.get $mLo)", "(local.get $mHi)")})
      (v128.store (local.get $v) ${joinLow("(local.get $vLo)", "(local.get $vHi)")})
      (v128.store (local.get $w) ${joinLow("(local.get $wLo)", "(local.get $wHi)")})
      (local.set $w (i32.add (local.get $w) (i32.const 16)))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $m (i32.add (local.get $m) (i32.const 16)))
      (local.set $v (i32.add (local.get $v) (i32.const 16)))
      (br $vec)))
    (block $tailDone (loop $tail
      (br_if $tailDone (i32.ge_u (local.get $w) (local.get $end)))
      (local.set $gs (f64.promote_f32 (f32.load (local.get $g))))
      (local.set $ms (f32.demote_f64 ${scalar.m}))
      (local.set $vs (f32.demote_f64 ${scalar.v}))
      (f32.store (local.get $m) (local.get $ms))
      (f32.store (local.get $v) (local.get $vs))
      (f32.store (local.get $w) (f32.demote_f64 ${weight("f64", sca, "(f64.promote_f32 (f32.load (local.get $w)))", "(f64.promote_f32 (local.get $ms))", "(f64.promote_f32 (local.get $vs))")}))
      (local.set $w (i32.add (local.get $w) (i32.const 4)))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $m (i32.add (local.get $m) (i32.const 4)))
      (local.set $v (i32.add (local.get $v) (i32.const 4)))
      (br $tail))))

  ;; A whole parameter of rows x rowBytes, gradient laid out the same; row r only where mask is 0 or mask[r] != 0.
  (func (export "dense") (param $w i32) (param $g i32) (param $m i32) (param $v i32) (param $rows i32)
      (param $rowBytes i32) (param $mask i32)
      (local $r i32) (local $at i32)
    (block $done (loop $row
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (if (i32.or (i32.eqz (local.get $mask)) (i32.load8_u (i32.add (local.get $mask) (local.get $r))))
        (then (call $range (i32.add (local.get $w) (local.get $at)) (i32.add (local.get $g) (local.get $at))
          (i32.add (local.get $m) (local.get $at)) (i32.add (local.get $v) (local.get $at))
          (i32.shr_u (local.get $rowBytes) (i32.const 2)))))
      (local.set $at (i32.add (local.get $at) (local.get $rowBytes)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $row))))

  ;; count rows of a table: row ids[s] (int32) with gradient row s of g; same mask rule.
  (func (export "sparse") (param $w i32) (param $g i32) (param $m i32) (param $v i32) (param $ids i32)
      (param $count i32) (param $rowBytes i32) (param $mask i32)
      (local $s i32) (local $r i32) (local $at i32)
    (block $done (loop $row
      (br_if $done (i32.ge_u (local.get $s) (local.get $count)))
      (local.set $r (i32.load (i32.add (local.get $ids) (i32.shl (local.get $s) (i32.const 2)))))
      (local.set $at (i32.mul (local.get $r) (local.get $rowBytes)))
      (if (i32.or (i32.eqz (local.get $mask)) (i32.load8_u (i32.add (local.get $mask) (local.get $r))))
        (then (call $range (i32.add (local.get $w) (local.get $at))
          (i32.add (local.get $g) (i32.mul (local.get $s) (local.get $rowBytes)))
          (i32.add (local.get $m) (local.get $at)) (i32.add (local.get $v) (local.get $at))
          (i32.shr_u (local.get $rowBytes) (i32.const 2)))))
      (local.set $s (i32.add (local.get $s) (i32.const 1)))
      (br $row))))
)`;
}

export interface AdamWConstants {
  b1: number;
  b2: number;
  c1: number;
  c2: number;
  eps: number;
  decay: number;
  stepSize: number;
}

/** The kernel's entry points; every pointer is a byte offset into the heap it was instantiated on. */
export interface WasmAdamW {
  setConstants(k: AdamWConstants): void;
  /** Updates `rows` rows of `rowBytes` bytes in place; `mask` (0 for none) points at one byte per row, 0 = frozen. */
  dense(w: number, g: number, m: number, v: number, rows: number, rowBytes: number, mask: number): void;
  /** Updates rows ids[0..count) of a table in place from `count` gradient rows; same mask rule. */
  sparse(w: number, g: number, m: number, v: number, ids: number, count: number, rowBytes: number, mask: number): void;
}

type AdamWExports = {
  setConstants(...k: number[]): void;
  dense: WasmAdamW["dense"];
  sparse: WasmAdamW["sparse"];
};

/** Assembles and compiles the kernel (plain SIMD: no flags needed on Node 20); `sharedHeap` as in compileLayout. */
export async function compileAdamW(sharedHeap = false): Promise<WebAssembly.Module> {
  return new WebAssembly.Module(await assembleWat(`kser-adamw${sharedHeap ? "-shared" : ""}.wat`, moduleWat(sharedHeap)));
}

export function instantiateAdamW(module: WebAssembly.Module, memory: WebAssembly.Memory): WasmAdamW {
  const kernel = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as AdamWExports;
  return {
    setConstants: (k) => kernel.setConstants(k.b1, k.b2, k.c1, k.c2, k.eps, k.decay, k.stepSize),
    dense: kernel.dense,
    sparse: kernel.sparse,
  };
}

let enabled: WebAssembly.Module | null = null;

/** Makes the compiled kernel the one optimizers created on the wasm backend use from now on (null: none). */
export function enableWasmAdamW(module: WebAssembly.Module | null): void {
  enabled = module;
}

/** The kernel the backend set-up enabled (backend/wasm.ts; not when KSER_WASM_ADAMW=off), or null. */
export function enabledWasmAdamW(): WebAssembly.Module | null {
  return enabled;
}
