/**
 * Assembles the WebAssembly text our wasm kernels are written in (kernels/gemm/gemm.ts, kernels/adamw.ts, kernels/layout/) with
 * wabt, loaded once on first use; compiles what uses relaxed SIMD; and the text of lane moves the float64 kernels share.
 */
import v8 from "node:v8";

type Wabt = {
  parseWat(
    name: string,
    text: string,
    features: Record<string, boolean>,
  ): {
    toBinary(o: object): { buffer: Uint8Array };
    destroy(): void;
  };
};

let wabtReady: Promise<Wabt> | null = null;

/** The binary of module text `text`; `name` appears in wabt's error messages. SIMD and relaxed SIMD are accepted. */
export async function assembleWat(name: string, text: string): Promise<Uint8Array> {
  wabtReady ??= import("wabt").then((mod) => (mod.default as unknown as () => Promise<Wabt>)());
  const wabt = await wabtReady;
  const parsed = wabt.parseWat(name, text, { simd: true, relaxed_simd: true, threads: true });
  try {
    return parsed.toBinary({}).buffer;
  } finally {
    parsed.destroy();
  }
}

/**
 * The compiled module of `bytes`, which use relaxed SIMD; null where this V8 cannot run it. Relaxed SIMD is on by
 * default from V8 11.4 (Node 22); Node 20's V8 has it behind a flag, which takes effect for modules compiled after it
 * is set.
 */
export function relaxedSimdModule(bytes: Uint8Array): WebAssembly.Module | null {
  if (!WebAssembly.validate(bytes)) v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  return WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
}

/**
 * The import of the tfjs heap every kernel of ours works on. `shared`: the heap is shared memory (tfjs's threaded
 * build, shared-heap.ts), whose maximum is 4 GiB (65,536 pages); an import may not declare less than it has.
 */
export const heapImport = (shared: boolean) => `(import "env" "memory" ${shared ? "(memory 1 65536 shared)" : "(memory 1)"})`;

/** WAT for the float32 lanes 0-1 of f32x4 `x` as an f64x2. */
export const promoteLow = (x: string) => `(f64x2.promote_low_f32x4 ${x})`;
/** WAT for the float32 lanes 2-3 of f32x4 `x` as an f64x2. */
export const promoteHigh = (x: string) => `(f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${x} ${x}))`;
/** WAT joining the low two float32 lanes of `a` and of `b` (e.g. two f32x4.demote_f64x2_zero results) into one f32x4. */
export const joinLow = (a: string, b: string) => `(i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 ${a} ${b})`;
/** The bytes of `i8x16.shuffle` that pick these four 32-bit lanes out of its two operands (0-3 first, 4-7 second). */
const lanes32 = (...lanes: number[]) => lanes.flatMap((l) => [0, 1, 2, 3].map((b) => 4 * l + b)).join(" ");

/**
 * A 4 x 4 transpose of the float rows in v128 locals $r0..$r3: `pairs` sets the locals $lo01, $lo23, $hi01, $hi23
 * (interleaved row pairs), after which `columns[q]` is column q of the input as one vector (GEMM packing, Transpose).
 */
export const transpose4x4 = {
  pairs: `(local.set $lo01 (i8x16.shuffle ${lanes32(0, 4, 1, 5)} (local.get $r0) (local.get $r1)))
      (local.set $lo23 (i8x16.shuffle ${lanes32(0, 4, 1, 5)} (local.get $r2) (local.get $r3)))
      (local.set $hi01 (i8x16.shuffle ${lanes32(2, 6, 3, 7)} (local.get $r0) (local.get $r1)))
      (local.set $hi23 (i8x16.shuffle ${lanes32(2, 6, 3, 7)} (local.get $r2) (local.get $r3)))`,
  columns: [
    `(i8x16.shuffle ${lanes32(0, 1, 4, 5)} (local.get $lo01) (local.get $lo23))`,
    `(i8x16.shuffle ${lanes32(2, 3, 6, 7)} (local.get $lo01) (local.get $lo23))`,
    `(i8x16.shuffle ${lanes32(0, 1, 4, 5)} (local.get $hi01) (local.get $hi23))`,
    `(i8x16.shuffle ${lanes32(2, 3, 6, 7)} (local.get $hi01) (local.get $hi23))`,
  ],
};
