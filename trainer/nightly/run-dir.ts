/**
 * The run directory and its state machine file. <runDir>/state.json lists the stages done (with what each
 * produced); every write is write-then-rename, so a kill leaves either the old or the new state, never half of one.
 * A stage is recorded done only after all of its outputs are on disk, so a re-invocation skips exactly the stages
 * whose outputs are complete. <runsDir>/nightly.lock keeps two nightly runs from overlapping.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, open, readdir, readFile, rm } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { writeJsonAtomic } from "../util/atomic-write.ts";
import { UserFacingError } from "../util/errors.ts";

export const STAGES = ["ingest", "knowledge", "champion", "train", "evaluate", "export", "gate", "publish", "ramp", "report"] as const;
export type StageName = (typeof STAGES)[number];

export const STATE_SCHEMA = "kser-nightly-state/1";

export interface RunState {
  schema: typeof STATE_SCHEMA;
  runId: string;
  /** Hash of the validated config: a resume with a different config is refused. */
  configHash: string;
  startedAt: string;
  /** Invocations of this run so far (1 = never interrupted). */
  attempts: number;
  stages: Partial<Record<StageName, { finishedAt: string; seconds: number; summary: Record<string, unknown> }>>;
  /** Set once the run has ended (any outcome); an unfinished run is what the next invocation continues. */
  outcome?: { exitCode: number; status: string; message: string; finishedAt: string };
}

export async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, "utf8")) as T;
}

export function configHash(config: unknown): string {
  return createHash("sha256").update(JSON.stringify(config)).digest("hex").slice(0, 16);
}

export const stateFile = (runDir: string) => path.join(runDir, "state.json");
/** Where a run's KV bundles are written (the candidate's is what the publish stage uploads). */
export const bundleDir = (runDir: string, which: "candidate" | "champion") => path.join(runDir, "bundle", which);
export const runsRoot = (runsDir: string) => path.join(runsDir, "runs");

export async function readState(runDir: string): Promise<RunState | null> {
  return existsSync(stateFile(runDir)) ? readJson<RunState>(stateFile(runDir)) : null;
}

export const saveState = (runDir: string, state: RunState) => writeJsonAtomic(stateFile(runDir), state);

/** A sortable id from the start time (UTC), e.g. 20260712T020000Z. */
export function newRunId(now = new Date()): string {
  return now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

/** Runs under <runsDir>/runs, oldest first, with their states. */
export async function listRuns(runsDir: string): Promise<{ dir: string; state: RunState }[]> {
  const root = runsRoot(runsDir);
  if (!existsSync(root)) return [];
  const out: { dir: string; state: RunState }[] = [];
  for (const name of (await readdir(root)).sort()) {
    const dir = path.join(root, name);
    const state = await readState(dir).catch(() => null);
    if (state) out.push({ dir, state });
  }
  return out;
}

/** The newest run that ended with exit code 0 (its bank and data are what the next run builds on). */
export async function lastSuccessfulRun(runsDir: string, except?: string): Promise<string | null> {
  const runs = (await listRuns(runsDir)).filter((r) => r.state.outcome?.exitCode === 0 && r.dir !== except);
  return runs.at(-1)?.dir ?? null;
}

export class LockHeldError extends UserFacingError {
  constructor(file: string, holder: string) {
    super(`another nightly run holds ${file} (${holder}); not starting`, 4);
    this.name = "LockHeldError";
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Takes <runsDir>/nightly.lock (O_EXCL create). A lock left by a process that no longer exists on this host is
 * stale (the run was killed) and is taken over; that is what lets a killed run be resumed by the next cron tick.
 */
export async function acquireLock(runsDir: string): Promise<() => Promise<void>> {
  await mkdir(runsDir, { recursive: true });
  const file = path.join(runsDir, "nightly.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, "wx");
      await handle.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
      await handle.close();
      return async () => {
        await rm(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = await readJson<{ pid: number; host: string; since: string }>(file).catch(() => null);
      if (holder && (holder.host !== hostname() || alive(holder.pid)))
        throw new LockHeldError(file, `pid ${holder.pid} on ${holder.host} since ${holder.since}`);
      await rm(file, { force: true }); // stale: its process is gone
    }
  }
  throw new LockHeldError(file, "taken by another process while replacing a stale lock");
}
