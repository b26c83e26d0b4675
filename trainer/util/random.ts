/**
 * The one seeded PRNG of the trainer (mulberry32) and the draws built on it, so nothing depends on Math.random.
 * Not for cryptography. The generator's whole state is one 32-bit integer: a checkpoint saves it and
 * `mulberry32(state)` continues the sequence exactly.
 *
 * Three ways to seed it, kept apart because each fixes existing streams (datasets, banks, model ids):
 *   mulberry32(seed)              the seed is the state (training order, PCA sampling)
 *   mixedSeedRandom(seed)         the seed is mixed first, so nearby seeds (1, 2, 3) start far apart (data steps)
 *   entityRandom(seed, field, id) one stream per entity, independent of the order and number of the others
 */
import { hash32 } from "../../shared/hash.ts";

/** Uniform in [0, 1). */
export type Random = () => number;

export interface SeededRandom extends Random {
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

export function mixedSeedRandom(seed: number): SeededRandom {
  return mulberry32((Math.imul((seed | 0) ^ 0x9e3779b9, 0x85ebca6b) ^ 0x6a09e667) >>> 0);
}

export function entityRandom(seed: number, field: string, id: string): SeededRandom {
  return mulberry32(hash32(`${seed}\u0000${field}\u0000${id}`));
}

/** Integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random() * n);
}

/** Standard normal (Box-Muller). */
export function randomNormal(random: Random): number {
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

export function pick<T>(random: Random, values: readonly T[]): T {
  return values[randomInt(random, values.length)];
}

/** In-place Fisher-Yates shuffle. */
export function shuffle<A extends { length: number; [i: number]: unknown }>(random: Random, values: A): A {
  for (let i = values.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    [values[i], values[j]] = [values[j], values[i]];
  }
  return values;
}

/** 0..n-1 in random order. */
export function shuffled(n: number, random: Random): Int32Array {
  return shuffle(
    random,
    Int32Array.from({ length: n }, (_, i) => i),
  );
}

/** Up to n distinct values, in random order. */
export function sample<T>(random: Random, values: readonly T[], n: number): T[] {
  return shuffle(random, values.slice()).slice(0, n);
}

/** The draws above on one mixed-seed stream, as methods: the form the data steps use. */
export class Rng {
  readonly next: SeededRandom;

  constructor(seed: number) {
    this.next = mixedSeedRandom(seed);
  }

  int(n: number): number {
    return randomInt(this.next, n);
  }

  normal(): number {
    return randomNormal(this.next);
  }

  pick<T>(values: readonly T[]): T {
    return pick(this.next, values);
  }

  shuffle<T>(values: T[]): T[] {
    return shuffle(this.next, values);
  }
}
