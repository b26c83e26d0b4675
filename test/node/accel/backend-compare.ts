/**
 * Comparing one computation across tfjs backends (wasm with our kernels against the cpu reference): values are read
 * out as plain arrays inside the tidy that made them, then compared key by key.
 */
import type * as tf from "@tensorflow/tfjs-core";
import { expect } from "vitest";

export type Snapshot = Record<string, { shape: number[]; values: number[] }>;

export function snapshot(tensors: Record<string, tf.Tensor>): Snapshot {
  return Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, { shape: t.shape, values: Array.from(t.dataSync()) }]));
}

/**
 * Same keys' shapes equal and values within `tolerance` of the reference, each failure naming its key. NaN matches
 * only NaN, and an infinity only the same infinity.
 */
export function expectSameValues(actual: Snapshot, reference: Snapshot, tolerance: number): void {
  for (const key of Object.keys(reference)) {
    expect(actual[key].shape, key).toEqual(reference[key].shape);
    let diff = 0;
    actual[key].values.forEach((v, i) => {
      const r = reference[key].values[i];
      // A NaN difference (NaN on one side, or opposite infinities) makes diff NaN, which fails the check below.
      diff = Object.is(v, r) || v === r ? diff : Math.max(diff, Math.abs(v - r));
    });
    expect(diff, key).toBeLessThan(tolerance);
  }
}
