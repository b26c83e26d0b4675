/**
 * Multi-valued fields (a bag of ids per field) in every implementation of the op interface: embeddingBag is the mean
 * of the rows at the non-zero ids in tfjs (training, on the wasm backend, with sparse row gradients) and in the
 * exported ONNX graphs (onnxruntime-web), and the PyTorch twin declares the same inputs and parameters; models with
 * bag fields on the item and user side train and export with ONNX-vs-tfjs parity.
 */
import * as tf from "@tensorflow/tfjs-core";
import * as ortWeb from "onnxruntime-web";
import { beforeAll, describe, expect, it } from "vitest";
import type { FeatureSpec } from "../../shared/manifest.ts";
import { initBackend } from "../../trainer/accel/index.ts";
import { prepareDataset } from "../../trainer/data/prepare.ts";
import type { PreparedDataset, RawDataset } from "../../trainer/data/types.ts";
import { evaluateOnHoldout } from "../../trainer/eval/holdout.ts";
import { exportOnnx } from "../../trainer/export/onnx-export.ts";
import { type OrtLike, onnxParity, openPipeline } from "../../trainer/export/onnx-runner.ts";
import { requestBatch } from "../../trainer/export/request-batch.ts";
import { torchTwin } from "../../trainer/export/torch-twin.ts";
import type { ModelConfig } from "../../trainer/models/config.ts";
import { OnnxOps } from "../../trainer/ops/onnx-ops.ts";
import { ParamStore, TfOps } from "../../trainer/ops/tf-ops.ts";
import { trainModel } from "../../trainer/train/train.ts";
import { mulberry32 } from "../../trainer/util/random.ts";
import { batchFeeds, randomBatch, seededWeights, trainedModelOf } from "./models-fixtures.ts";

const ort = ortWeb as unknown as OrtLike;
ortWeb.env.wasm.numThreads = 1;

beforeAll(async () => {
  await initBackend("wasm");
});

const TABLE = [
  [0, 0],
  [1, 10],
  [2, 20],
  [4, 40],
];
const IDS = [
  [1, 2, 0],
  [0, 0, 0],
  [3, 3, 1],
  [2, 0, 0],
];
/** Mean of the rows at non-zero ids; zeros for an empty bag. */
const EXPECTED = [
  [1.5, 15],
  [0, 0],
  [3, 30],
  [2, 20],
];

describe("the embeddingBag op", () => {
  it("is the mean of the rows at non-zero ids in tfjs and in ONNX", async () => {
    const params = new Map([["table", { shape: [4, 2], values: Float32Array.from(TABLE.flat()) }]]);
    const ids = Int32Array.from(IDS.flat());
    const store = ParamStore.fromValues(params);
    const tfOut = tf.tidy(() => {
      const ops = new TfOps(store, new Map([["ids", tf.tensor2d(ids, [4, 3], "int32")]]));
      return ops.embeddingBag(ops.param("table", [4, 2], { kind: "zeros" }), ops.input("ids", "int32", [-1, 3]));
    });
    expect(tfOut.shape).toEqual([4, 2]);
    expect(Array.from(tfOut.dataSync())).toEqual(EXPECTED.flat());
    tfOut.dispose();
    store.dispose();

    const onnx = new OnnxOps(params);
    onnx.output(onnx.embeddingBag(onnx.param("table", [4, 2], { kind: "zeros" }), onnx.input("ids", "int32", [-1, 3])), "out");
    const session = await ort.InferenceSession.create(onnx.build("bag"));
    const out = await session.run({ ids: new ortWeb.Tensor("int32", ids, [4, 3]) });
    expect(Array.from(out.out.data as Float32Array)).toEqual(EXPECTED.flat());
  });

  it("sends the gradient of a bag to its rows only, divided by the bag's size", () => {
    const table = tf.variable(tf.tensor2d(TABLE));
    const store = new ParamStore(true);
    store.tensors.set("table", table);
    const { grads } = tf.variableGrads(() => {
      const ops = new TfOps(store, new Map([["ids", tf.tensor2d(Int32Array.from(IDS.flat()), [4, 3], "int32")]]));
      return tf.sum(ops.embeddingBag(ops.param("table", [4, 2], { kind: "zeros" }), ops.input("ids", "int32", [-1, 3]))) as tf.Scalar;
    }, [table]);
    // Row 1: bag 0 (1/2) and bag 2 (1/3); row 2: bag 0 (1/2) and bag 3 (1); row 3: twice in bag 2 (2/3); row 0: padding.
    const g = Array.from(grads[table.name].dataSync());
    expect(g.map((v) => Number(v.toFixed(5)))).toEqual([0, 0, 0.83333, 0.83333, 1.5, 1.5, 0.66667, 0.66667]);
    store.dispose();
  });
});

/** A spec with a bag on each side (randomData's fields plus genres x3 and langs x2). */
function bagConfig(backbone: string, extractor: string): ModelConfig {
  const spec: FeatureSpec = {
    historyLength: 4,
    itemFields: [
      { name: "item_id", vocabSize: 30 },
      { name: "genres", vocabSize: 7, bag: { size: 3, separator: "|" } },
      { name: "year", vocabSize: 5 },
    ],
    userFields: [
      { name: "langs", vocabSize: 4, bag: { size: 2, separator: "|" } },
      { name: "age", vocabSize: 6 },
    ],
    ratingVocab: 11,
    ratingStep: 0.5,
  };
  const knowledge = extractor === "none" ? null : { user: { chunks: 3, dim: 8 }, item: { chunks: 4, dim: 8 } };
  return { backbone, extractor, embeddingDim: 8, spec, knowledge, seed: 3 };
}

describe("models with bag fields", () => {
  for (const [backbone, extractor] of [
    ["deepfm", "kser"],
    ["din", "kar"],
    ["dien", "none"],
  ] as const) {
    it(`${backbone} + ${extractor}: ONNX (onnxruntime-web) matches tfjs; the PyTorch twin has the same inputs and parameters`, async () => {
      const cfg = bagConfig(backbone, extractor);
      const weights = seededWeights(cfg);
      const model = trainedModelOf(cfg, weights);
      const batch = randomBatch(cfg, 33, 9);
      // Bags with padding: every third slot of a bag is 0 (as encoded rows are).
      const diff = await onnxParity(ort, await openPipeline(ort, exportOnnx(model)), model, batch);
      expect(diff).toBeLessThan(1e-5);

      const twin = torchTwin(cfg);
      const tfParams = [...weights].map(([name, p]) => [name, p.shape.join("x")]).sort();
      expect([...twin.ops.params.values()].map((p) => [p.name, p.shape.join("x")]).sort()).toEqual(tfParams);
      const feeds = batchFeeds(cfg, batch);
      const tfInputs = [...feeds].map(([name, t]) => [name, t.dtype, [-1, ...t.shape.slice(1)].join("x")]).sort();
      tf.dispose([...feeds.values()]);
      expect([...twin.ops.inputs.values()].map((i) => [i.name, i.dtype, i.shape.join("x")]).sort()).toEqual(tfInputs);
      expect(twin.ops.lines.some((l) => l.includes(".clamp(min=1.0)"))).toBe(true);
    });
  }

  it("train on prepared bags (sparse row updates) and score a request through the worker's encoder identically", async () => {
    const data = bagDataset();
    const genres = data.spec.itemFields.find((f) => f.name === "genres")!;
    expect(genres.bag?.size).toBe(3);
    const model = await trainModel({
      data,
      bank: null,
      backbone: "deepfm",
      extractor: "none",
      epochs: 3,
      batchSize: 64,
      learningRate: 0.01,
      embeddingDim: 8,
      seed: 4,
    });
    expect(model.metrics.test.auc).toBeGreaterThan(0.6);
    // Genre rows moved in training; the OOV/padding row gets no gradient from bags.
    const table = model.params.get("emb/item/genres")!;
    const profile = data.profiles[0];
    const batch = requestBatch(model, null, { ...profile, candidates: data.vocabulary.fields.item_id.slice(1, 40) });
    const diff = await onnxParity(ort, await openPipeline(ort, exportOnnx(model)), model, batch);
    expect(diff).toBeLessThan(1e-5);
    expect(table.values.slice(8).some((v) => Math.abs(v) > 0.02)).toBe(true);
    // Another user split has another vocabulary: the bag slots are re-encoded value by value (kser eval's path).
    const other = bagDataset(3);
    expect(other.vocabulary.fields.item_id).not.toEqual(data.vocabulary.fields.item_id);
    const { metrics } = await evaluateOnHoldout(model, other, null, "test");
    expect(metrics.samples).toBe(other.test.count);
    expect(metrics.auc).toBeGreaterThan(0.6);
  });
});

/** Users like the items that carry their favourite genre (a user field) among up to three: learnable through the bag. */
function bagDataset(splitSeed = 2): PreparedDataset {
  const r = mulberry32(11);
  const genres = ["a", "b", "c", "d", "e"];
  const items = Array.from({ length: 60 }, (_, i) => {
    const own = [...new Set([0, 1, 2].slice(0, 1 + Math.floor(r() * 3)).map(() => genres[Math.floor(r() * 5)]))];
    return { id: `m${i}`, title: `m${i}`, genres: own, attributes: { genres: own.join("|") } };
  });
  const users = Array.from({ length: 150 }, (_, u) => ({ id: `u${u}`, attributes: { fav: genres[u % 5] }, favourite: genres[u % 5] }));
  const interactions: RawDataset["interactions"] = [];
  for (const u of users) {
    for (let t = 0; t < 30; t++) {
      const item = items[Math.floor(r() * items.length)];
      const liked = item.genres.includes(u.favourite) ? r() < 0.85 : r() < 0.15;
      interactions.push({ userId: u.id, itemId: item.id, rating: liked ? 4.5 : 2, timestamp: t });
    }
  }
  const raw: RawDataset = {
    name: "bags",
    domain: "generic",
    users: users.map(({ id, attributes }) => ({ id, attributes })),
    items,
    interactions,
    userFieldNames: ["fav"],
    itemFieldNames: ["genres"],
    minPositiveRating: 4,
    ratingLevels: 5,
    ratingStep: 0.5,
    multiValued: { genres: { separator: "|", maxValues: 8 } },
  };
  return prepareDataset(raw, { seed: splitSeed, knowledgePrefix: 2 });
}
