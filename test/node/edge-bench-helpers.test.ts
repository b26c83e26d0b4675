/**
 * What bench:edge derives besides timings: the dense-layer work a candidate adds, read from an exported backbone,
 * and this CPU's wasm SIMD ceiling.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { denseMacsPerCandidate } from "../../bench/backbone-in-node.ts";
import { wasmSimdPeakGflops } from "../../bench/wasm-simd-peak.ts";
import { initBackend } from "../../trainer/accel/index.ts";
import { exportOnnx } from "../../trainer/export/onnx-export.ts";
import { configFor, seededWeights, trainedModelOf } from "./models-fixtures.ts";

beforeAll(async () => {
  await initBackend("wasm", () => {});
});

describe("denseMacsPerCandidate", () => {
  // DeepFM's DNN is [256, 128] then 1; its first layer's per-candidate rows are the item fields (and, with
  // knowledge, the item's aligned vector), the user side being a batch-1 MatMul that does not grow with candidates.
  it.each([
    ["kser", 1],
    ["none", 0],
  ] as const)("counts the per-candidate Gemm weights of DeepFM + %s", (extractor, itemKnowledgeFields) => {
    const cfg = configFor("deepfm", extractor);
    const graphs = exportOnnx(trainedModelOf(cfg, seededWeights(cfg)));
    const perRowInputs = (cfg.spec.itemFields.length + itemKnowledgeFields) * cfg.embeddingDim;
    expect(denseMacsPerCandidate(graphs.backbone.bytes)).toBe(perRowInputs * 256 + 256 * 128 + 128 * 1);
  });

  it("refuses bytes that hold no graph", () => {
    expect(() => denseMacsPerCandidate(new Uint8Array([8, 8]))).toThrow(/no graph/);
  });
});

describe("wasmSimdPeakGflops", () => {
  it("measures a finite, positive rate, fused no less than half the separate one", async () => {
    const peak = await wasmSimdPeakGflops();
    expect(Number.isFinite(peak.mulAdd) && peak.mulAdd > 0.1).toBe(true);
    // Node 20 enables relaxed SIMD by flag, Node 22 by default: both give a fused figure.
    expect(peak.fused).not.toBeNull();
    expect(peak.fused!).toBeGreaterThan(peak.mulAdd / 2);
  });
});
