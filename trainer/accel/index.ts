/**
 * The accelerators' one door (docs/accelerators.md): everything outside trainer/accel/ imports from here only.
 *
 * - initBackend: picks the TensorFlow.js backend and, on wasm, installs our kernel patches and wasm kernels.
 * - fusedDense: a dense layer as one kernel while training (ops/tf-ops.ts).
 * - adamMoments: AdamW's moments and per-element update, on the wasm heap where our kernel runs (train/optimizer.ts).
 * - EmbeddingGradients: row sums of embedding-lookup gradients for lazy AdamW (train/sparse-embeddings.ts).
 * - wasmKernelStatus: what runs where (bench:train's report).
 */
export { type BackendPreference, initBackend } from "./backend/select.ts";
export { wasmKernelStatus } from "./backend/wasm.ts";
export type { AdamWConstants } from "./kernels/adamw.ts";
export type { AdamMoments, RowGradients } from "./optimizer/adam-moments.ts";
export { adamMoments } from "./optimizer/choose-moments.ts";
export { EmbeddingGradients } from "./optimizer/embedding-gradients.ts";
export type { RowSums } from "./optimizer/row-sums.ts";
export { type FusedActivation, fusedDense, fusedDenseAvailable } from "./patches/fused-dense.ts";
