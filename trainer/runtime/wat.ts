/**
 * Assembles the WebAssembly text our wasm kernels are written in (wasm-gemm.ts, wasm-adamw.ts, wasm-layout.ts) with
 * wabt, loaded once on first use; and the text of lane moves the float64 kernels share.
 */
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
  const parsed = wabt.parseWat(name, text, { simd: true, relaxed_simd: true });
  try {
    return parsed.toBinary({}).buffer;
  } finally {
    parsed.destroy();
  }
}

/** WAT for the float32 lanes 0-1 of f32x4 `x` as an f64x2. */
export const promoteLow = (x: string) => `(f64x2.promote_low_f32x4 ${x})`;
/** WAT for the float32 lanes 2-3 of f32x4 `x` as an f64x2. */
export const promoteHigh = (x: string) => `(f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${x} ${x}))`;
/** WAT joining the low two float32 lanes of `a` and of `b` (e.g. two f32x4.demote_f64x2_zero results) into one f32x4. */
export const joinLow = (a: string, b: string) => `(i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 ${a} ${b})`;
/** The bytes of `i8x16.shuffle` that pick these four 32-bit lanes out of its two operands (0-3 first, 4-7 second). */
export const lanes32 = (...lanes: number[]) => lanes.flatMap((l) => [0, 1, 2, 3].map((b) => 4 * l + b)).join(" ");
