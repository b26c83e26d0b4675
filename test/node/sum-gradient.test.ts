/**
 * The Sum gradient registered by trainer/runtime/tfjs-gradients.ts (broadcast dy instead of multiplying it by a ones
 * tensor): registered in place of tfjs's, and its values are tfjs's definition to the bit, for every axis form.
 */
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { initBackend } from "../../trainer/runtime/backend.ts";
import { sumGradient } from "../../trainer/runtime/tfjs-gradients.ts";

describe("Sum gradient", () => {
  it("is ours and equals dy reshaped times ones, to the bit", async () => {
    await initBackend("wasm");
    expect(tf.getGradient(tf.Sum)).toBe(sumGradient);
    const cases: Array<[number[], number | number[] | undefined, boolean]> = [
      [[5, 7], 0, false],
      [[5, 7], 1, false],
      [[5, 7], -1, true],
      [[3, 4, 6], [0, 2], false],
      [[3, 4, 6], 1, true],
      [[3, 4, 6], undefined, false],
      [[2, 3, 4, 5], [1, 3], true],
    ];
    for (const [shape, axis, keepDims] of cases) {
      const x = tf.randomNormal(shape, 0, 1, "float32", 11);
      const reduced = tf.sum(x, axis, keepDims);
      // A different weight per output element, so dy is not uniform.
      const w = tf.randomNormal(reduced.shape, 0, 1, "float32", 12);
      const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.sum(v, axis, keepDims), w)))(x);
      // tfjs's own definition: dy with the summed axes as 1, times ones of x's shape.
      const expanded = x.shape.slice();
      for (const a of tf.util.parseAxisParam(axis ?? x.shape.map((_, i) => i), x.shape)) expanded[a] = 1;
      const expected = tf.mul(tf.reshape(w, expanded), tf.ones(x.shape));
      expect(grad.shape, JSON.stringify({ shape, axis, keepDims })).toEqual(x.shape);
      expect(new Uint32Array((await grad.data()).buffer), JSON.stringify({ shape, axis, keepDims })).toEqual(
        new Uint32Array((await expected.data()).buffer),
      );
      tf.dispose([x, reduced, w, grad, expected]);
    }
  });
});
