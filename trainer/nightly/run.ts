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

import { mkdir } from "node:fs/promises";
import path from "node:path";
import { writeJsonAtomic } from "../util/atomic-write.ts";
import { UserFacingError } from "../util/errors.ts";
import type { NightlyConfig } from "./config.ts";
import type { GateResult } from "./gate.ts";
import { EXIT, type NightlyResult, StageError } from "./outcome.ts";
import { writeReport } from "./report.ts";
import {
  acquireLock,
  configHash,
  LockHeldError,
  listRuns,
  newRunId,
  type RunState,
  readJson,
  readState,
  runsRoot,
  STAGES,
  STATE_SCHEMA,
  saveState,
} from "./run-dir.ts";
import { RunInputs } from "./run-inputs.ts";
import { RunLog } from "./run-log.ts";
import { type ProgressBar, STAGE_RUNNERS, type StageContext } from "./stages.ts";

export { modelsDir } from "./registry.ts";
export { EXIT, type NightlyResult, type ProgressBar };

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

/** Where a run stands while it opens: its directory once chosen, its state once built. */
interface OpenedRun {
  dir?: string;
  state?: RunState;
}

/** Creates (or continues) the run directory: its log file, state.json with one more attempt, config.json. */
async function openRun(options: NightlyOptions, log: RunLog, run: OpenedRun): Promise<{ dir: string; state: RunState }> {
  const hash = configHash(options.config);
  const chosen = await chooseRunDir(options, hash, log.line);
  const dir = chosen.dir;
  run.dir = dir;
  await mkdir(dir, { recursive: true });
  await log.attach(path.join(dir, "nightly.log"));
  const state: RunState = chosen.state ?? {
    schema: STATE_SCHEMA,
    runId: path.basename(dir),
    configHash: hash,
    startedAt: new Date().toISOString(),
    attempts: 0,
    stages: {},
  };
  run.state = state;
  state.attempts++;
  await saveState(dir, state);
  await writeJsonAtomic(path.join(dir, "config.json"), options.config);
  log.line(`[nightly] run ${state.runId} in ${dir} (attempt ${state.attempts})`);
  return { dir, state };
}

/** Runs every stage not done in an earlier attempt (publish and ramp not after a failed gate), saving the state. */
async function runStages(ctx: StageContext): Promise<void> {
  const st = ctx.state;
  for (const name of STAGES) {
    if (st.stages[name]) {
      ctx.log(`[nightly] ${name}: done in an earlier attempt, skipped`);
      continue;
    }
    const gatedOut = st.stages.gate && st.stages.gate.summary.passed === false;
    if (gatedOut && (name === "publish" || name === "ramp")) continue;
    const t0 = performance.now();
    const summary = await STAGE_RUNNERS[name](ctx);
    st.stages[name] = { finishedAt: new Date().toISOString(), seconds: (performance.now() - t0) / 1000, summary };
    await saveState(ctx.dir, st);
  }
}

/** The finished run's result from its gate; recorded in state.json and the report. */
async function finishRun(ctx: StageContext): Promise<NightlyResult> {
  const { dir, state: st } = ctx;
  const gate = await readJson<GateResult>(path.join(dir, "gate.json"));
  const outcome: NightlyResult = gate.passed
    ? {
        exitCode: EXIT.OK,
        status: st.stages.ramp?.summary.status === "promoted" ? "promoted" : "ramped",
        message: `candidate ${st.stages.export?.summary.modelId} ${st.stages.ramp?.summary.status} at ${ctx.config.rollout.rampPercent}%`,
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
  ctx.log(`[nightly] ${outcome.status}: ${outcome.message} (exit ${outcome.exitCode})`);
  return outcome;
}

/**
 * A failed run: not recorded as an outcome, so the run stays unfinished and the next invocation continues it.
 * The error and a report are left in the run directory.
 */
async function failedRun(error: unknown, log: RunLog, run: OpenedRun): Promise<NightlyResult> {
  const e = error as Error;
  const known =
    error instanceof StageError
      ? error
      : error instanceof UserFacingError
        ? new StageError(error.exitCode, error.exitCode === EXIT.PUBLISH_FAILED ? "publish-failed" : "bad-input", e.message)
        : new StageError(EXIT.UNEXPECTED, "failed", e.stack ?? e.message);
  log.line(`[nightly] ${known.status}: ${log.redact(known.message)} (exit ${known.exitCode}); the next invocation resumes this run`);
  if (run.dir && run.state) {
    await writeJsonAtomic(path.join(run.dir, "last-error.json"), {
      at: new Date().toISOString(),
      exitCode: known.exitCode,
      message: log.redact(known.message),
    }).catch(() => {});
    await writeReport(run.dir).catch(() => {});
  }
  return { exitCode: known.exitCode, status: known.status, message: log.redact(known.message.split("\n")[0]), runDir: run.dir ?? null };
}

export async function runNightly(options: NightlyOptions): Promise<NightlyResult> {
  const { config } = options;
  const log = new RunLog(options.print ?? ((l: string) => console.log(l)));
  let release: () => Promise<void>;
  try {
    release = await acquireLock(config.runsDir);
  } catch (error) {
    if (!(error instanceof LockHeldError)) throw error;
    (options.print ?? console.log)(error.message);
    return { exitCode: EXIT.LOCKED, status: "locked", message: error.message, runDir: null };
  }
  const run: OpenedRun = {};
  let inputs: RunInputs | null = null;
  try {
    const { dir, state } = await openRun(options, log, run);
    inputs = new RunInputs(config, dir, options.env ?? process.env, log);
    const ctx: StageContext = { config, dir, state, inputs, log: log.line, progress: options.progress };
    await runStages(ctx);
    return await finishRun(ctx);
  } catch (error) {
    return await failedRun(error, log, run);
  } finally {
    await inputs?.releaseTarget();
    await release();
  }
}
