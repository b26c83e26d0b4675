/**
 * A relu dense layer as one kernel while training (trainer/accel/patches/fused-dense.ts) and relu's gradient as one kernel
 * (relu-gradient.ts): the same values and gradients as tfjs's own kernels, to the bit, on the wasm backend.
 */
import * as tf from "@tensorflow/tfjs-core";
import { afterEach, describe, expect, it } from "vitest";
import { REFERENCE_SHAPE, referenceShapeLogit } from "../../../bench/reference-shape.ts";
import { initBackend } from "../../../trainer/accel/index.ts";
import { wasmLayoutStatus } from "../../../trainer/accel/kernels/layout/layout.ts";
import { fusedDense, fusedDenseAvailable, fusedMatMulGradient } from "../../../trainer/accel/patches/fused-dense.ts";
import { reluGradientConfig } from "../../../trainer/accel/patches/gradients.ts";
import { reluGradient } from "../../../trainer/accel/patches/relu-gradient.ts";
import { ParamStore, TfOps } from "../../../trainer/ops/tf-ops.ts";
import { AdamW } from "../../../trainer/train/optimizer.ts";
import { bceWithLogits } from "../../../trainer/train/train.ts";

const bits = async (t: tf.Tensor) => new Uint32Array((await t.data()).buffer.slice(0));

afterEach(() => {
  delete process.env.KSER_WASM_FUSED_DENSE;
});

describe("relu's gradient in one kernel", () => {
  it("is dy * step(x) to the bit, NaN where x is NaN, for every length (vector body and tail)", async () => {
    await initBackend("wasm");
    expect(tf.getGradient(tf.Relu)).toBe(reluGradientConfig);
    for (const n of [1, 3, 4, 7, 64, 1001]) {
      const xs = Float32Array.from({ length: n }, (_, i) => [0, -0, Number.NaN, 1.5, -2.25, 3e-39, -1e30][i % 7] * (1 + (i % 5)));
      const dys = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? -1 : 1) * (0.5 + i / 7));
      const x = tf.tensor1d(xs);
      const dy = tf.tensor1d(dys);
      const calls = wasmLayoutStatus().calls;
      const got = reluGradient(dy, x);
      expect(wasmLayoutStatus().calls, `n=${n}`).toBe(calls + 1);
      // tfjs's Step: 1 where x > 0, NaN where x is NaN, else 0; then a float32 product.
      const want = Float32Array.from(xs, (v, i) => Math.fround(dys[i] * (v > 0 ? 1 : Number.isNaN(v) ? Number.NaN : 0)));
      expect(await bits(got), `n=${n}`).toEqual(new Uint32Array(want.buffer));
      tf.dispose([x, dy, got]);
    }
  });

  it("gives tf.grad of relu the values of tfjs's definition (dy times the float32 step of x)", async () => {
    await initBackend("wasm");
    const x = tf.randomNormal([37, 29], 0, 1, "float32", 3);
    const w = tf.randomNormal([37, 29], 0, 1, "float32", 4);
    const got = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.relu(v), w)))(x);
    const want = tf.mul(w, tf.cast(tf.step(x), "float32"));
    expect(await bits(got)).toEqual(await bits(want));
    tf.dispose([x, w, got, want]);
  });
});

describe("a relu dense layer as one kernel while training", () => {
  /** Values and gradients of relu(x W + b) through `layer`, for a loss that weights each output differently. */
  function valueAndGrads(
    layer: (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor,
    x: tf.Tensor2D,
    w: tf.Tensor2D,
    b: tf.Tensor1D,
  ) {
    const weights = tf.randomNormal([x.shape[0], w.shape[1]], 0, 1, "float32", 9);
    const { value, grads } = tf.valueAndGrads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(tf.mul(layer(xx as tf.Tensor2D, ww as tf.Tensor2D, bb as tf.Tensor1D), weights)),
    )([x, w, b]);
    const forward = layer(x, w, b);
    return { value, grads, forward, weights };
  }

  it("has the forward values and the x, W and b gradients of MatMul + Add + Relu, to the bit", async () => {
    await initBackend("wasm");
    // Only for products our GEMM computes: tfjs's kernel adds the bias first (other roundings).
    expect(fusedDenseAvailable(96, 80, 72)).toBe(true);
    expect(fusedDenseAvailable(5, 6, 7)).toBe(false);
    expect(fusedDenseAvailable(4, 1000, 1000)).toBe(false);
    expect(tf.getGradient(tf._FusedMatMul)).toBe(fusedMatMulGradient);
    // A product our GEMM takes, and one small enough for tfjs's own kernel (2-D operands given to it as 3-D views).
    for (const [n, k, m] of [
      [96, 80, 72],
      [5, 6, 7],
    ]) {
      const x = tf.randomNormal([n, k], 0, 1, "float32", 1) as tf.Tensor2D;
      const w = tf.randomNormal([k, m], 0, 0.3, "float32", 2) as tf.Tensor2D;
      const b = tf.randomNormal([m], 0, 0.5, "float32", 3) as tf.Tensor1D;
      const fused = valueAndGrads((xx, ww, bb) => fusedDense(xx, ww, bb, "relu"), x, w, b);
      const plain = valueAndGrads((xx, ww, bb) => tf.relu(tf.add(tf.matMul(xx, ww), bb)), x, w, b);
      const label = `[${n},${k}] x [${k},${m}]`;
      expect(fused.forward.shape, label).toEqual([n, m]);
      const tolerance = n * k * m < 32_768;
      if (tolerance) {
        // tfjs's fused kernel adds the bias first, then the products: other roundings, same values.
        expect(tf.max(tf.abs(tf.sub(fused.forward, plain.forward))).dataSync()[0], label).toBeLessThan(1e-5);
        for (let i = 0; i < 3; i++) expect(tf.max(tf.abs(tf.sub(fused.grads[i], plain.grads[i]))).dataSync()[0], label).toBeLessThan(1e-5);
      } else {
        expect(await bits(fused.forward), label).toEqual(await bits(plain.forward));
        expect(await bits(fused.value), label).toEqual(await bits(plain.value));
        for (let i = 0; i < 3; i++) expect(await bits(fused.grads[i]), `${label} gradient ${i}`).toEqual(await bits(plain.grads[i]));
      }
    }
  });

  it("differentiates either operand transposed like MatMul, and rejects an activation it has no gradient for", async () => {
    await initBackend("wasm");
    const [n, k, m] = [64, 48, 40];
    for (const [transposeA, transposeB] of [
      [false, true],
      [true, false],
      [true, true],
    ]) {
      const a = tf.randomNormal(transposeA ? [k, n] : [n, k], 0, 1, "float32", 5);
      const b = tf.randomNormal(transposeB ? [m, k] : [k, m], 0, 0.3, "float32", 6);
      const bias = tf.randomNormal([m], 0, 0.5, "float32", 7);
      const weights = tf.randomNormal([n, m], 0, 1, "float32", 8);
      const loss = (layer: (aa: tf.Tensor, bb: tf.Tensor, cc: tf.Tensor) => tf.Tensor) =>
        tf.grads((aa: tf.Tensor, bb: tf.Tensor, cc: tf.Tensor) => tf.sum(tf.mul(layer(aa, bb, cc), weights)))([a, b, bias]);
      const fused = loss(
        (aa, bb, cc) =>
          tf.engine().runKernel(tf._FusedMatMul, { a: aa, b: bb, bias: cc }, { transposeA, transposeB, activation: "relu" }) as tf.Tensor,
      );
      const plain = loss((aa, bb, cc) => tf.relu(tf.add(tf.matMul(aa, bb, transposeA, transposeB), cc)));
      for (let i = 0; i < 3; i++) expect(await bits(fused[i]), `${transposeA} ${transposeB} gradient ${i}`).toEqual(await bits(plain[i]));
    }
    const a = tf.randomNormal([8, 8]);
    expect(() =>
      tf.grad((v: tf.Tensor) =>
        tf.sum(
          tf
            .engine()
            .runKernel(
              tf._FusedMatMul,
              { a: v, b: a, bias: tf.zeros([8]) },
              { transposeA: false, transposeB: false, activation: "elu" },
            ) as tf.Tensor,
        ),
      )(a),
    ).toThrow(/no gradient for _FusedMatMul with activation "elu"/);
  });

  it("is what TfOps.dense runs while training, and trains the reference model to the same bits as tfjs's kernels", async () => {
    await initBackend("wasm");
    const x = tf.randomNormal([64, 32], 0, 1, "float32", 1);
    const store = new ParamStore(true, 3);
    const names = async () =>
      new Set(
        (
          await tf.profile(() => {
            tf.grad((v: tf.Tensor) =>
              tf.sum(
                new TfOps(store, new Map()).dense(
                  v,
                  store.get("d/w", [32, 48], { kind: "glorot" }),
                  store.get("d/b", [48], { kind: "zeros" }),
                  "relu",
                ),
              ),
            )(x);
          })
        ).kernels.map((kernel) => kernel.name),
      );
    const fused = await names();
    expect(fused.has(tf._FusedMatMul)).toBe(true);
    expect(fused.has(tf.Relu) || fused.has(tf.Add)).toBe(false);
    process.env.KSER_WASM_FUSED_DENSE = "off";
    const plain = await names();
    expect(plain.has(tf.Relu) && plain.has(tf.Add) && plain.has(tf.BatchMatMul)).toBe(true);
    tf.disposeVariables();

    // Six AdamW steps of the reference model (dense layers 128 -> 16, 160 -> 256 -> 128 relu) both ways.
    const batch = 128;
    const ids = tf.randomUniform([batch, REFERENCE_SHAPE.idFields], 0, REFERENCE_SHAPE.vocab, "int32", 1);
    const dense = [0, 1].map((i) => tf.randomNormal([batch, REFERENCE_SHAPE.denseDim], 0, 1, "float32", 2 + i));
    const labels = tf.cast(tf.greater(tf.randomUniform([batch], 0, 1, "float32", 4), 0.5), "float32");
    const train = (mode: "on" | "off") => {
      process.env.KSER_WASM_FUSED_DENSE = mode;
      const params = new ParamStore(true, 7);
      const loss = () => bceWithLogits(referenceShapeLogit(new TfOps(params, new Map()), ids, dense), labels);
      tf.tidy(loss);
      const vars = new Map([...params.tensors].map(([name, t]) => [name, t as tf.Variable]));
      const optimizer = new AdamW(vars);
      for (let i = 0; i < 6; i++) tf.tidy(() => optimizer.apply(tf.variableGrads(loss, [...vars.values()]).grads, 1e-2));
      const values = new Map([...params.tensors].map(([name, t]) => [name, new Uint32Array(t.dataSync().slice().buffer)]));
      tf.disposeVariables();
      return values;
    };
    const withFused = train("on");
    const withTfjs = train("off");
    expect([...withFused.keys()]).toEqual([...withTfjs.keys()]);
    for (const [name, values] of withFused) expect(values, name).toEqual(withTfjs.get(name));
  });
});
