/**
 * `kser nightly`: ingest -> knowledge -> champion -> train -> evaluate -> export -> gate -> publish -> ramp -> report,
 * as a state machine persisted in <runDir>/state.json (trainer/nightly/run-dir.ts). A stage's outputs are written
 * into the run directory before the stage is recorded done; a re-invocation skips done stages and, inside training,
 * resumes from the per-epoch checkpoint (trainModel runDir), so a killed run ends with the same result.
 *
 * The gate runs after export because parity, size and latency are measured on the exported graphs; nothing of the
 * candidate reaches KV before every check passed. The live rollout pointer is written only by the ramp stage (and,
 * on a first run, by the champion stage), after the models it names are published and verified.
 */

import { appendFileSync, existsSync } from "node:fs";
import { appendFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { BUCKETS, type RolloutConfig } from "../../shared/rollout.ts";
import { initBackend } from "../accel/index.ts";
import { loadDataset } from "../data/store.ts";
import type { PreparedDataset, RawDataset } from "../data/types.ts";
import { evaluateOnHoldout } from "../eval/holdout.ts";
import { exportModel } from "../export/export-model.ts";
import { loadBank, type StoredBank } from "../knowledge/bank.ts";
import type { KvTarget } from "../kv/types.ts";
import { type KvBundle, readBundle, writeBundle } from "../publish/kv-bundle.ts";
import { publishBundle } from "../publish/publish.ts";
import { runRollout } from "../rollout/actions.ts";
import { buildConfig, percentToWeight } from "../rollout/plan.ts";
import { readRolloutConfig } from "../rollout/store.ts";
import { loadModel, saveModel } from "../train/checkpoint.ts";
import type { TrainedModel } from "../train/model.ts";
import { writeRunOutputs } from "../train/run-outputs.ts";
import type { Strategy } from "../train/strategy.ts";
import { type TrainOptions, trainModel } from "../train/train.ts";
import { writeJsonAtomic } from "../util/atomic-write.ts";
import { UserFacingError } from "../util/errors.ts";
import { createRedactor } from "../util/redact.ts";
import type { NightlyConfig } from "./config.ts";
import { type GateResult, gateCandidate } from "./gate.ts";
import { ingest, loadRaw } from "./ingest.ts";
import { bankDir, refreshKnowledge } from "./knowledge.ts";
import { writeReport } from "./report.ts";
import {
  acquireLock,
  bundleDir,
  configHash,
  LockHeldError,
  lastSuccessfulRun,
  listRuns,
  newRunId,
  type RunState,
  readJson,
  readState,
  runsRoot,
  STAGES,
  STATE_SCHEMA,
  type StageName,
  saveState,
} from "./run-dir.ts";
import { openNightlyTarget } from "./target.ts";

/** Exit codes a scheduler can act on (docs/nightly.md). */
export const EXIT = {
  /** Candidate published and ramped (or promoted). */
  OK: 0,
  UNEXPECTED: 1,
  /** Bad config or input (data, champion missing from the model registry, ...). */
  BAD_INPUT: 2,
  /** Publishing or the rollout write failed; the live pointer still names the previous, complete version. */
  PUBLISH_FAILED: 3,
  /** Another nightly run holds the lock. */
  LOCKED: 4,
  /** The candidate failed the gate; nothing of it was published. */
  GATED_OUT: 10,
} as const;

export interface ProgressBar {
  update(value: number): void;
  stop(): void;
}

export interface NightlyOptions {
  config: NightlyConfig;
  /** An explicit run directory (created, or continued when it holds a state). */
  runDir?: string;
  /** Require an unfinished run to continue (error when there is none). */
  resume?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Console output; the run's nightly.log gets every line too. */
  print?: (line: string) => void;
  /** Progress bar factory for long steps (the CLI gives one on a TTY). */
  progress?: (label: string, total: number) => ProgressBar;
}

export interface NightlyResult {
  exitCode: number;
  status: "promoted" | "ramped" | "gated-out" | "failed" | "publish-failed" | "bad-input" | "locked";
  message: string;
  runDir: string | null;
}

class StageError extends Error {
  constructor(
    readonly exitCode: number,
    readonly status: NightlyResult["status"],
    message: string,
  ) {
    super(message);
  }
}

export const modelsDir = (runsDir: string) => path.join(runsDir, "models");

interface Lineage {
  modelId: string;
  /** The backbone-only model this one started from (itself for a backbone), for extractor-only training. */
  backboneModelId: string | null;
  runDir: string;
}

async function registerModel(runsDir: string, modelId: string, model: TrainedModel, lineage: Lineage): Promise<void> {
  const dir = path.join(modelsDir(runsDir), modelId);
  await saveModel(model, dir);
  await writeJsonAtomic(path.join(dir, "lineage.json"), lineage);
}

async function registeredModel(runsDir: string, modelId: string): Promise<{ model: TrainedModel; lineage: Lineage }> {
  const dir = path.join(modelsDir(runsDir), modelId);
  if (!existsSync(path.join(dir, "model.json")))
    throw new StageError(
      EXIT.BAD_INPUT,
      "bad-input",
      `the live champion ${modelId} is not in ${modelsDir(runsDir)}: the nightly run can only evaluate models it trained`,
    );
  return { model: await loadModel(dir), lineage: await readJson<Lineage>(path.join(dir, "lineage.json")) };
}

/** Strips what trainModel adds beyond a TrainedModel (timing, backend), so saved models compare equal. */
function plainModel(result: TrainedModel): TrainedModel {
  const { config, spec, vocabulary, params, metrics, history } = result;
  return { config, spec, vocabulary, params, metrics, history };
}

/** Picks the run directory: explicit, else the newest unfinished run with the same config, else a new one. */
async function chooseRunDir(
  options: NightlyOptions,
  hash: string,
  log: (l: string) => void,
): Promise<{ dir: string; state: RunState | null }> {
  const runsDir = options.config.runsDir;
  if (options.runDir) {
    const dir = path.resolve(options.runDir);
    const state = await readState(dir);
    if (state && state.configHash !== hash)
      throw new StageError(EXIT.BAD_INPUT, "bad-input", `${dir} was started with a different config; give a new --run-dir`);
    if (state?.outcome) throw new StageError(EXIT.BAD_INPUT, "bad-input", `${dir} already finished (${state.outcome.status})`);
    if (!state && options.resume) throw new StageError(EXIT.BAD_INPUT, "bad-input", `--resume: ${dir} holds no run to resume`);
    return { dir, state };
  }
  const unfinished = (await listRuns(runsDir)).filter((r) => !r.state.outcome).at(-1);
  if (unfinished) {
    if (unfinished.state.configHash === hash) return unfinished;
    // A stuck cron is worse than a wasted half-run: the old one is closed and a new run starts.
    log(`unfinished run ${unfinished.dir} was started with a different config: marking it abandoned`);
    unfinished.state.outcome = {
      exitCode: EXIT.BAD_INPUT,
      status: "abandoned",
      message: "config changed",
      finishedAt: new Date().toISOString(),
    };
    await saveState(unfinished.dir, unfinished.state);
  }
  if (options.resume) throw new StageError(EXIT.BAD_INPUT, "bad-input", `--resume: no unfinished run in ${runsRoot(runsDir)}`);
  return { dir: path.join(runsRoot(runsDir), newRunId()), state: null };
}

export async function runNightly(options: NightlyOptions): Promise<NightlyResult> {
  const { config } = options;
  const env = options.env ?? process.env;
  const print = options.print ?? ((l: string) => console.log(l));
  let redact = createRedactor([]);
  let logFile: string | null = null;
  const pending: string[] = [];
  const log = (line: string) => {
    const safe = redact(line);
    print(safe);
    const stamped = `${new Date().toISOString()} ${safe}\n`;
    if (logFile) appendFileSyncSafe(logFile, stamped);
    else pending.push(stamped);
  };

  let release: (() => Promise<void>) | null = null;
  try {
    release = await acquireLock(config.runsDir);
  } catch (error) {
    if (error instanceof LockHeldError) {
      print(error.message);
      return { exitCode: EXIT.LOCKED, status: "locked", message: error.message, runDir: null };
    }
    throw error;
  }

  const hash = configHash(config);
  let runDir: string | null = null;
  let state: RunState | null = null;
  let target: { target: KvTarget; secrets: string[] } | null = null;
  try {
    const chosen = await chooseRunDir(options, hash, log);
    runDir = chosen.dir;
    await mkdir(runDir, { recursive: true });
    logFile = path.join(runDir, "nightly.log");
    for (const line of pending.splice(0)) await appendFile(logFile, line);
    state = chosen.state ?? {
      schema: STATE_SCHEMA,
      runId: path.basename(runDir),
      configHash: hash,
      startedAt: new Date().toISOString(),
      attempts: 0,
      stages: {},
    };
    state.attempts++;
    await saveState(runDir, state);
    await writeJsonAtomic(path.join(runDir, "config.json"), config);
    log(`[nightly] run ${state.runId} in ${runDir} (attempt ${state.attempts})`);

    const dir = runDir;
    const st = state;
    // Lazily built inputs: a resumed run loads what finished stages wrote instead of recomputing it.
    let raw: RawDataset | null = null;
    let data: PreparedDataset | null = null;
    let bank: StoredBank | null = null;
    const getRaw = async () => (raw ??= await loadRaw(config));
    const getData = async () => (data ??= await loadDataset(path.join(dir, "data", "prepared")));
    const getBank = () => (bank ??= loadBank(bankDir(dir)));
    const getTarget = async () => {
      if (!target) {
        target = await openNightlyTarget(config, env, (l) => log(`[publish] ${l}`));
        redact = createRedactor(target.secrets);
      }
      return target.target;
    };
    // The local target holds a workerd process: release it before long stages so a run killed during training
    // leaves no server behind.
    const releaseTarget = async () => {
      const open = target;
      target = null;
      await open?.target.close().catch(() => {});
    };
    const previousRun = () => (st.stages.ingest?.summary.previousRun as string | null) ?? null;
    const championId = () => st.stages.champion?.summary.modelId as string;

    const trainWithProgress = async (label: string, opts: TrainOptions) => {
      const bar = options.progress?.(label, opts.epochs ?? 1);
      try {
        return await trainModel({
          ...opts,
          onStep: bar ? (done, total, epoch) => bar.update(epoch - 1 + done / total) : undefined,
          log: (m) => log(`[${label}] ${m}`),
        });
      } finally {
        bar?.stop();
      }
    };

    const publishWithProgress = async (bundle: KvBundle, t: KvTarget) => {
      const bar = options.progress?.("publish", 1);
      try {
        return await publishBundle(bundle, t, {
          log: (l) => log(`[publish] ${l}`),
          onProgress: bar ? (done, total) => bar.update(done / total) : undefined,
        });
      } finally {
        bar?.stop();
      }
    };

    const stages: Record<StageName, () => Promise<Record<string, unknown>>> = {
      async ingest() {
        const prev = await lastSuccessfulRun(config.runsDir, dir);
        const summary = await ingest(config, await getRaw(), dir, prev);
        log(
          `[ingest] ${summary.users} users, ${summary.items} items, ${summary.interactions} interactions ` +
            `(new: ${summary.newUsers} users, ${summary.newItems} items, ${summary.newInteractions} interactions)`,
        );
        return { ...summary };
      },
      async knowledge() {
        const bar = options.progress?.("knowledge", 1);
        const s = await refreshKnowledge(
          config,
          await getRaw(),
          await getData(),
          dir,
          previousRun(),
          (l) => log(`[knowledge] ${l}`),
          bar ? (done, total) => bar.update(done / total) : undefined,
        ).finally(() => bar?.stop());
        return { ...s };
      },
      async champion() {
        const t = await getTarget();
        const live = await readRolloutConfig(t);
        if (live) {
          const id = live.variants[0].modelId;
          await registeredModel(config.runsDir, id);
          log(`[champion] live champion ${id} (variant ${live.variants[0].name})`);
          return { modelId: id, source: "live" };
        }
        // First run: no champion yet. Train the backbone alone and make it the live champion.
        await initBackend();
        const d = await getData();
        const m = config.model;
        const result = await trainWithProgress("champion", {
          data: d,
          bank: null,
          backbone: m.backbone,
          extractor: "none",
          epochs: m.championEpochs ?? m.epochs,
          batchSize: m.batchSize,
          learningRate: m.learningRate,
          embeddingDim: m.embeddingDim,
          seed: m.seed,
          runDir: path.join(dir, "train", "champion"),
        });
        const model = plainModel(result);
        const { summary, built } = await exportModel(model, d, null, { latencyCandidates: config.gate.latencyCandidates });
        await writeBundle(bundleDir(dir, "champion"), built.bundle);
        if (!(summary.parity <= config.gate.maxParityDiff))
          throw new StageError(EXIT.UNEXPECTED, "failed", `champion ONNX parity ${summary.parity} exceeds ${config.gate.maxParityDiff}`);
        await registerModel(config.runsDir, summary.modelId, model, {
          modelId: summary.modelId,
          backboneModelId: summary.modelId,
          runDir: dir,
        });
        await publishOrFail(() => publishWithProgress(built.bundle, t));
        const rollout = buildConfig({
          salt: config.name,
          variants: [{ name: config.rollout.championVariant, modelId: summary.modelId }],
          now: new Date().toISOString(),
        });
        await publishOrFail(() => runRollout(t, { kind: "set", config: rollout }, { print: (l) => log(`[rollout] ${l}`) }));
        log(`[champion] no live champion: trained ${summary.modelId} (test AUC ${model.metrics.test.auc.toFixed(4)}) and made it live`);
        return { modelId: summary.modelId, source: "trained", history: model.history, export: summary };
      },
      async train() {
        await releaseTarget();
        await initBackend();
        const d = await getData();
        const m = config.model;
        const { model: champion, lineage } = await registeredModel(config.runsDir, championId());
        let strategy = m.strategy;
        let from: TrainedModel | undefined;
        if (strategy === "extractor-only") {
          const backbone =
            champion.config.extractor === "none"
              ? champion
              : lineage.backboneModelId
                ? (await registeredModel(config.runsDir, lineage.backboneModelId)).model
                : null;
          const sameVocab = backbone && JSON.stringify(backbone.vocabulary) === JSON.stringify(d.vocabulary);
          if (backbone && sameVocab && backbone.config.backbone === m.backbone) from = backbone;
          else {
            // Embedding rows are indexed by vocabulary: copying them across vocabularies would mix up ids.
            log(
              `[train] extractor-only needs the champion's backbone (${m.backbone}) on this run's vocabulary; ` +
                `${!backbone ? "there is none" : !sameVocab ? "the vocabulary changed" : "the backbone differs"}: training all-params`,
            );
            strategy = "all-params";
          }
        }
        const result = await trainWithProgress("train", {
          data: d,
          bank: getBank(),
          backbone: m.backbone,
          extractor: m.extractor,
          epochs: m.epochs,
          batchSize: m.batchSize,
          learningRate: m.learningRate,
          embeddingDim: m.embeddingDim,
          seed: m.seed,
          strategy,
          from,
          runDir: path.join(dir, "train", "candidate"),
        });
        await writeRunOutputs(path.join(dir, "train", "candidate"), result, d, getBank(), { strategy });
        return {
          strategy,
          startedFrom: strategy === "extractor-only" ? lineage.backboneModelId : null,
          epochs: result.history.length,
          resumedFrom: result.resumedFrom,
          backend: result.backend,
          test: result.metrics.test,
        };
      },
      async evaluate() {
        await initBackend();
        const d = await getData();
        const candidate = await loadModel(path.join(dir, "train", "candidate", "model"));
        const { model: champion } = await registeredModel(config.runsDir, championId());
        const cand = await evaluateOnHoldout(candidate, d, getBank());
        const champ = await evaluateOnHoldout(champion, d, getBank());
        const metrics = {
          holdout: { split: "test", samples: cand.metrics.samples },
          candidate: {
            backbone: candidate.config.backbone,
            extractor: candidate.config.extractor,
            ...cand.metrics,
            history: candidate.history,
          },
          champion: {
            modelId: championId(),
            backbone: champion.config.backbone,
            extractor: champion.config.extractor,
            ...champ.metrics,
            history: champion.history,
          },
          gates: cand.gates,
        };
        await writeJsonAtomic(path.join(dir, "metrics.json"), metrics);
        log(
          `[evaluate] holdout ${cand.metrics.samples} samples: candidate AUC ${cand.metrics.auc.toFixed(4)}, ` +
            `champion AUC ${champ.metrics.auc.toFixed(4)} (gain ${(cand.metrics.auc - champ.metrics.auc).toFixed(4)})`,
        );
        return { candidateAuc: cand.metrics.auc, championAuc: champ.metrics.auc };
      },
      async export() {
        await initBackend();
        const candidate = await loadModel(path.join(dir, "train", "candidate", "model"));
        const { summary, built } = await exportModel(candidate, await getData(), getBank(), {
          latencyCandidates: config.gate.latencyCandidates,
          strategy: st.stages.train?.summary.strategy as Strategy | undefined,
          knowledgeCodec: getBank()?.codec,
        });
        await writeBundle(bundleDir(dir, "candidate"), built.bundle);
        await writeJsonAtomic(path.join(dir, "export.json"), summary);
        log(
          `[export] ${summary.modelId}: ${summary.modelBytes} bytes, parity ${summary.parity.toExponential(2)}, ` +
            `p95 ${summary.latencyMs.p95.toFixed(2)} ms for ${summary.latencyMs.candidates} candidates`,
        );
        return { modelId: summary.modelId };
      },
      async gate() {
        const metrics = await readJson<{ candidate: Parameters<typeof gateCandidate>[1]; champion: Parameters<typeof gateCandidate>[2] }>(
          path.join(dir, "metrics.json"),
        );
        const exported = await readJson<Parameters<typeof gateCandidate>[3]>(path.join(dir, "export.json"));
        const result = gateCandidate(config.gate, metrics.candidate, metrics.champion, exported);
        await writeJsonAtomic(path.join(dir, "gate.json"), result);
        for (const c of result.checks) log(`[gate] ${c.passed ? "pass" : "FAIL"} ${c.name}: ${c.value} ${c.op} ${c.limit}`);
        return { passed: result.passed, failed: result.checks.filter((c) => !c.passed).map((c) => c.name) };
      },
      async publish() {
        const t = await getTarget();
        const bundle = await readBundle(bundleDir(dir, "candidate"));
        const { modelId } = await readJson<{ modelId: string }>(path.join(dir, "export.json"));
        const { lineage } = await registeredModel(config.runsDir, championId());
        const candidate = await loadModel(path.join(dir, "train", "candidate", "model"));
        const strategy = st.stages.train?.summary.strategy;
        await registerModel(config.runsDir, modelId, candidate, {
          modelId,
          backboneModelId: strategy === "extractor-only" ? lineage.backboneModelId : null,
          runDir: dir,
        });
        const report = await publishOrFail(() => publishWithProgress(bundle, t));
        await writeJsonAtomic(path.join(dir, "publish.json"), { modelId, target: t.description, ...report });
        return { modelId, written: report.written };
      },
      async ramp() {
        const t = await getTarget();
        const { modelId } = await readJson<{ modelId: string }>(path.join(dir, "export.json"));
        const live = await readRolloutConfig(t);
        if (!live) throw new StageError(EXIT.PUBLISH_FAILED, "publish-failed", "the live rollout config disappeared during the run");
        const r = config.rollout;
        const now = new Date().toISOString();
        // Built from the live config: the candidate variant keeps its buckets (its users get the new model) and
        // only trades users with the champion when rampPercent changes; other variants' users go to the champion.
        const next: RolloutConfig =
          r.rampPercent >= 100
            ? buildConfig({ salt: live.salt, variants: [{ name: r.championVariant, modelId, weight: BUCKETS }], now, live })
            : buildConfig({
                salt: live.salt,
                variants: [
                  { name: r.championVariant, modelId: live.variants[0].modelId },
                  { name: r.candidateVariant, modelId, weight: percentToWeight(r.rampPercent) },
                ],
                fallback: r.championVariant,
                now,
                live,
              });
        const done = await publishOrFail(() => runRollout(t, { kind: "set", config: next }, { print: (l) => log(`[rollout] ${l}`) }));
        await writeJsonAtomic(path.join(dir, "rollout.json"), { before: live, after: done.after, historyLength: done.historyLength });
        return { status: r.rampPercent >= 100 ? "promoted" : "ramped", percent: r.rampPercent, modelId };
      },
      async report() {
        if (!existsSync(path.join(dir, "rollout.json"))) {
          // Gated out: nothing was ramped; the report still shows what is live.
          const live = await readRolloutConfig(await getTarget());
          await writeJsonAtomic(path.join(dir, "rollout.json"), { before: live, after: live, unchanged: true });
        }
        const file = await writeReport(dir);
        log(`[report] ${file}`);
        return { file: path.basename(file) };
      },
    };

    for (const name of STAGES) {
      if (st.stages[name]) {
        log(`[nightly] ${name}: done in an earlier attempt, skipped`);
        continue;
      }
      const gatedOut = st.stages.gate && st.stages.gate.summary.passed === false;
      if (gatedOut && (name === "publish" || name === "ramp")) continue;
      const t0 = performance.now();
      const summary = await stages[name]();
      st.stages[name] = { finishedAt: new Date().toISOString(), seconds: (performance.now() - t0) / 1000, summary };
      await saveState(dir, st);
    }

    const gate = await readJson<GateResult>(path.join(dir, "gate.json"));
    const outcome: NightlyResult = gate.passed
      ? {
          exitCode: EXIT.OK,
          status: st.stages.ramp?.summary.status === "promoted" ? "promoted" : "ramped",
          message: `candidate ${st.stages.export?.summary.modelId} ${st.stages.ramp?.summary.status} at ${config.rollout.rampPercent}%`,
          runDir: dir,
        }
      : {
          exitCode: EXIT.GATED_OUT,
          status: "gated-out",
          message: `candidate gated out (${gate.checks
            .filter((c) => !c.passed)
            .map((c) => c.name)
            .join(", ")}); the live rollout is unchanged`,
          runDir: dir,
        };
    st.outcome = { exitCode: outcome.exitCode, status: outcome.status, message: outcome.message, finishedAt: new Date().toISOString() };
    await saveState(dir, st);
    // Written again so the report's header shows the outcome (the report stage ran before it was known).
    await writeReport(dir);
    log(`[nightly] ${outcome.status}: ${outcome.message} (exit ${outcome.exitCode})`);
    return outcome;
  } catch (error) {
    const e = error as Error;
    const known =
      error instanceof StageError
        ? error
        : error instanceof UserFacingError
          ? new StageError(error.exitCode, error.exitCode === EXIT.PUBLISH_FAILED ? "publish-failed" : "bad-input", e.message)
          : new StageError(EXIT.UNEXPECTED, "failed", e.stack ?? e.message);
    // Not recorded as an outcome: the run stays unfinished, and the next invocation continues it.
    log(`[nightly] ${known.status}: ${redact(known.message)} (exit ${known.exitCode}); the next invocation resumes this run`);
    if (runDir && state) {
      await writeJsonAtomic(path.join(runDir, "last-error.json"), {
        at: new Date().toISOString(),
        exitCode: known.exitCode,
        message: redact(known.message),
      }).catch(() => {});
      await writeReport(runDir).catch(() => {});
    }
    return { exitCode: known.exitCode, status: known.status, message: redact(known.message.split("\n")[0]), runDir };
  } finally {
    const t = target as { target: KvTarget } | null;
    await t?.target.close().catch(() => {});
    await release?.();
  }
}

/** Any failure while writing to KV: exit 3 (the pointer is written last, so the live version is still complete). */
async function publishOrFail<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw new StageError(EXIT.PUBLISH_FAILED, "publish-failed", `publish failed: ${(error as Error).message}`);
  }
}

function appendFileSyncSafe(file: string, line: string): void {
  try {
    appendFileSync(file, line);
  } catch {
    // The log file is a copy of the console output; losing a line must not fail the run.
  }
}
