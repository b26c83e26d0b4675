/**
 * The promotion gate: every check the candidate must pass before anything of it is published. Pure: it reads the
 * evaluate and export summaries and says which checks failed, so the report and the exit code agree.
 */

import type { HoldoutMetrics } from "../eval/holdout.ts";
import type { ExportSummary } from "../export/export-model.ts";
import type { NightlyConfig } from "./config.ts";

export interface GateCheck {
  name: "aucGain" | "parity" | "modelBytes" | "latencyP95";
  value: number;
  limit: number;
  /** ">=" : value must be at least limit; "<=" : at most. */
  op: ">=" | "<=";
  passed: boolean;
}

export interface GateResult {
  passed: boolean;
  checks: GateCheck[];
}

export function gateCandidate(
  gate: NightlyConfig["gate"],
  candidate: HoldoutMetrics,
  champion: HoldoutMetrics,
  exported: ExportSummary,
): GateResult {
  const check = (name: GateCheck["name"], value: number, op: GateCheck["op"], limit: number): GateCheck => ({
    name,
    value,
    limit,
    op,
    // NaN never passes.
    passed: op === ">=" ? value >= limit : value <= limit,
  });
  const checks = [
    check("aucGain", candidate.auc - champion.auc, ">=", gate.minAucGain),
    check("parity", exported.parity, "<=", gate.maxParityDiff),
    check("modelBytes", exported.modelBytes, "<=", gate.maxModelBytes),
    check("latencyP95", exported.latencyMs.p95, "<=", gate.maxLatencyMs),
  ];
  return { passed: checks.every((c) => c.passed), checks };
}
