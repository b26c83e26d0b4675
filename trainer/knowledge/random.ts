/**
 * Seeded randomness for the knowledge steps. Each entity gets its own stream derived from (seed, field, id), so an
 * entity's simulated knowledge does not depend on the order or number of other entities.
 */
import { hash32 } from "../../shared/hash.ts";

export type Rng = () => number;

/** mulberry32: small, fast, good enough for simulation. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function entityRng(seed: number, field: string, id: string): Rng {
  return mulberry32(hash32(`${seed}\u0000${field}\u0000${id}`));
}

export function pick<T>(rng: Rng, values: readonly T[]): T {
  return values[Math.floor(rng() * values.length)];
}

export function shuffle<T>(rng: Rng, values: T[]): T[] {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [values[i], values[j]] = [values[j], values[i]];
  }
  return values;
}

/** Up to n distinct values, in random order. */
export function sample<T>(rng: Rng, values: readonly T[], n: number): T[] {
  return shuffle(rng, values.slice()).slice(0, n);
}
