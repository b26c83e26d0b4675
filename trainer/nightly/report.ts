/** Collects a run directory's JSON outputs and writes <runDir>/report.html (atomically; missing parts are left out). */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { type ReportInput, renderReport } from "./report-html.ts";
import { STAGES } from "./run-dir.ts";

async function optional<T>(file: string): Promise<T | undefined> {
  return existsSync(file) ? (JSON.parse(await readFile(file, "utf8")) as T) : undefined;
}

export async function writeReport(runDir: string): Promise<string> {
  const at = (f: string) => path.join(runDir, f);
  const state = await optional<ReportInput["state"] & { runId: string; stages: Record<string, { summary: Record<string, unknown> }> }>(
    at("state.json"),
  );
  if (!state) throw new Error(`${runDir} has no state.json`);
  const input: ReportInput = {
    runId: state.runId,
    runDir,
    state,
    stageOrder: STAGES,
    config: await optional(at("config.json")),
    ingest: state.stages.ingest?.summary,
    knowledge: state.stages.knowledge?.summary,
    metrics: await optional(at("metrics.json")),
    exported: await optional(at("export.json")),
    gate: await optional(at("gate.json")),
    rollout: await optional(at("rollout.json")),
    lastError: state.outcome ? undefined : await optional(at("last-error.json")),
  };
  const file = at("report.html");
  await writeFileAtomic(file, renderReport(input));
  return file;
}
