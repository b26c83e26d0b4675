/**
 * Training benchmark on the active tfjs backend (npm run bench:train [-- --backend wasm]):
 *  1. DeepFM + KSER on a synthetic dataset with a simulated knowledge bank (6 chunks x 128-d per field): training
 *     examples/s at batch 1024 and 8192 with the per-step split (input preparation, forward+backward, optimizer),
 *     and RSS after each of 3 epochs at batch 1024 (it must stay flat: no tensor leak), as it is and after a full
 *     garbage collection, with the live tensor count: on tfjs-wasm's threaded build (shared heap) V8 collects less
 *     often, since that heap is not counted as external memory, so uncollected garbage can raise the first figure.
 *  2. The reference shape of shared/notes/trainer-runtime.md (8 id fields of 16-d, vocabulary 10k each, two 128-d
 *     dense inputs projected to 16-d, MLP 160-256-128-1, Adam, batch 1024; the note has its rates).
 * Rates come as examples per wall second and per CPU second (process.cpuUsage over the steps): on a shared machine
 * the wall rate mostly measures the other processes; loadAverage is in the JSON. Reference-shape times are medians
 * of per-step times.
 * Options: --only reference|kser (default all), --steps N (reference), --dense-embeddings (dense AdamW over whole
 * embedding tables, the pre-sparse path; lazy sparse updates by default). KSER_NO_LAYOUT_FIXES=1 leaves wasm's own
 * Transpose/Concat/SplitV/Sum/Slice kernels, KSER_WASM_GEMM=off|plain tfjs's matrix products or ours without FMA,
 * KSER_COPY_IDENTITY=1 wasm's copying Identity, KSER_WASM_ADAMW=off the JS AdamW update, KSER_WASM_LAYOUT=off the JS
 * loops (and wasm's Slice) for the layout kernel's copies, gathers, slices, bias sums and embedding-row gradient
 * sums, KSER_WASM_FUSED_DENSE=off tfjs's three kernels per relu layer, KSER_WASM_THREADS=N helper threads for
 * products (default one per physical core), for comparison.
 * Prints one JSON object as the LAST line.
 */
import { availableParallelism, loadavg } from "node:os";
import { parseArgs } from "node:util";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import * as tf from "@tensorflow/tfjs-core";
import { type BackendPreference, initBackend, wasmKernelStatus } from "../trainer/accel/index.ts";
import { buildBank } from "../trainer/knowledge/bank.ts";
import { KNOWLEDGE_DEFAULTS } from "../trainer/knowledge/defaults.ts";
import { createHashEncoder } from "../trainer/knowledge/encoders/hash.ts";
import { simulateKnowledge } from "../trainer/knowledge/simulator.ts";
import { MODEL_DEFAULTS } from "../trainer/models/config.ts";
import { ParamStore, TfOps } from "../trainer/ops/tf-ops.ts";
import { loadExperimentData, trainExperiment } from "../trainer/pipeline/pipeline.ts";
import { AdamW } from "../trainer/train/optimizer.ts";
import { SparseEmbeddings, sparseTables } from "../trainer/train/sparse-embeddings.ts";
import { bceWithLogits } from "../trainer/train/train.ts";
import { REFERENCE_SHAPE, referenceShapeLogit } from "./reference-shape.ts";

const { values } = parseArgs({
  options: {
    backend: { type: "string", default: "auto" },
    users: { type: "string", default: "600" },
    /** all | reference | kser (reference: only the notes' shape, quick). */
    only: { type: "string", default: "all" },
    steps: { type: "string", default: "40" },
    /** Dense AdamW over whole embedding tables (the pre-sparse path), for comparison. */
    "dense-embeddings": { type: "boolean", default: false },
  },
});
const backend = (await initBackend(values.backend as BackendPreference)).name;
const rssMiB = () => Math.round(process.memoryUsage().rss / 2 ** 20);
// A full collection on demand without starting node with --expose-gc.
v8.setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

const { raw, data } = await loadExperimentData({ source: "synthetic", seed: 1, users: Number(values.users) });
// Uncompressed: the hash encoder's vectors, K chunks per entity.
const { chunks, encoderDim } = KNOWLEDGE_DEFAULTS;
const bank = await buildBank(simulateKnowledge(raw!, data, { seed: 1, chunksPerField: chunks }), createHashEncoder({ dim: encoderDim }), {
  chunks,
});

async function kser(batchSize: number, epochs: number) {
  const rss: number[] = [];
  const rssAfterGc: number[] = [];
  const tensors: number[] = [];
  const plan = {
    model: { backbone: "deepfm", extractor: "kser", embeddingDim: MODEL_DEFAULTS.embeddingDim },
    training: { epochs, batchSize, seed: 1, patience: 99 },
  };
  const r = await trainExperiment(plan, data, bank, {
    sparseEmbeddings: !values["dense-embeddings"],
    log: (m) => {
      if (m.startsWith("epoch")) {
        rss.push(rssMiB());
        collectGarbage();
        rssAfterGc.push(rssMiB());
        tensors.push(tf.memory().numTensors);
      }
      console.log(`  b${batchSize} ${m}`);
    },
  });
  const t = r.timing;
  const ms = t.inputMs + t.forwardBackwardMs + t.optimizerMs;
  return {
    batchSize,
    examplesPerSecond: Math.round(t.examples / (ms / 1000)),
    cpuMsPerStep: +(t.cpuMs / t.steps).toFixed(2),
    examplesPerCpuSecond: Math.round(t.examples / (t.cpuMs / 1000)),
    stepMs: {
      input: +(t.inputMs / t.steps).toFixed(2),
      forwardBackward: +(t.forwardBackwardMs / t.steps).toFixed(2),
      optimizer: +(t.optimizerMs / t.steps).toFixed(2),
    },
    rssMiBPerEpoch: rss,
    rssAfterGcMiBPerEpoch: rssAfterGc,
    liveTensorsPerEpoch: tensors,
  };
}

/** The notes' reference model (reference-shape.ts, also the PyTorch twin's), trained with the same AdamW. */
function referenceShape(steps: number) {
  const { batch: B, vocab: V, idFields: F, denseDim: D } = REFERENCE_SHAPE;
  const params = new ParamStore(true, 7);
  const ids = tf.keep(tf.randomUniform([B, F], 0, V, "int32", 1));
  const dense = [tf.keep(tf.randomNormal([B, D], 0, 1, "float32", 2)), tf.keep(tf.randomNormal([B, D], 0, 1, "float32", 3))];
  const labels = tf.keep(tf.cast(tf.greater(tf.randomUniform([B], 0, 1, "float32", 4), 0.5), "float32"));
  const forward = (ops: TfOps = new TfOps(params, new Map())) => referenceShapeLogit(ops, ids, dense);
  tf.tidy(() => {
    forward();
  });
  const vars = new Map([...params.tensors].map(([n, t]) => [n, t as tf.Variable]));
  const opt = new AdamW(vars);
  const tables = values["dense-embeddings"]
    ? new Map<string, tf.Variable>()
    : sparseTables(params, vars, (makeOps) => bceWithLogits(forward(makeOps(new Map())), labels));
  const sparse = new SparseEmbeddings(tables);
  const list = [...[...vars].filter(([n]) => !tables.has(n)).map(([, v]) => v), sparse.anchor];
  const step = () =>
    tf.tidy(() => {
      sparse.reset();
      const { grads } = tf.variableGrads(() => bceWithLogits(forward(sparse.ops(params, new Map())), labels), list);
      opt.apply(grads, 1e-3, sparse.rows);
    });
  for (let i = 0; i < 5; i++) step();
  // Per-step CPU and wall times; medians, since other processes' load makes single steps noisy.
  const cpuMs: number[] = [];
  const wallMs: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    step();
    const c = process.cpuUsage(c0);
    cpuMs.push((c.user + c.system) / 1000);
    wallMs.push(performance.now() - t0);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const ms = median(wallMs);
  const cpu = median(cpuMs);
  opt.dispose();
  sparse.dispose();
  params.dispose();
  tf.dispose([ids, ...dense, labels]);
  return {
    batchSize: B,
    sparseTables: tables.size,
    examplesPerSecond: Math.round((B / ms) * 1000),
    /** Medians over the measured steps. */
    stepMs: +ms.toFixed(2),
    cpuMsPerStep: +cpu.toFixed(2),
    minCpuMsPerStep: +Math.min(...cpuMs).toFixed(2),
    /** Examples per CPU-second: the rate on an idle core (wall time counts other processes' load too). */
    examplesPerCpuSecond: Math.round((B / cpu) * 1000),
  };
}

console.log(
  `backend ${backend}; ${data.train.count} training samples; bank 2 x ${chunks} chunks x ${encoderDim}-d; load ${loadavg().map((l) => l.toFixed(2))}`,
);
const runKser = values.only === "all" || values.only === "kser";
const runReference = values.only === "all" || values.only === "reference";
const b1024 = runKser ? await kser(1024, 3) : null;
if (b1024) console.log(JSON.stringify(b1024));
const b8192 = runKser ? await kser(8192, 1) : null;
if (b8192) console.log(JSON.stringify(b8192));
const reference = runReference ? referenceShape(Number(values.steps)) : null;
if (reference) console.log(JSON.stringify(reference));
console.log(
  JSON.stringify({
    backend,
    trainSamples: data.train.count,
    /** 1-minute load average at the end: wall-time rates are only comparable at similar load. */
    loadAverage: +loadavg()[0].toFixed(2),
    cpus: availableParallelism(),
    /** Whether wasm's matrix products ran in our kernel (KSER_WASM_GEMM), and with fused multiply-add. */
    wasmGemm: backend === "wasm" ? wasmKernelStatus().gemm : null,
    /** Whether AdamW ran in our wasm kernel (KSER_WASM_ADAMW) or the JS loop. */
    adamw: backend === "wasm" && wasmKernelStatus().adamw ? "kser wasm kernel" : "JS loop",
    /** Whether the layout kernel's copies, transposes, gathers, slices and sums ran in our wasm kernel (KSER_WASM_LAYOUT), and its calls. */
    layout: backend === "wasm" ? wasmKernelStatus().layout : null,
    kser1024: b1024,
    kser8192: b8192,
    reference: reference && { ...reference, notesExamplesPerSecond: 21_500, target: 40_000 },
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
);
