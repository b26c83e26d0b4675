/**
 * The exported backbone takes its user-side inputs (BACKBONE_REQUEST_INPUTS) with batch 1 for a whole request, as
 * the worker feeds them: for every backbone, scoring N candidates with the user side given once equals tfjs on the
 * same rows with the user side repeated, in onnxruntime-node and onnxruntime-web.
 */
import * as ortNode from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../trainer/accel/index.ts";
import { BACKBONE_REQUEST_INPUTS, exportOnnx } from "../../trainer/export/onnx-export.ts";
import { backboneNames } from "../../trainer/models/registry.ts";
import type { PredictBatch } from "../../trainer/train/model.ts";
import { configFor, forwardAll, maxAbsDiff, randomBatch, seededWeights, trainedModelOf } from "./models-fixtures.ts";

type Ort = typeof ortNode;
const runtimes: [string, Ort][] = [
  ["onnxruntime-node", ortNode],
  ["onnxruntime-web", ortWeb as unknown as Ort],
];

/** The batch with row 0's user side (features, history, user knowledge) repeated in every row. */
function sharedUserSide(b: PredictBatch, per: { Fu: number; L: number; Fi: number; userChunk: number; userChunks: number }): PredictBatch {
  const tile = <A extends Int32Array | Float32Array>(a: A, width: number): A => {
    const out = a.slice(0, b.count * width) as A;
    for (let r = 1; r < b.count; r++) out.set(a.subarray(0, width), r * width);
    return out;
  };
  return {
    ...b,
    userFeats: tile(b.userFeats, per.Fu),
    histFeats: tile(b.histFeats, per.L * per.Fi),
    histRatings: tile(b.histRatings, per.L),
    histMask: tile(b.histMask, per.L),
    userChunks: b.userChunks && tile(b.userChunks, per.userChunks * per.userChunk),
    userChunkMask: b.userChunkMask && tile(b.userChunkMask, per.userChunks),
  };
}

beforeAll(async () => {
  ortWeb.env.wasm.numThreads = 1;
  await initBackend("wasm", () => {});
});

describe.each(backboneNames().flatMap((b) => ["kser", "none"].map((e) => [b, e] as const)))(
  "%s + %s: user side once per request",
  (backbone, extractor) => {
    it("equals tfjs with the user side repeated per row", async () => {
      const cfg = configFor(backbone, extractor);
      const params = seededWeights(cfg);
      const graphs = exportOnnx(trainedModelOf(cfg, params));
      const { spec } = cfg;
      const Fi = spec.itemFields.length;
      const Fu = spec.userFields.length;
      const L = spec.historyLength;
      expect(graphs.backbone.requestInputs).toEqual(
        graphs.backbone.inputs.filter((i) => (BACKBONE_REQUEST_INPUTS as readonly string[]).includes(i)),
      );
      const n = 37;
      const k = cfg.knowledge;
      const batch = sharedUserSide(randomBatch(cfg, n, 29), { Fu, L, Fi, userChunk: k?.user.dim ?? 0, userChunks: k?.user.chunks ?? 0 });
      const expected = forwardAll(cfg, params, batch).logit;
      for (const [runtime, ort] of runtimes) {
        const T = ort.Tensor;
        const perRow: Record<string, ortNode.Tensor> = {
          item_feats: new T("int32", batch.itemFeats, [n, Fi]),
          item_chunks: k ? new T("float32", batch.itemChunks!, [n, k.item.chunks, k.item.dim]) : (undefined as never),
          item_chunk_mask: k ? new T("float32", batch.itemChunkMask!, [n, k.item.chunks]) : (undefined as never),
        };
        const once: Record<string, ortNode.Tensor> = {
          user_feats: new T("int32", batch.userFeats.slice(0, Fu), [1, Fu]),
          hist_feats: new T("int32", batch.histFeats.slice(0, L * Fi), [1, L, Fi]),
          hist_ratings: new T("int32", batch.histRatings.slice(0, L), [1, L]),
          hist_mask: new T("float32", batch.histMask.slice(0, L), [1, L]),
        };
        const create = (bytes: Uint8Array) => ort.InferenceSession.create(bytes);
        const pick = (s: ortNode.InferenceSession, feeds: Record<string, ortNode.Tensor>) =>
          Object.fromEntries(s.inputNames.map((name) => [name, feeds[name]]));
        if (k && graphs.userExtractor && graphs.itemExtractor) {
          const user = await create(graphs.userExtractor.bytes);
          const item = await create(graphs.itemExtractor.bytes);
          once.user_chunks = new T("float32", batch.userChunks!.slice(0, k.user.chunks * k.user.dim), [1, k.user.chunks, k.user.dim]);
          once.user_chunk_mask = new T("float32", batch.userChunkMask!.slice(0, k.user.chunks), [1, k.user.chunks]);
          once.user_know = (await user.run(pick(user, once))).user_know as ortNode.Tensor;
          perRow.item_know = (await item.run(pick(item, perRow))).item_know as ortNode.Tensor;
          expect(once.user_know.dims).toEqual([1, cfg.embeddingDim]);
        }
        const session = await create(graphs.backbone.bytes);
        const out = await session.run(pick(session, { ...perRow, ...once }));
        expect(out.logit.dims).toEqual([n]);
        expect(maxAbsDiff(out.logit.data as Float32Array, expected), runtime).toBeLessThan(1e-5);
      }
    });
  },
);
