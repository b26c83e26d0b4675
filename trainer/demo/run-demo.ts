/**
 * The offline end-to-end run behind `npm run demo`: generated data -> simulated LLM knowledge -> DeepFM champion
 * and DeepFM + KSER candidate trained on tfjs -> ONNX export + parity -> KV bundle published into the local state
 * `wrangler dev` reads -> the worker started -> real HTTP score requests -> the worker stopped.
 */
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import * as ortWeb from "onnxruntime-web";
import { BUCKETS, rolloutConfigFromWeights } from "../../shared/rollout.ts";
import type { ScoreResponse } from "../../shared/score-api.ts";
import { initBackend } from "../accel/index.ts";
import type { PreparedDataset } from "../data/types.ts";
import { maxAbsDiff, type OrtLike, onnxParity, openPipeline } from "../export/onnx-runner.ts";
import { requestBatch } from "../export/request-batch.ts";
import { buildServingBundle, mergeBundles, type ServingBundle } from "../export/serving-bundle.ts";
import type { StoredBank } from "../knowledge/bank.ts";
import { openLocalTarget } from "../kv/local.ts";
import { type ExperimentConfig, parseExperimentConfig, SYNTHETIC_SEED } from "../pipeline/config.ts";
import { experimentKnowledge, loadExperimentData, trainExperiment } from "../pipeline/pipeline.ts";
import { writeBundle } from "../publish/kv-bundle.ts";
import { publishBundle } from "../publish/publish.ts";
import { startWranglerDev } from "../serve/wrangler-dev.ts";
import { predictTf, type TrainedModel } from "../train/model.ts";

export interface DemoOptions {
  projectRoot: string;
  /** Where the run's files go (bundle, local KV state). */
  outDir: string;
  seed?: number;
  epochs?: number;
  backend?: "auto" | "tensorflow" | "webgpu" | "wasm" | "cpu";
  /** Skip starting the worker (for environments without workerd). */
  serve?: boolean;
  log?: (line: string) => void;
}

export const PARITY_TOLERANCE = 1e-5;
/** Worker vs tfjs through HTTP: ORT-web in workerd vs tfjs, the same graphs, float32 JSON round trip. */
export const SERVING_TOLERANCE = 1e-4;

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

function pickCandidates(data: PreparedDataset, userIndex: number, count: number, seed: number): string[] {
  const items = data.vocabulary.fields.item_id.slice(1);
  const out = new Set<string>();
  let state = (seed * 2654435761 + userIndex * 40503) >>> 0;
  while (out.size < Math.min(count, items.length)) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out.add(items[state % items.length]);
  }
  return [...out];
}

type Log = (line: string) => void;

/** The champion's experiment; the candidate is the same with KSER's extractor on top of it. */
function demoExperiment(seed: number, epochs: number): ExperimentConfig {
  return parseExperimentConfig({
    data: { source: "synthetic", seed },
    knowledge: { kind: "simulator", seed },
    model: { backbone: "deepfm", extractor: "none" },
    training: { epochs, seed },
  });
}

/** Generated data and its simulated knowledge bank. */
async function demoInputs(experiment: ExperimentConfig, log: Log): Promise<{ data: PreparedDataset; bank: StoredBank }> {
  let t = performance.now();
  const inputs = await loadExperimentData(experiment.data);
  const { raw, data } = inputs;
  log(
    `[data] generated ${raw?.users.length} users, ${raw?.items.length} items, ${raw?.interactions.length} interactions; ` +
      `samples train ${data.train.count} / valid ${data.valid.count} / test ${data.test.count} (${seconds(t)})`,
  );

  t = performance.now();
  const { bank, report } = await experimentKnowledge(experiment.knowledge, inputs);
  const k = experiment.knowledge;
  if (!bank || k.kind !== "simulator") throw new Error("the demo simulates its knowledge");
  log(
    `[knowledge] simulated and encoded ${bank.user.ids.length} user + ${bank.item.ids.length} item knowledge texts, ${k.chunks} chunks each; ` +
      `PCA ${k.encoderDim}->${k.dim} + ${k.codec === "i8" ? "int8" : k.codec}: mean cosine ${report?.user?.total.meanCosine.toFixed(3)} (user), ` +
      `${report?.item?.total.meanCosine.toFixed(3)} (item) (${seconds(t)})`,
  );
  return { data, bank };
}

/** The champion is the backbone alone; the candidate adds KSER's extractor on top of it, backbone core frozen. */
async function trainDemoModels(experiment: ExperimentConfig, data: PreparedDataset, bank: StoredBank, log: Log) {
  const train = async (extractor: string, from?: TrainedModel): Promise<TrainedModel> => {
    const t0 = performance.now();
    const strategy = from ? "extractor-only" : "all-params";
    const model = await trainExperiment(
      { model: { ...experiment.model, extractor }, training: { ...experiment.training, strategy } },
      data,
      from ? bank : null,
      { from },
    );
    const m = model.metrics.test;
    log(
      `[train] deepfm + ${extractor} (${strategy}): test AUC ${m.auc.toFixed(4)}, LogLoss ${m.logloss.toFixed(4)}, ` +
        `GAUC ${m.gauc.toFixed(4)} (${seconds(t0)})`,
    );
    return model;
  };
  const champion = await train("none");
  const candidate = await train("kser", champion);
  return { champion, candidate };
}

/** What the export, publish and serve steps share. */
interface DemoModels {
  data: PreparedDataset;
  bank: StoredBank;
  seed: number;
  champion: TrainedModel;
  candidate: TrainedModel;
  championBundle: ServingBundle;
  candidateBundle: ServingBundle;
}

/** Both models' serving bundles, each checked against tfjs in onnxruntime-web; the largest difference. */
async function exportDemoModels(
  { data, bank, seed, champion, candidate }: Omit<DemoModels, "championBundle" | "candidateBundle">,
  log: Log,
): Promise<DemoModels & { parity: number }> {
  const ort = ortWeb as unknown as OrtLike;
  ortWeb.env.wasm.numThreads = 1;
  const userIndex = data.test.userIndex[0];
  const profile = data.profiles.find((p) => p.userId === data.userIds[userIndex])!;
  const parityRequest = { ...profile, candidates: pickCandidates(data, userIndex, 257, seed) };
  let parity = 0;
  const championBundle = buildServingBundle({ model: champion, data, bank: null, includeProfiles: true });
  const candidateBundle = buildServingBundle({
    model: candidate,
    data,
    bank,
    knowledgeCodec: bank.codec,
    includeProfiles: true,
    strategy: "extractor-only",
  });
  for (const [model, built] of [
    [champion, championBundle],
    [candidate, candidateBundle],
  ] as const) {
    const pipeline = await openPipeline(ort, built.graphs);
    const diff = await onnxParity(ort, pipeline, model, requestBatch(model, model === champion ? null : bank, parityRequest));
    parity = Math.max(parity, diff);
    log(`[export] ${built.manifest.modelId}: ONNX (onnxruntime-web) vs tfjs max |diff| ${diff.toExponential(2)} over 257 candidates`);
  }
  if (!(parity < PARITY_TOLERANCE)) throw new Error(`ONNX parity ${parity} exceeds ${PARITY_TOLERANCE}: not publishing`);

  return { data, bank, seed, champion, candidate, championBundle, candidateBundle, parity };
}

/** Both bundles and a 50/50 rollout written to the bundle folder and published into the local KV state. */
async function publishDemo(
  options: DemoOptions,
  { seed, championBundle, candidateBundle }: DemoModels,
  log: Log,
  t: number,
): Promise<string> {
  const rollout = rolloutConfigFromWeights({
    salt: `demo-${seed}`,
    variants: [
      { name: "control", modelId: championBundle.manifest.modelId, weight: BUCKETS / 2 },
      { name: "kser", modelId: candidateBundle.manifest.modelId, weight: BUCKETS / 2 },
    ],
    fallback: "control",
    updatedAt: new Date().toISOString(),
  });
  const bundle = mergeBundles(championBundle.bundle, candidateBundle.bundle, { entries: [] });
  bundle.entries.push({ key: "rollout/config", value: JSON.stringify(rollout), stage: "pointer" });
  const bundleDir = path.join(options.outDir, "bundle");
  await writeBundle(bundleDir, bundle);
  const persistTo = path.join(options.outDir, "kv-state");
  const target = await openLocalTarget({ configPath: path.join(options.projectRoot, "wrangler.toml"), persistTo });
  try {
    const published = await publishBundle(bundle, target, { log: (line) => log(`[publish] ${line}`) });
    log(
      `[publish] ${bundle.entries.length} KV entries (${Object.entries(published.written)
        .map(([stage, n]) => `${n} ${stage}`)
        .join(", ")}) into ${path.relative(options.projectRoot, persistTo)}; rollout control 50% / kser 50% (${seconds(t)})`,
    );
  } finally {
    await target.close();
  }
  return persistTo;
}

/** Starts the worker on the published state and scores test users over HTTP until both variants answered. */
async function scoreOverHttp(options: DemoOptions, persistTo: string, models: DemoModels, log: Log): Promise<number> {
  const { data, bank, seed, champion, candidate, candidateBundle } = models;
  let servingDiff = 0;
  const t = performance.now();
  const worker = await startWranglerDev({ projectRoot: options.projectRoot, persistTo });
  log(`[serve] wrangler dev answering on ${worker.url} (${seconds(t)})`);
  try {
    // Score for test users until both variants have answered (the split is 50/50 by user bucket).
    const seen = new Set<string>();
    const testUsers = [...new Set(data.test.userIndex)];
    let shown = 0;
    for (let i = 0; i < testUsers.length && (seen.size < 2 || shown < 4); i++) {
      const ui = testUsers[i];
      const userId = data.userIds[ui];
      const request = { userId, candidates: pickCandidates(data, ui, 10, seed + 1) };
      const t0 = performance.now();
      const res = await fetch(`${worker.url}/v1/score`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(request),
      });
      const body = (await res.json()) as ScoreResponse & { error?: { message: string } };
      const ms = performance.now() - t0;
      if (!res.ok) throw new Error(`score request for user ${userId} failed with ${res.status}: ${body.error?.message}`);
      if (shown >= 3 && seen.has(body.variant)) continue; // keep the printout short; wait for the other variant
      seen.add(body.variant);
      shown++;
      const model = body.modelId === candidateBundle.manifest.modelId ? candidate : champion;
      const profileOf = data.profiles.find((p) => p.userId === userId)!;
      const expected = await predictTf(
        model,
        requestBatch(model, model === candidate ? bank : null, { ...profileOf, candidates: request.candidates }),
      );
      const diff = maxAbsDiff(Float32Array.from(body.scores), expected);
      servingDiff = Math.max(servingDiff, diff);
      log(
        `[serve] POST /v1/score user ${userId}: ${res.status} in ${ms.toFixed(0)} ms, variant ${body.variant} (${body.modelId}), ` +
          `knowledge user ${body.knowledge.user} / items precomputed ${body.knowledge.itemsPrecomputed}, |worker - tfjs| <= ${diff.toExponential(1)}`,
      );
      for (const [rank, item] of body.ranked.slice(0, 3).entries())
        log(`          ${rank + 1}. item ${item.itemId}  score ${item.score.toFixed(4)}`);
    }
  } finally {
    await worker.stop();
    log("[serve] worker stopped");
  }
  return servingDiff;
}

export async function runDemo(options: DemoOptions): Promise<{ parity: number; servingDiff: number }> {
  const log = options.log ?? ((line: string) => console.log(line));
  const seed = options.seed ?? SYNTHETIC_SEED;
  const experiment = demoExperiment(seed, options.epochs ?? 4);
  const started = performance.now();
  await rm(options.outDir, { recursive: true, force: true });
  await mkdir(options.outDir, { recursive: true });

  const { data, bank } = await demoInputs(experiment, log);
  const backend = await initBackend(options.backend ?? "auto", (line) => log(`[backend] ${line}`));
  log(`[backend] training on tfjs backend: ${backend.name}`);
  const { champion, candidate } = await trainDemoModels(experiment, data, bank, log);

  const t = performance.now();
  const models = await exportDemoModels({ data, bank, seed, champion, candidate }, log);
  const persistTo = await publishDemo(options, models, log, t);

  let servingDiff = 0;
  if (options.serve !== false) {
    servingDiff = await scoreOverHttp(options, persistTo, models, log);
    if (!(servingDiff < SERVING_TOLERANCE)) throw new Error(`worker scores differ from tfjs by ${servingDiff} (> ${SERVING_TOLERANCE})`);
  }
  log(`[demo] done in ${seconds(started)}`);
  return { parity: models.parity, servingDiff };
}
