/**
 * Per backbone (with the KSER extractor): parameter counts by group and training speed, examples/s of the
 * training step (forward, backward, Adam, decoupled weight decay, as trainer/train does it) on the chosen tfjs
 * backend at batch 1024, on an ML-100K-shaped feature spec with random inputs. Data slicing and evaluation are
 * not timed. Usage: tsx bench/models.ts [--backend wasm] [--seconds 4] [--batch 1024] [--extractor kser]
 * Last line: JSON.
 */
import * as tf from "@tensorflow/tfjs-core";
import { itemFeatureWidth, userFeatureWidth } from "../shared/feature-encoding.ts";
import type { FeatureSpec } from "../shared/manifest.ts";
import { type BackendPreference, initBackend } from "../trainer/accel/index.ts";
import { MODEL_DEFAULTS, type ModelConfig } from "../trainer/models/config.ts";
import { backboneNames, getExtractor } from "../trainer/models/registry.ts";
import { ParamStore, TfOps } from "../trainer/ops/tf-ops.ts";
import { TRAINING_DEFAULTS } from "../trainer/train/defaults.ts";
import { featureFeeds, forwardTf } from "../trainer/train/model.ts";
import { bceWithLogits } from "../trainer/train/train.ts";
import { mulberry32 } from "../trainer/util/random.ts";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const backend = arg("backend", "wasm") as BackendPreference;
const seconds = Number(arg("seconds", "4"));
const B = Number(arg("batch", String(TRAINING_DEFAULTS.batchSize)));
const extractor = arg("extractor", "kser");
const only = arg("backbones", "");

// ML-100K after prepare: item id + first genre; age bucket, gender, occupation; 5 history items; 128-d hashed chunks.
const spec: FeatureSpec = {
  historyLength: 5,
  itemFields: [
    { name: "item_id", vocabSize: 1683 },
    { name: "genre", vocabSize: 20 },
  ],
  userFields: [
    { name: "age", vocabSize: 8 },
    { name: "gender", vocabSize: 3 },
    { name: "occupation", vocabSize: 22 },
  ],
  ratingVocab: 6,
};
const knowledge = { user: { chunks: 4, dim: 128 }, item: { chunks: 4, dim: 128 } };

function randomFeeds(r: () => number): Map<string, tf.Tensor> {
  const L = spec.historyLength;
  const Fi = itemFeatureWidth(spec);
  const Fu = userFeatureWidth(spec);
  const int = (n: number) => Math.floor(r() * n);
  const feeds = featureFeeds(spec, {
    count: B,
    itemFeats: Int32Array.from({ length: B * Fi }, (_, i) => int(spec.itemFields[i % Fi].vocabSize)),
    userFeats: Int32Array.from({ length: B * Fu }, (_, i) => int(spec.userFields[i % Fu].vocabSize)),
    histFeats: Int32Array.from({ length: B * L * Fi }, (_, i) => int(spec.itemFields[i % Fi].vocabSize)),
    histRatings: Int32Array.from({ length: B * L }, () => int(spec.ratingVocab)),
    histMask: Float32Array.from({ length: B * L }, () => (r() < 0.8 ? 1 : 0)),
  });
  if (getExtractor(extractor).usesKnowledge) {
    for (const side of ["user", "item"] as const) {
      const { chunks: K, dim: d } = knowledge[side];
      feeds.set(`${side}_chunks`, tf.randomNormal([B, K, d], 0, 1, "float32", int(1e6)));
      feeds.set(
        `${side}_chunk_mask`,
        tf.tensor2d(
          Float32Array.from({ length: B * K }, () => (r() < 0.85 ? 1 : 0)),
          [B, K],
        ),
      );
    }
  }
  return feeds;
}

async function bench(backbone: string) {
  const cfg: ModelConfig = {
    backbone,
    extractor,
    embeddingDim: MODEL_DEFAULTS.embeddingDim,
    spec,
    knowledge: getExtractor(extractor).usesKnowledge ? knowledge : null,
    seed: 1,
  };
  const feeds = randomFeeds(mulberry32(7));
  const labels = tf.tensor1d(Float32Array.from({ length: B }, (_, i) => i % 2));
  const params = new ParamStore(true, 1);
  tf.tidy(() => {
    forwardTf(new TfOps(params, feeds), cfg);
  });
  const groups: Record<string, number> = {};
  for (const [name, t] of params.tensors) groups[name.split("/")[0]] = (groups[name.split("/")[0]] ?? 0) + t.size;
  const variables = params.variables();
  const optimizer = tf.train.adam(1e-3);
  const step = () =>
    tf.tidy(() => {
      const loss = optimizer.minimize(() => bceWithLogits(forwardTf(new TfOps(params, feeds), cfg).logit, labels), true, variables);
      for (const v of variables) v.assign(tf.mul(v, 1 - 1e-5));
      return loss!;
    });
  for (let i = 0; i < 2; i++) (await step().data()) && undefined;
  let steps = 0;
  const started = performance.now();
  let last: tf.Tensor | null = null;
  while (performance.now() - started < seconds * 1000 || steps < 3) {
    last?.dispose();
    last = step();
    if (++steps % 5 === 0) await last.data();
  }
  const loss = (await last!.data())[0];
  const elapsed = (performance.now() - started) / 1000;
  last!.dispose();
  optimizer.dispose();
  params.dispose();
  for (const t of feeds.values()) t.dispose();
  labels.dispose();
  const total = Object.values(groups).reduce((s, n) => s + n, 0);
  return {
    backbone,
    params: total,
    groups,
    examplesPerSecond: Math.round((steps * B) / elapsed),
    msPerStep: +((elapsed / steps) * 1000).toFixed(1),
    loss,
  };
}

const { name } = await initBackend(backend, () => {});
console.log(`backend ${name}, extractor ${extractor}, batch ${B}, embedding ${MODEL_DEFAULTS.embeddingDim}`);
const results = [];
for (const backbone of only ? only.split(",") : backboneNames()) {
  const r = await bench(backbone);
  results.push(r);
  const g = Object.entries(r.groups)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  console.log(
    `${backbone.padEnd(8)} params ${String(r.params).padStart(9)} (${g})  ${r.examplesPerSecond} examples/s, ${r.msPerStep} ms/step`,
  );
}
console.log(JSON.stringify({ backend: name, extractor, batch: B, results }));
