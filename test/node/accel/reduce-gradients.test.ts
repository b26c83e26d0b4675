/**
 * The Sum and Mean gradients registered by trainer/accel/patches/gradients.ts (ones from the Fill kernel instead of
 * tf.ones): registered in place of tfjs's, and their values are tfjs's definitions to the bit, for every axis form.
 */
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { initBackend } from "../../../trainer/accel/index.ts";
import { meanGradient, sumGradient } from "../../../trainer/accel/patches/gradients.ts";

describe("Sum and Mean gradients", () => {
  it("are ours and equal dy reshaped times ones (divided by the count for Mean), to the bit", async () => {
    await initBackend("wasm");
    expect(tf.getGradient(tf.Sum)).toBe(sumGradient);
    expect(tf.getGradient(tf.Mean)).toBe(meanGradient);
    const cases: Array<[number[], number | number[] | undefined, boolean]> = [
      [[5, 7], 0, false],
      [[5, 7], 1, false],
      [[5, 7], -1, true],
      [[3, 4, 6], [0, 2], false],
      [[3, 4, 6], 1, true],
      [[3, 4, 6], undefined, false],
      [[2, 3, 4, 5], [1, 3], true],
    ];
    for (const [shape, axis, keepDims] of cases)
      for (const reduction of ["sum", "mean"] as const) {
        const reduce = (v: tf.Tensor) => (reduction === "sum" ? tf.sum(v, axis, keepDims) : tf.mean(v, axis, keepDims));
        const x = tf.randomNormal(shape, 0, 1, "float32", 11);
        const reduced = reduce(x);
        // A different weight per output element, so dy is not uniform.
        const w = tf.randomNormal(reduced.shape, 0, 1, "float32", 12);
        const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(reduce(v), w)))(x);
        // tfjs's own definitions: dy with the reduced axes as 1, times ones of x's shape (Mean: over the count).
        const expanded = x.shape.slice();
        const axes = tf.util.parseAxisParam(axis ?? x.shape.map((_, i) => i), x.shape);
        for (const a of axes) expanded[a] = 1;
        const spread = tf.mul(tf.reshape(w, expanded), tf.ones(x.shape));
        const count = axes.reduce((n, a) => n * x.shape[a], 1);
        const expected = reduction === "sum" ? spread : tf.div(spread, count);
        const label = JSON.stringify({ reduction, shape, axis, keepDims });
        expect(grad.shape, label).toEqual(x.shape);
        expect(new Uint32Array((await grad.data()).buffer), label).toEqual(new Uint32Array((await expected.data()).buffer));
        tf.dispose([x, reduced, w, grad, spread, expected]);
      }
  });
});
