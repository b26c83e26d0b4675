/**
 * Export parity: the ONNX graphs (user extractor -> item extractor -> backbone) in onnxruntime-node and
 * onnxruntime-web give the same scores as predictTf, at batch 1 and 257; out-of-range ids give exactly the OOV
 * row's result in both.
 */
import * as ortNode from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import { beforeAll, describe, expect, it } from "vitest";
import type { KnowledgeBank } from "../../trainer/data/types.ts";
import { computeItemVectors, exportOnnx } from "../../trainer/export/onnx-export.ts";
import { type PredictBatch, predictTf, type TrainedModel } from "../../trainer/train/model.ts";
import { trainModel } from "../../trainer/train/train.ts";
import { mulberry32 } from "../../trainer/util/random.ts";
import { randomData } from "./fixtures/random-data.ts";

type Ort = typeof ortNode;
type Session = ortNode.InferenceSession;

/** Random valid inputs (ids in range, partly padded history, partly missing chunks). */
function randomBatch(model: TrainedModel, count: number, seed: number): PredictBatch {
  const r = mulberry32(seed);
  const { spec } = model;
  const Fi = spec.itemFields.length;
  const Fu = spec.userFields.length;
  const L = spec.historyLength;
  const int = (n: number) => Math.floor(r() * n);
  const batch: PredictBatch = {
    count,
    itemFeats: Int32Array.from({ length: count * Fi }, (_, i) => int(spec.itemFields[i % Fi].vocabSize)),
    userFeats: Int32Array.from({ length: count * Fu }, (_, i) => int(spec.userFields[i % Fu].vocabSize)),
    histFeats: Int32Array.from({ length: count * L * Fi }, (_, i) => int(spec.itemFields[i % Fi].vocabSize)),
    histRatings: Int32Array.from({ length: count * L }, () => int(spec.ratingVocab)),
    histMask: Float32Array.from({ length: count * L }, () => (r() < 0.7 ? 1 : 0)),
  };
  if (model.config.knowledge) {
    const { user, item } = model.config.knowledge;
    batch.userChunks = Float32Array.from({ length: count * user.chunks * user.dim }, () => r() * 2 - 1);
    batch.itemChunks = Float32Array.from({ length: count * item.chunks * item.dim }, () => r() * 2 - 1);
    // Some rows have no knowledge at all: every chunk masked.
    batch.userChunkMask = Float32Array.from({ length: count * user.chunks }, (_, i) =>
      Math.floor(i / user.chunks) % 5 === 0 ? 0 : r() < 0.8 ? 1 : 0,
    );
    batch.itemChunkMask = Float32Array.from({ length: count * item.chunks }, (_, i) =>
      Math.floor(i / item.chunks) % 7 === 0 ? 0 : r() < 0.8 ? 1 : 0,
    );
  }
  return batch;
}

async function sessions(ort: Ort, model: TrainedModel) {
  const graphs = exportOnnx(model);
  const create = (g: { bytes: Uint8Array } | null) => (g ? ort.InferenceSession.create(g.bytes) : Promise.resolve(null));
  return {
    graphs,
    backbone: (await create(graphs.backbone))!,
    user: await create(graphs.userExtractor),
    item: await create(graphs.itemExtractor),
  };
}

async function predictOnnx(ort: Ort, s: Awaited<ReturnType<typeof sessions>>, model: TrainedModel, b: PredictBatch): Promise<Float32Array> {
  const { spec } = model;
  const n = b.count;
  const Fi = spec.itemFields.length;
  const L = spec.historyLength;
  const feeds: Record<string, ortNode.Tensor> = {
    item_feats: new ort.Tensor("int32", b.itemFeats, [n, Fi]),
    user_feats: new ort.Tensor("int32", b.userFeats, [n, spec.userFields.length]),
    hist_feats: new ort.Tensor("int32", b.histFeats, [n, L, Fi]),
    hist_ratings: new ort.Tensor("int32", b.histRatings, [n, L]),
    hist_mask: new ort.Tensor("float32", b.histMask, [n, L]),
  };
  const pick = (session: Session) => Object.fromEntries(session.inputNames.map((name) => [name, feeds[name]]));
  if (s.user && s.item && model.config.knowledge) {
    const { user, item } = model.config.knowledge;
    feeds.user_chunks = new ort.Tensor("float32", b.userChunks!, [n, user.chunks, user.dim]);
    feeds.user_chunk_mask = new ort.Tensor("float32", b.userChunkMask!, [n, user.chunks]);
    feeds.item_chunks = new ort.Tensor("float32", b.itemChunks!, [n, item.chunks, item.dim]);
    feeds.item_chunk_mask = new ort.Tensor("float32", b.itemChunkMask!, [n, item.chunks]);
    const u = await s.user.run(pick(s.user));
    const it = await s.item.run(pick(s.item));
    expect(u.user_gate.dims).toEqual([n, user.chunks]);
    expect(it.item_gate.dims).toEqual([n, item.chunks]);
    feeds.user_know = u.user_know as ortNode.Tensor;
    feeds.item_know = it.item_know as ortNode.Tensor;
  }
  const out = await s.backbone.run(pick(s.backbone));
  expect(out.score.dims).toEqual([n]);
  expect(out.logit.dims).toEqual([n]);
  return out.score.data as Float32Array;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const runtimes: [string, Ort][] = [
  ["onnxruntime-node", ortNode],
  ["onnxruntime-web", ortWeb as unknown as Ort],
];

for (const extractor of ["kser", "none"]) {
  describe(`DeepFM + ${extractor}: ONNX export parity`, () => {
    let model: TrainedModel;
    let knowledgeBank: KnowledgeBank;
    beforeAll(async () => {
      ortWeb.env.wasm.numThreads = 1;
      const { data, bank } = randomData({ seed: 7, users: 60, samplesPerUser: 20, chunks: 3, dim: 8 });
      knowledgeBank = bank;
      model = await trainModel({ data, bank, backbone: "deepfm", extractor, embeddingDim: 8, epochs: 2, batchSize: 128, seed: 3 });
    });

    it("declares the input and output names the worker relies on", () => {
      const g = exportOnnx(model);
      expect(g.backbone.outputs).toEqual(["score", "logit"]);
      expect(g.backbone.inputs).toEqual(
        expect.arrayContaining([
          "item_feats",
          "user_feats",
          "hist_feats",
          "hist_ratings",
          "hist_mask",
          ...(extractor === "none" ? [] : ["user_know", "item_know"]),
        ]),
      );
      if (extractor === "none") {
        expect(g.userExtractor).toBeNull();
        expect(g.backbone.inputs).not.toContain("user_know");
      } else {
        expect(g.userExtractor?.outputs).toEqual(["user_know", "user_gate"]);
        expect(g.userExtractor?.inputs).toEqual(expect.arrayContaining(["user_chunks", "user_chunk_mask", "user_feats", "hist_feats"]));
        expect(g.itemExtractor?.outputs).toEqual(["item_know", "item_gate"]);
        expect([...(g.itemExtractor?.inputs ?? [])].sort()).toEqual(["item_chunk_mask", "item_chunks", "item_feats"]);
      }
    });

    it("precomputes item vectors equal to the exported item graph's output", async () => {
      const vectors = computeItemVectors(model, knowledgeBank);
      if (extractor === "none") {
        expect(vectors.size).toBe(0);
        return;
      }
      const { chunks: K, dim: d } = model.config.knowledge!.item;
      const ids = knowledgeBank.item.ids.slice(0, 5);
      const rows = ids.map((id) => model.vocabulary.itemFeatures[model.vocabulary.fields.item_id.indexOf(id)]);
      const session = await ortNode.InferenceSession.create(exportOnnx(model).itemExtractor!.bytes);
      const out = await session.run({
        item_feats: new ortNode.Tensor("int32", Int32Array.from(rows.flat()), [ids.length, rows[0].length]),
        item_chunks: new ortNode.Tensor("float32", knowledgeBank.item.values.slice(0, ids.length * K * d), [ids.length, K, d]),
        item_chunk_mask: new ortNode.Tensor("float32", knowledgeBank.item.mask.slice(0, ids.length * K), [ids.length, K]),
      });
      const E = model.config.embeddingDim;
      const know = out.item_know.data as Float32Array;
      expect(vectors.size).toBe(knowledgeBank.item.ids.length);
      ids.forEach((id, i) => {
        expect(maxAbsDiff(vectors.get(id)!, know.slice(i * E, (i + 1) * E))).toBeLessThan(1e-5);
      });
    });

    for (const [runtime, ort] of runtimes) {
      it(`${runtime} matches tfjs at batch 1 and 257`, async () => {
        const s = await sessions(ort, model);
        for (const count of [1, 257]) {
          const batch = randomBatch(model, count, count);
          const expected = await predictTf(model, batch);
          const actual = await predictOnnx(ort, s, model, batch);
          const diff = maxAbsDiff(actual, expected);
          console.log(`${extractor} ${runtime} batch ${count}: max |diff| ${diff.toExponential(2)}`);
          expect(diff).toBeLessThan(1e-5);
        }
      });

      it(`${runtime}: out-of-range ids score exactly like the OOV row`, async () => {
        const s = await sessions(ort, model);
        const { spec } = model;
        const batch = randomBatch(model, 4, 11);
        const oov = {
          ...batch,
          itemFeats: batch.itemFeats.slice(),
          userFeats: batch.userFeats.slice(),
          histFeats: batch.histFeats.slice(),
          histRatings: batch.histRatings.slice(),
        };
        const bad = {
          ...oov,
          itemFeats: oov.itemFeats.slice(),
          userFeats: oov.userFeats.slice(),
          histFeats: oov.histFeats.slice(),
          histRatings: oov.histRatings.slice(),
        };
        const Fi = spec.itemFields.length;
        // Row 0: negative ids; row 1: ids equal to the vocabulary size; row 2: far beyond it. Row 3 stays valid.
        const outOfRange = (row: number, vocab: number) => (row === 0 ? -1 - row : row === 1 ? vocab : vocab + 1000);
        for (let row = 0; row < 3; row++) {
          spec.itemFields.forEach((f, i) => {
            oov.itemFeats[row * Fi + i] = 0;
            bad.itemFeats[row * Fi + i] = outOfRange(row, f.vocabSize);
            for (let h = 0; h < spec.historyLength; h++) {
              oov.histFeats[(row * spec.historyLength + h) * Fi + i] = 0;
              bad.histFeats[(row * spec.historyLength + h) * Fi + i] = outOfRange(row, f.vocabSize);
            }
          });
          spec.userFields.forEach((f, i) => {
            oov.userFeats[row * spec.userFields.length + i] = 0;
            bad.userFeats[row * spec.userFields.length + i] = outOfRange(row, f.vocabSize);
          });
          for (let h = 0; h < spec.historyLength; h++) {
            oov.histRatings[row * spec.historyLength + h] = 0;
            bad.histRatings[row * spec.historyLength + h] = outOfRange(row, spec.ratingVocab);
          }
        }
        const tfOov = await predictTf(model, oov);
        const tfBad = await predictTf(model, bad);
        const onnxOov = await predictOnnx(ort, s, model, oov);
        const onnxBad = await predictOnnx(ort, s, model, bad);
        expect(Array.from(tfBad)).toEqual(Array.from(tfOov));
        expect(Array.from(onnxBad)).toEqual(Array.from(onnxOov));
        expect(maxAbsDiff(onnxBad, tfBad)).toBeLessThan(1e-5);
      });
    }
  });
}
