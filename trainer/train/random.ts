/**
 * A small seeded PRNG (mulberry32) and a seeded shuffle: training order must not depend on Math.random. The
 * generator's whole state is one 32-bit integer, so a checkpoint can save it and a resumed run continues the
 * same sequence.
 */
export interface SeededRandom {
  (): number;
  /** The current state; `mulberry32(state)` continues the sequence exactly. */
  state(): number;
}

export function mulberry32(seed: number): SeededRandom {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Object.assign(next, { state: () => a });
}

export function shuffled(n: number, random: () => number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
