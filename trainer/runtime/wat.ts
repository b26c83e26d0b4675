/**
 * Assembles the WebAssembly text our wasm kernels are written in (wasm-gemm.ts, wasm-adamw.ts) with wabt, loaded
 * once on first use.
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
