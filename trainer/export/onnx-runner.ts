/**
 * Runs an exported model's three ONNX graphs the way the worker chains them (user extractor -> item extractor ->
 * backbone) with any ONNX Runtime flavour, and compares the result with the tfjs scores: the parity check the demo
 * and the nightly gate run before anything is published.
 */

import { itemFeatureWidth, userFeatureWidth } from "../../shared/feature-encoding.ts";
import type { PredictBatch, TrainedModel } from "../train/model.ts";
import { predictTf } from "../train/model.ts";
import type { ExportedGraph } from "./onnx-export.ts";

/** The slice of onnxruntime-node / onnxruntime-web used here (both expose the same API). */
export interface OrtLike {
  InferenceSession: { create(bytes: Uint8Array): Promise<OrtSession> };
  Tensor: new (type: "float32" | "int32", data: Float32Array | Int32Array, dims: number[]) => unknown;
}
export interface OrtSession {
  inputNames: readonly string[];
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown }>>;
  release?(): Promise<void>;
}

export interface OnnxPipeline {
  backbone: OrtSession;
  user: OrtSession | null;
  item: OrtSession | null;
}

export async function openPipeline(
  ort: OrtLike,
  graphs: { backbone: ExportedGraph; userExtractor: ExportedGraph | null; itemExtractor: ExportedGraph | null },
): Promise<OnnxPipeline> {
  return {
    backbone: await ort.InferenceSession.create(graphs.backbone.bytes),
    user: graphs.userExtractor ? await ort.InferenceSession.create(graphs.userExtractor.bytes) : null,
    item: graphs.itemExtractor ? await ort.InferenceSession.create(graphs.itemExtractor.bytes) : null,
  };
}

export async function predictOnnx(ort: OrtLike, pipeline: OnnxPipeline, model: TrainedModel, b: PredictBatch): Promise<Float32Array> {
  const { spec, config } = model;
  const n = b.count;
  const Fi = itemFeatureWidth(spec);
  const L = spec.historyLength;
  const feeds: Record<string, unknown> = {
    item_feats: new ort.Tensor("int32", b.itemFeats.subarray(0, n * Fi), [n, Fi]),
    user_feats: new ort.Tensor("int32", b.userFeats.subarray(0, n * userFeatureWidth(spec)), [n, userFeatureWidth(spec)]),
    hist_feats: new ort.Tensor("int32", b.histFeats.subarray(0, n * L * Fi), [n, L, Fi]),
    hist_ratings: new ort.Tensor("int32", b.histRatings.subarray(0, n * L), [n, L]),
    hist_mask: new ort.Tensor("float32", b.histMask.subarray(0, n * L), [n, L]),
  };
  const pick = (session: OrtSession) => Object.fromEntries(session.inputNames.map((name) => [name, feeds[name]]));
  if (pipeline.user && pipeline.item && config.knowledge) {
    for (const side of ["user", "item"] as const) {
      const { chunks: K, dim: d } = config.knowledge[side];
      const values = (side === "user" ? b.userChunks : b.itemChunks) ?? new Float32Array(n * K * d);
      const mask = (side === "user" ? b.userChunkMask : b.itemChunkMask) ?? new Float32Array(n * K);
      feeds[`${side}_chunks`] = new ort.Tensor("float32", values.subarray(0, n * K * d), [n, K, d]);
      feeds[`${side}_chunk_mask`] = new ort.Tensor("float32", mask.subarray(0, n * K), [n, K]);
    }
    feeds.user_know = (await pipeline.user.run(pick(pipeline.user))).user_know;
    feeds.item_know = (await pipeline.item.run(pick(pipeline.item))).item_know;
  }
  const out = await pipeline.backbone.run(pick(pipeline.backbone));
  return Float32Array.from(out.score.data as Float32Array);
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** Max |ONNX - tfjs| over a batch. */
export async function onnxParity(ort: OrtLike, pipeline: OnnxPipeline, model: TrainedModel, batch: PredictBatch): Promise<number> {
  return maxAbsDiff(await predictOnnx(ort, pipeline, model, batch), await predictTf(model, batch));
}
