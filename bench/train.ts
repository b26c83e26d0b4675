/**
 * Training benchmark on the active tfjs backend (npm run bench:train [-- --backend wasm]):
 *  1. DeepFM + KSER on a synthetic dataset with a simulated knowledge bank (6 chunks x 128-d per field): training
 *     examples/s at batch 1024 and 8192 with the per-step split (input preparation, forward+backward, optimizer),
 *     and RSS after each of 3 epochs at batch 1024 (it must stay flat: no tensor leak).
 *  2. The reference shape of shared/notes/trainer-runtime.md (8 id fields of 16-d, vocabulary 10k each, two 128-d
 *     dense inputs projected to 16-d, MLP 160-256-128-1, Adam, batch 1024; measured there at 21,500 examples/s).
 * Prints one JSON object as the LAST line.
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { prepareDataset } from "../trainer/data/prepare.ts";
import { generateSyntheticDataset } from "../trainer/data/synthetic.ts";
import { buildBank } from "../trainer/knowledge/bank.ts";
import { createHashEncoder } from "../trainer/knowledge/encoders/hash.ts";
import { simulateKnowledge } from "../trainer/knowledge/simulator.ts";
import { denseLayer, mlp } from "../trainer/ops/ops.ts";
import { ParamStore, TfOps } from "../trainer/ops/tf-ops.ts";
import { type BackendPreference, initBackend } from "../trainer/runtime/backend.ts";
import { AdamW } from "../trainer/train/optimizer.ts";
import { bceWithLogits, trainModel } from "../trainer/train/train.ts";

const { values } = parseArgs({ options: { backend: { type: "string", default: "auto" }, users: { type: "string", default: "600" } } });
const backend = (await initBackend(values.backend as BackendPreference)).name;
const rssMiB = () => Math.round(process.memoryUsage().rss / 2 ** 20);

const raw = generateSyntheticDataset({ seed: 1, users: Number(values.users) });
const data = prepareDataset(raw, { seed: 1 });
const bank = await buildBank(simulateKnowledge(raw, data, { seed: 1, chunksPerField: 6 }), createHashEncoder({ dim: 128 }), { chunks: 6 });

async function kser(batchSize: number, epochs: number) {
  const rss: number[] = [];
  const r = await trainModel({
    data,
    bank,
    backbone: "deepfm",
    extractor: "kser",
    epochs,
    batchSize,
    seed: 1,
    patience: 99,
    log: (m) => {
      if (m.startsWith("epoch")) rss.push(rssMiB());
      console.log(`  b${batchSize} ${m}`);
    },
  });
  const t = r.timing;
  const ms = t.inputMs + t.forwardBackwardMs + t.optimizerMs;
  return {
    batchSize,
    examplesPerSecond: Math.round(t.examples / (ms / 1000)),
    stepMs: {
      input: +(t.inputMs / t.steps).toFixed(2),
      forwardBackward: +(t.forwardBackwardMs / t.steps).toFixed(2),
      optimizer: +(t.optimizerMs / t.steps).toFixed(2),
    },
    rssMiBPerEpoch: rss,
  };
}

/** The notes' reference model, written against the same Ops and trained with the same AdamW. */
function referenceShape(steps: number) {
  const B = 1024;
  const V = 10_000;
  const F = 8;
  const params = new ParamStore(true, 7);
  const ids = tf.keep(tf.randomUniform([B, F], 0, V, "int32", 1));
  const dense = [tf.keep(tf.randomNormal([B, 128], 0, 1, "float32", 2)), tf.keep(tf.randomNormal([B, 128], 0, 1, "float32", 3))];
  const labels = tf.keep(tf.cast(tf.greater(tf.randomUniform([B], 0, 1, "float32", 4), 0.5), "float32"));
  const forward = () => {
    const ops = new TfOps(params, new Map());
    const fields = Array.from({ length: F }, (_, f) =>
      ops.gather(ops.param(`emb/f${f}`, [V, 16], { kind: "normal", std: 0.01 }), ops.select(ids, 1, f)),
    );
    const projected = dense.map((x, i) => denseLayer(ops, `core/dense${i}`, x, 128, 16, "relu"));
    const h = mlp(ops, "core/mlp", ops.concat([...fields, ...projected], 1), 160, [256, 128], "relu");
    return ops.reshape(denseLayer(ops, "out", h.out, h.dim, 1, "linear"), [-1]);
  };
  tf.tidy(() => {
    forward();
  });
  const vars = new Map([...params.tensors].map(([n, t]) => [n, t as tf.Variable]));
  const opt = new AdamW(vars);
  const list = [...vars.values()];
  const step = () =>
    tf.tidy(() => {
      const { grads } = tf.variableGrads(() => bceWithLogits(forward(), labels), list);
      opt.apply(grads, 1e-3);
    });
  for (let i = 0; i < 5; i++) step();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  const ms = (performance.now() - t0) / steps;
  opt.dispose();
  params.dispose();
  tf.dispose([ids, ...dense, labels]);
  return { batchSize: B, examplesPerSecond: Math.round((B / ms) * 1000), stepMs: +ms.toFixed(2) };
}

console.log(`backend ${backend}; ${data.train.count} training samples; bank 2 x 6 chunks x 128-d`);
const b1024 = await kser(1024, 3);
console.log(JSON.stringify(b1024));
const b8192 = await kser(8192, 1);
console.log(JSON.stringify(b8192));
const reference = referenceShape(40);
console.log(JSON.stringify(reference));
console.log(
  JSON.stringify({
    backend,
    trainSamples: data.train.count,
    kser1024: b1024,
    kser8192: b8192,
    reference: { ...reference, notesExamplesPerSecond: 21_500, target: 40_000 },
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
);
