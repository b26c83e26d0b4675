/**
 * The most float32 arithmetic this CPU does in wasm's 128-bit SIMD on one thread: independent accumulators updated by
 * a multiply and an add (or relaxed SIMD's fused multiply-add) in a loop, no memory traffic. No wasm GEMM can beat
 * it, so the edge bench sets the backbone's dense-layer rate in workerd against it.
 */
import { assembleWat, relaxedSimdModule } from "../trainer/accel/wasm/wat.ts";

/** Enough independent chains to cover the adds' and multiplies' latency with two of each issued per cycle. */
const ACCUMULATORS = 12;

function peakModule(fused: boolean): string {
  const locals = Array.from({ length: ACCUMULATORS }, (_, i) => `(local $a${i} v128)`).join(" ");
  const step = Array.from({ length: ACCUMULATORS }, (_, i) =>
    fused
      ? `(local.set $a${i} (f32x4.relaxed_madd (local.get $a${i}) (local.get $m) (local.get $c)))`
      : `(local.set $a${i} (f32x4.add (f32x4.mul (local.get $a${i}) (local.get $m)) (local.get $c)))`,
  ).join("\n");
  // The sum keeps every chain live, so none is optimised away.
  let sum = "(local.get $a0)";
  for (let i = 1; i < ACCUMULATORS; i++) sum = `(f32x4.add ${sum} (local.get $a${i}))`;
  return `(module (func (export "run") (param $n i32) (result f32) (local $m v128) (local $c v128) ${locals}
    (local.set $m (f32x4.splat (f32.const 0.999))) (local.set $c (f32x4.splat (f32.const 0.001)))
    (loop $l ${step} (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n)))
    (f32x4.extract_lane 0 ${sum})))`;
}

function gflops(module: WebAssembly.Module): number {
  const instance = new WebAssembly.Instance(module);
  const run = (instance.exports as unknown as { run: (n: number) => number }).run;
  for (let i = 0; i < 5; i++) run(1_000_000); // until V8 has tiered the loop up
  const iterations = 10_000_000;
  let best = 0;
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    run(iterations);
    const seconds = (performance.now() - t0) / 1000;
    best = Math.max(best, (iterations * ACCUMULATORS * 8) / seconds / 1e9); // 4 lanes x (multiply + add)
  }
  return best;
}

/** Best of 5 runs, GFLOP/s: multiply then add, and fused (null where relaxed SIMD cannot be enabled). */
export async function wasmSimdPeakGflops(): Promise<{ mulAdd: number; fused: number | null }> {
  const mulAdd = gflops(new WebAssembly.Module(await assembleWat("simd-peak-mul-add.wat", peakModule(false))));
  const fusedModule = relaxedSimdModule(await assembleWat("simd-peak-fused.wat", peakModule(true)));
  return { mulAdd, fused: fusedModule ? gflops(fusedModule) : null };
}
