/**
 * The stages of a nightly run, in order (trainer/nightly/run.ts runs them): each writes its outputs into the run
 * directory and returns the summary recorded in state.json once they are all on disk.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { BUCKETS, type RolloutConfig } from "../../shared/rollout.ts";
import { initBackend } from "../accel/index.ts";
import { evaluateOnHoldout } from "../eval/holdout.ts";
import { exportModel } from "../export/export-model.ts";
import type { StoredBank } from "../knowledge/bank.ts";
import type { KvTarget } from "../kv/types.ts";
import { type TrainExtras, type TrainingPlan, trainExperiment } from "../pipeline/pipeline.ts";
import { type KvBundle, readBundle, writeBundle } from "../publish/kv-bundle.ts";
import { publishBundle } from "../publish/publish.ts";
import { runRollout } from "../rollout/actions.ts";
import { buildConfig, percentToWeight } from "../rollout/plan.ts";
import { readRolloutConfig } from "../rollout/store.ts";
import { loadModel } from "../train/checkpoint.ts";
import type { TrainedModel } from "../train/model.ts";
import { writeRunOutputs } from "../train/run-outputs.ts";
import type { Strategy } from "../train/strategy.ts";
import { writeJsonAtomic } from "../util/atomic-write.ts";
import type { NightlyConfig } from "./config.ts";
import { gateCandidate } from "./gate.ts";
import { ingest } from "./ingest.ts";
import { refreshKnowledge } from "./knowledge.ts";
import { EXIT, publishOrFail, StageError } from "./outcome.ts";
import { plainModel, registeredModel, registerModel } from "./registry.ts";
import { writeReport } from "./report.ts";
import { bundleDir, lastSuccessfulRun, type RunState, readJson, type StageName } from "./run-dir.ts";
import type { RunInputs } from "./run-inputs.ts";

export interface ProgressBar {
  update(value: number): void;
  stop(): void;
}

/** What every stage works with. */
export interface StageContext {
  config: NightlyConfig;
  /** The run directory. */
  dir: string;
  state: RunState;
  inputs: RunInputs;
  log: (line: string) => void;
  /** Progress bar factory for long steps (the CLI gives one on a TTY). */
  progress?: (label: string, total: number) => ProgressBar;
}

type Stage = (ctx: StageContext) => Promise<Record<string, unknown>>;

const previousRun = (ctx: StageContext) => (ctx.state.stages.ingest?.summary.previousRun as string | null) ?? null;
const championId = (ctx: StageContext) => ctx.state.stages.champion?.summary.modelId as string;
const candidateDir = (ctx: StageContext) => path.join(ctx.dir, "train", "candidate");

/** The config's model section as a training plan: `extractor`, epochs and strategy differ between champion and candidate. */
function trainingPlan(ctx: StageContext, extractor: string, epochs: number, strategy: Strategy): TrainingPlan {
  const m = ctx.config.model;
  return {
    model: { backbone: m.backbone, extractor, embeddingDim: m.embeddingDim },
    training: { epochs, batchSize: m.batchSize, learningRate: m.learningRate, seed: m.seed, strategy },
  };
}

async function trainWithProgress(ctx: StageContext, label: string, plan: TrainingPlan, bank: StoredBank | null, extras: TrainExtras) {
  const bar = ctx.progress?.(label, plan.training.epochs ?? 1);
  try {
    return await trainExperiment(plan, await ctx.inputs.data(), bank, {
      ...extras,
      onStep: bar ? (done, total, epoch) => bar.update(epoch - 1 + done / total) : undefined,
      log: (m) => ctx.log(`[${label}] ${m}`),
    });
  } finally {
    bar?.stop();
  }
}

async function publishWithProgress(ctx: StageContext, bundle: KvBundle, t: KvTarget) {
  const bar = ctx.progress?.("publish", 1);
  try {
    return await publishBundle(bundle, t, {
      log: (l) => ctx.log(`[publish] ${l}`),
      onProgress: bar ? (done, total) => bar.update(done / total) : undefined,
    });
  } finally {
    bar?.stop();
  }
}

const ingestStage: Stage = async (ctx) => {
  const prev = await lastSuccessfulRun(ctx.config.runsDir, ctx.dir);
  const summary = await ingest(ctx.config, await ctx.inputs.raw(), ctx.dir, prev);
  ctx.log(
    `[ingest] ${summary.users} users, ${summary.items} items, ${summary.interactions} interactions ` +
      `(new: ${summary.newUsers} users, ${summary.newItems} items, ${summary.newInteractions} interactions)`,
  );
  return { ...summary };
};

const knowledgeStage: Stage = async (ctx) => {
  const bar = ctx.progress?.("knowledge", 1);
  const s = await refreshKnowledge(
    ctx.config,
    await ctx.inputs.raw(),
    await ctx.inputs.data(),
    ctx.dir,
    previousRun(ctx),
    (l) => ctx.log(`[knowledge] ${l}`),
    bar ? (done, total) => bar.update(done / total) : undefined,
  ).finally(() => bar?.stop());
  return { ...s };
};

/** First run: no champion yet. The backbone is trained alone, published, and made the live champion. */
async function trainFirstChampion(ctx: StageContext, t: KvTarget): Promise<Record<string, unknown>> {
  const { config, dir } = ctx;
  await initBackend();
  const d = await ctx.inputs.data();
  const m = config.model;
  const plan = trainingPlan(ctx, "none", m.championEpochs ?? m.epochs, "all-params");
  const result = await trainWithProgress(ctx, "champion", plan, null, { runDir: path.join(dir, "train", "champion") });
  const model = plainModel(result);
  const { summary, built } = await exportModel(model, d, null, { latencyCandidates: config.gate.latencyCandidates });
  await writeBundle(bundleDir(dir, "champion"), built.bundle);
  if (!(summary.parity <= config.gate.maxParityDiff))
    throw new StageError(EXIT.UNEXPECTED, "failed", `champion ONNX parity ${summary.parity} exceeds ${config.gate.maxParityDiff}`);
  await registerModel(config.runsDir, summary.modelId, model, { modelId: summary.modelId, backboneModelId: summary.modelId, runDir: dir });
  await publishOrFail(() => publishWithProgress(ctx, built.bundle, t));
  const rollout = buildConfig({
    salt: config.name,
    variants: [{ name: config.rollout.championVariant, modelId: summary.modelId }],
    now: new Date().toISOString(),
  });
  await publishOrFail(() => runRollout(t, { kind: "set", config: rollout }, { print: (l) => ctx.log(`[rollout] ${l}`) }));
  ctx.log(`[champion] no live champion: trained ${summary.modelId} (test AUC ${model.metrics.test.auc.toFixed(4)}) and made it live`);
  return { modelId: summary.modelId, source: "trained", history: model.history, export: summary };
}

const championStage: Stage = async (ctx) => {
  const t = await ctx.inputs.target();
  const live = await readRolloutConfig(t);
  if (!live) return trainFirstChampion(ctx, t);
  const id = live.variants[0].modelId;
  await registeredModel(ctx.config.runsDir, id);
  ctx.log(`[champion] live champion ${id} (variant ${live.variants[0].name})`);
  return { modelId: id, source: "live" };
};

/**
 * extractor-only starts from the champion's backbone when it is the configured backbone on this run's vocabulary;
 * otherwise the candidate trains all-params (embedding rows are indexed by vocabulary: copying them across
 * vocabularies would mix up ids).
 */
async function startingPoint(ctx: StageContext): Promise<{ strategy: Strategy; from?: TrainedModel; backboneModelId: string | null }> {
  const m = ctx.config.model;
  const { model: champion, lineage } = await registeredModel(ctx.config.runsDir, championId(ctx));
  if (m.strategy !== "extractor-only") return { strategy: m.strategy, backboneModelId: lineage.backboneModelId };
  const backbone =
    champion.config.extractor === "none"
      ? champion
      : lineage.backboneModelId
        ? (await registeredModel(ctx.config.runsDir, lineage.backboneModelId)).model
        : null;
  const d = await ctx.inputs.data();
  const sameVocab = backbone && JSON.stringify(backbone.vocabulary) === JSON.stringify(d.vocabulary);
  if (backbone && sameVocab && backbone.config.backbone === m.backbone)
    return { strategy: "extractor-only", from: backbone, backboneModelId: lineage.backboneModelId };
  ctx.log(
    `[train] extractor-only needs the champion's backbone (${m.backbone}) on this run's vocabulary; ` +
      `${!backbone ? "there is none" : !sameVocab ? "the vocabulary changed" : "the backbone differs"}: training all-params`,
  );
  return { strategy: "all-params", backboneModelId: lineage.backboneModelId };
}

const trainStage: Stage = async (ctx) => {
  await ctx.inputs.releaseTarget();
  await initBackend();
  const d = await ctx.inputs.data();
  const m = ctx.config.model;
  const { strategy, from, backboneModelId } = await startingPoint(ctx);
  const plan = trainingPlan(ctx, m.extractor, m.epochs, strategy);
  const result = await trainWithProgress(ctx, "train", plan, ctx.inputs.bank(), { from, runDir: candidateDir(ctx) });
  await writeRunOutputs(candidateDir(ctx), result, d, ctx.inputs.bank(), { strategy });
  return {
    strategy,
    startedFrom: strategy === "extractor-only" ? backboneModelId : null,
    epochs: result.history.length,
    resumedFrom: result.resumedFrom,
    backend: result.backend,
    test: result.metrics.test,
  };
};

const evaluateStage: Stage = async (ctx) => {
  await initBackend();
  const d = await ctx.inputs.data();
  const candidate = await loadModel(path.join(candidateDir(ctx), "model"));
  const { model: champion } = await registeredModel(ctx.config.runsDir, championId(ctx));
  const cand = await evaluateOnHoldout(candidate, d, ctx.inputs.bank());
  const champ = await evaluateOnHoldout(champion, d, ctx.inputs.bank());
  const metrics = {
    holdout: { split: "test", samples: cand.metrics.samples },
    candidate: {
      backbone: candidate.config.backbone,
      extractor: candidate.config.extractor,
      ...cand.metrics,
      history: candidate.history,
    },
    champion: {
      modelId: championId(ctx),
      backbone: champion.config.backbone,
      extractor: champion.config.extractor,
      ...champ.metrics,
      history: champion.history,
    },
    gates: cand.gates,
  };
  await writeJsonAtomic(path.join(ctx.dir, "metrics.json"), metrics);
  ctx.log(
    `[evaluate] holdout ${cand.metrics.samples} samples: candidate AUC ${cand.metrics.auc.toFixed(4)}, ` +
      `champion AUC ${champ.metrics.auc.toFixed(4)} (gain ${(cand.metrics.auc - champ.metrics.auc).toFixed(4)})`,
  );
  return { candidateAuc: cand.metrics.auc, championAuc: champ.metrics.auc };
};

const exportStage: Stage = async (ctx) => {
  await initBackend();
  const candidate = await loadModel(path.join(candidateDir(ctx), "model"));
  const { summary, built } = await exportModel(candidate, await ctx.inputs.data(), ctx.inputs.bank(), {
    latencyCandidates: ctx.config.gate.latencyCandidates,
    strategy: ctx.state.stages.train?.summary.strategy as Strategy | undefined,
    knowledgeCodec: ctx.inputs.bank()?.codec,
  });
  await writeBundle(bundleDir(ctx.dir, "candidate"), built.bundle);
  await writeJsonAtomic(path.join(ctx.dir, "export.json"), summary);
  ctx.log(
    `[export] ${summary.modelId}: ${summary.modelBytes} bytes, parity ${summary.parity.toExponential(2)}, ` +
      `p95 ${summary.latencyMs.p95.toFixed(2)} ms for ${summary.latencyMs.candidates} candidates`,
  );
  return { modelId: summary.modelId };
};

const gateStage: Stage = async (ctx) => {
  const metrics = await readJson<{ candidate: Parameters<typeof gateCandidate>[1]; champion: Parameters<typeof gateCandidate>[2] }>(
    path.join(ctx.dir, "metrics.json"),
  );
  const exported = await readJson<Parameters<typeof gateCandidate>[3]>(path.join(ctx.dir, "export.json"));
  const result = gateCandidate(ctx.config.gate, metrics.candidate, metrics.champion, exported);
  await writeJsonAtomic(path.join(ctx.dir, "gate.json"), result);
  for (const c of result.checks) ctx.log(`[gate] ${c.passed ? "pass" : "FAIL"} ${c.name}: ${c.value} ${c.op} ${c.limit}`);
  return { passed: result.passed, failed: result.checks.filter((c) => !c.passed).map((c) => c.name) };
};

const publishStage: Stage = async (ctx) => {
  const { config, dir } = ctx;
  const t = await ctx.inputs.target();
  const bundle = await readBundle(bundleDir(dir, "candidate"));
  const { modelId } = await readJson<{ modelId: string }>(path.join(dir, "export.json"));
  const { lineage } = await registeredModel(config.runsDir, championId(ctx));
  const candidate = await loadModel(path.join(candidateDir(ctx), "model"));
  const strategy = ctx.state.stages.train?.summary.strategy;
  await registerModel(config.runsDir, modelId, candidate, {
    modelId,
    backboneModelId: strategy === "extractor-only" ? lineage.backboneModelId : null,
    runDir: dir,
  });
  const report = await publishOrFail(() => publishWithProgress(ctx, bundle, t));
  await writeJsonAtomic(path.join(dir, "publish.json"), { modelId, target: t.description, ...report });
  return { modelId, written: report.written };
};

/**
 * The next rollout, built from the live config: the candidate variant keeps its buckets (its users get the new
 * model) and only trades users with the champion when rampPercent changes; other variants' users go to the champion.
 */
function rampedConfig(config: NightlyConfig, live: RolloutConfig, modelId: string): RolloutConfig {
  const r = config.rollout;
  const now = new Date().toISOString();
  if (r.rampPercent >= 100)
    return buildConfig({ salt: live.salt, variants: [{ name: r.championVariant, modelId, weight: BUCKETS }], now, live });
  return buildConfig({
    salt: live.salt,
    variants: [
      { name: r.championVariant, modelId: live.variants[0].modelId },
      { name: r.candidateVariant, modelId, weight: percentToWeight(r.rampPercent) },
    ],
    fallback: r.championVariant,
    now,
    live,
  });
}

const rampStage: Stage = async (ctx) => {
  const t = await ctx.inputs.target();
  const { modelId } = await readJson<{ modelId: string }>(path.join(ctx.dir, "export.json"));
  const live = await readRolloutConfig(t);
  if (!live) throw new StageError(EXIT.PUBLISH_FAILED, "publish-failed", "the live rollout config disappeared during the run");
  const next = rampedConfig(ctx.config, live, modelId);
  const done = await publishOrFail(() => runRollout(t, { kind: "set", config: next }, { print: (l) => ctx.log(`[rollout] ${l}`) }));
  await writeJsonAtomic(path.join(ctx.dir, "rollout.json"), { before: live, after: done.after, historyLength: done.historyLength });
  const percent = ctx.config.rollout.rampPercent;
  return { status: percent >= 100 ? "promoted" : "ramped", percent, modelId };
};

const reportStage: Stage = async (ctx) => {
  if (!existsSync(path.join(ctx.dir, "rollout.json"))) {
    // Gated out: nothing was ramped; the report still shows what is live.
    const live = await readRolloutConfig(await ctx.inputs.target());
    await writeJsonAtomic(path.join(ctx.dir, "rollout.json"), { before: live, after: live, unchanged: true });
  }
  const file = await writeReport(ctx.dir);
  ctx.log(`[report] ${file}`);
  return { file: path.basename(file) };
};

export const STAGE_RUNNERS: Record<StageName, Stage> = {
  ingest: ingestStage,
  knowledge: knowledgeStage,
  champion: championStage,
  train: trainStage,
  evaluate: evaluateStage,
  export: exportStage,
  gate: gateStage,
  publish: publishStage,
  ramp: rampStage,
  report: reportStage,
};
