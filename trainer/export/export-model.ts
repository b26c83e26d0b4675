/**
 * Export a trained model for serving and measure what a release needs to know (the nightly gate, `kser export`):
 * the KV bundle (ONNX graphs, vocabulary, precomputed item vectors, knowledge shards, profiles), ONNX
 * (onnxruntime-web) vs tfjs parity on one real request, the model's size and its scoring latency. Nothing is
 * written: callers decide, after looking at the parity, whether the bundle goes to disk.
 *
 * Size = bytes of the ONNX graphs + vocabulary blob + this model's precomputed item vectors (what the worker loads
 * per model; knowledge shards and profiles are shared data). Latency = p95 over 20 timed runs (after 3 warm-up
 * runs) of the whole ONNX chain (user extractor -> item extractor -> backbone) for one request of N candidates,
 * onnxruntime-web with one thread, i.e. the worker's per-request model work without KV reads.
 */
import * as ortWeb from "onnxruntime-web";
import type { VectorCodec } from "../../shared/vector-codec.ts";
import type { KnowledgeBank, PreparedDataset } from "../data/types.ts";
import { type OrtLike, onnxParity, openPipeline, predictOnnx } from "../export/onnx-runner.ts";
import { requestBatch } from "../export/request-batch.ts";
import { buildServingBundle, type ServingBundle } from "../export/serving-bundle.ts";
import { valueBytes } from "../publish/kv-bundle.ts";
import type { TrainedModel } from "../train/model.ts";
import type { Strategy } from "../train/strategy.ts";

export interface ExportSummary {
  modelId: string;
  entries: number;
  modelBytes: number;
  parity: number;
  parityCandidates: number;
  latencyMs: { p50: number; p95: number; candidates: number; runs: number };
}

/** Deterministic candidates: every k-th known item id, so parity and latency runs are reproducible. */
function candidates(data: PreparedDataset, count: number): string[] {
  const items = data.vocabulary.fields.item_id.slice(1);
  const n = Math.min(count, items.length);
  const step = Math.max(1, Math.floor(items.length / n));
  return Array.from({ length: n }, (_, i) => items[(i * step) % items.length]);
}

export interface ExportOptions {
  /** Candidates per request in the latency measurement. */
  latencyCandidates: number;
  /** How the model was trained (recorded in its manifest). */
  strategy?: Strategy;
  /** How the bank's values are stored (a StoredBank's codec): the KV shards keep them exactly. Default i8. */
  knowledgeCodec?: VectorCodec;
}

export async function exportModel(
  model: TrainedModel,
  data: PreparedDataset,
  bank: KnowledgeBank | null,
  { latencyCandidates, strategy = "all-params", knowledgeCodec = "i8" }: ExportOptions,
): Promise<{ summary: ExportSummary; built: ServingBundle }> {
  const usesBank = model.config.knowledge !== null ? bank : null;
  const built = usesBank
    ? buildServingBundle({ model, data, bank: usesBank, knowledgeCodec, includeProfiles: true, strategy })
    : buildServingBundle({ model, data, bank: null, includeProfiles: true, strategy });
  const modelId = built.manifest.modelId;
  const modelBytes = built.bundle.entries
    .filter((e) => e.stage === "blob" || e.key.startsWith(`iv/${modelId}/`))
    .reduce((s, e) => s + valueBytes(e.value).length, 0);

  const ort = ortWeb as unknown as OrtLike;
  ortWeb.env.wasm.numThreads = 1;
  const pipeline = await openPipeline(ort, built.graphs);
  const profile = data.profiles.find((p) => p.userId === data.userIds[data.test.userIndex[0] ?? 0]) ?? data.profiles[0];
  const parityRequest = { ...profile, candidates: candidates(data, 257) };
  const parity = await onnxParity(ort, pipeline, model, requestBatch(model, usesBank, parityRequest));

  const batch = requestBatch(model, usesBank, { ...profile, candidates: candidates(data, latencyCandidates) });
  for (let i = 0; i < 3; i++) await predictOnnx(ort, pipeline, model, batch);
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    await predictOnnx(ort, pipeline, model, batch);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)];
  return {
    built,
    summary: {
      modelId,
      entries: built.bundle.entries.length,
      modelBytes,
      parity,
      parityCandidates: parityRequest.candidates.length,
      latencyMs: { p50: at(0.5), p95: at(0.95), candidates: batch.count, runs: times.length },
    },
  };
}
