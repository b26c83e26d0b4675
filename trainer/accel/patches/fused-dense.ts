/**
 * A dense layer (x W + b, then relu or nothing) as one _FusedMatMul kernel while training, with its own gradient.
 *
 * Why: under a gradient tape tfjs's fused.matMul fuses only linear layers, and then through a customGrad that
 * reshapes every operand to 3-D; a relu layer becomes MatMul + Add + Relu, and its backward pass Step + Cast +
 * Multiply before the products. On wasm our GEMM (gemm-routing.ts) adds the bias and applies relu as it stores each
 * tile, so the forward pass is one kernel; the backward pass is relu's gradient in one kernel (relu-gradient.ts),
 * the two products and the bias sum. The arithmetic is tfjs's: the bias is added to the finished product, relu's
 * gradient is dy * step, the products and sums are the same kernels, so training gives the same bits (tested).
 */
import * as tf from "@tensorflow/tfjs-core";
import { gemmTakesDense, wasmGemmStatus } from "./gemm-routing.ts";
import { reluGradient } from "./relu-gradient.ts";

export type FusedActivation = "linear" | "relu";

/**
 * Whether `fusedDense` runs here for x [m, k] times W [k, n]: on wasm with our GEMM, whose _FusedMatMul takes 2-D
 * operands, for a product it computes itself (tfjs's kernel would add the bias first: other bits), unless
 * KSER_WASM_FUSED_DENSE=off (tfjs's three kernels; the same results, for comparison).
 */
export function fusedDenseAvailable(m: number, k: number, n: number): boolean {
  return (
    tf.getBackend() === "wasm" && process.env.KSER_WASM_FUSED_DENSE !== "off" && wasmGemmStatus().registered && gemmTakesDense(m, k, n)
  );
}

/** act(x W + b) for 2-D x [n, in], W [in, out], b [out], as one kernel whose gradient is `fusedMatMulGradient`. */
export function fusedDense(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, activation: FusedActivation): tf.Tensor2D {
  return tf
    .engine()
    .runKernel(tf._FusedMatMul, { a: x, b: w, bias: b }, { transposeA: false, transposeB: false, activation }) as tf.Tensor2D;
}

/**
 * The gradient of _FusedMatMul with a bias and a linear or relu activation, as tfjs's fused.matMul defines it:
 * dyAct = dy (linear) or relu's gradient at the output; da, db the two products with dyAct; the bias gradient dyAct
 * summed over every axis but the last. Each is computed only when the tape asks for it.
 */
export const fusedMatMulGradient: tf.GradConfig = {
  kernelName: tf._FusedMatMul,
  inputsToSave: ["a", "b"],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [a, b, y] = saved;
    const { transposeA, transposeB, activation } = attrs as unknown as { transposeA: boolean; transposeB: boolean; activation: string };
    if (activation !== "linear" && activation !== "relu") {
      throw new Error(`no gradient for _FusedMatMul with activation "${activation}" (fusedDense takes linear or relu)`);
    }
    const g = dy as tf.Tensor;
    const dyAct = activation === "relu" ? reluGradient(g, y) : g;
    const leadAxes = Array.from({ length: dyAct.rank - 1 }, (_, i) => i);
    // tfjs's MatMul gradients for each pair of transposes.
    return {
      a: () => (transposeA ? tf.matMul(b, dyAct, transposeB, true) : tf.matMul(dyAct, b, false, !transposeB)),
      b: () => (transposeB ? tf.matMul(dyAct, a, true, transposeA) : tf.matMul(a, dyAct, !transposeA, false)),
      bias: () => tf.sum(dyAct, leadAxes),
    };
  },
};
