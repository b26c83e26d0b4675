/**
 * Precomputed item vectors are published as f16 by default (half the KV bytes of f32). This is the parity bound of
 * that choice: the backbone's scores with f16-rounded item vectors (encoded and decoded by the shard codec the
 * worker uses) stay within 1e-3 of the scores with the exact f32 vectors, and the vectors themselves within f16's
 * relative precision. Worker-vs-tfjs parity (< 1e-4) is checked with these default f16 vectors in test/worker/real-model.test.ts.
 */
import * as ortNode from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeShard, encodeShard } from "../../shared/vector-codec.ts";
import { computeItemVectors, exportOnnx } from "../../trainer/export/onnx-export.ts";
import type { TrainedModel } from "../../trainer/train/model.ts";
import { trainModel } from "../../trainer/train/train.ts";
import { mulberry32 } from "../../trainer/util/random.ts";
import { randomData } from "./fixtures/random-data.ts";

const SCORE_BOUND = 1e-3;

describe("f16 item vectors", () => {
  let model: TrainedModel;
  let vectors: Map<string, Float32Array>;
  beforeAll(async () => {
    const { data, bank } = randomData({ seed: 13, users: 60, samplesPerUser: 20, chunks: 3, dim: 8 });
    model = await trainModel({ data, bank, backbone: "deepfm", extractor: "kser", embeddingDim: 16, epochs: 2, batchSize: 128, seed: 3 });
    vectors = computeItemVectors(model, bank);
  });

  it(`change backbone scores by less than ${SCORE_BOUND}`, async () => {
    const E = model.config.embeddingDim;
    const ids = [...vectors.keys()];
    const one = new Float32Array([1]);
    const shard = decodeShard(
      encodeShard({ codec: "f16", chunks: 1, dim: E, entities: ids.map((id) => ({ id, values: vectors.get(id)!, mask: one })) }),
    );
    const n = ids.length;
    const exact = new Float32Array(n * E);
    const rounded = new Float32Array(n * E);
    ids.forEach((id, i) => {
      exact.set(vectors.get(id)!, i * E);
      rounded.set(shard.get(id)!.values, i * E);
    });
    let relative = 0;
    for (let i = 0; i < exact.length; i++)
      relative = Math.max(relative, Math.abs(rounded[i] - exact[i]) / Math.max(Math.abs(exact[i]), 6.1e-5));
    expect(relative).toBeLessThan(2 ** -10);

    const { spec } = model;
    const Fi = spec.itemFields.length;
    const Fu = spec.userFields.length;
    const L = spec.historyLength;
    const r = mulberry32(5);
    const int = (k: number) => Math.floor(r() * k);
    const rows = ids.map((id) => model.vocabulary.itemFeatures[Math.max(0, model.vocabulary.fields.item_id.indexOf(id))]);
    const feeds = (itemKnow: Float32Array): Record<string, ortNode.Tensor> => ({
      item_feats: new ortNode.Tensor("int32", Int32Array.from(rows.flat()), [n, Fi]),
      user_feats: new ortNode.Tensor(
        "int32",
        Int32Array.from({ length: Fu }, (_, i) => int(spec.userFields[i].vocabSize)),
        [1, Fu],
      ),
      hist_feats: new ortNode.Tensor(
        "int32",
        Int32Array.from({ length: L * Fi }, (_, i) => int(spec.itemFields[i % Fi].vocabSize)),
        [1, L, Fi],
      ),
      hist_ratings: new ortNode.Tensor(
        "int32",
        Int32Array.from({ length: L }, () => int(spec.ratingVocab)),
        [1, L],
      ),
      hist_mask: new ortNode.Tensor(
        "float32",
        Float32Array.from({ length: L }, (_, i) => (i < 3 ? 1 : 0)),
        [1, L],
      ),
      user_know: new ortNode.Tensor(
        "float32",
        Float32Array.from({ length: E }, () => r() * 2 - 1),
        [1, E],
      ),
      item_know: new ortNode.Tensor("float32", itemKnow, [n, E]),
    });
    const session = await ortNode.InferenceSession.create(exportOnnx(model).backbone.bytes);
    const pick = (f: Record<string, ortNode.Tensor>) => Object.fromEntries(session.inputNames.map((name) => [name, f[name]]));
    // The same user-side values are fed to both runs (the rng is drawn once per feeds call: reuse one set).
    const base = feeds(exact);
    const a = (await session.run(pick(base))).score.data as Float32Array;
    const b = (await session.run(pick({ ...base, item_know: new ortNode.Tensor("float32", rounded, [n, E]) }))).score.data as Float32Array;
    let diff = 0;
    for (let i = 0; i < n; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
    console.log(
      `f16 item vectors: ${n} items, max |score diff| ${diff.toExponential(2)}, max relative vector error ${relative.toExponential(2)}`,
    );
    expect(diff).toBeLessThan(SCORE_BOUND);
  });
});
