/** The results table: per backbone and cell (config, or config@bank), test metrics over seeds and seeds beating none. */
import type { BenchMetric } from "./settings.ts";
import { spread } from "./stats.ts";
import { type CellStats, cellKey, type QualityResults, type RunResult } from "./types.ts";

export function buildTable(runs: RunResult[], metric: BenchMetric): QualityResults["table"] {
  const table: QualityResults["table"] = {};
  const groups = new Map<string, RunResult[]>();
  for (const r of runs) {
    const key = `${r.backbone}\u0000${cellKey(r.config, r.noise)}`;
    const list = groups.get(key) ?? [];
    list.push(r);
    groups.set(key, list);
  }
  for (const [key, list] of groups) {
    const [backbone, cell] = key.split("\u0000");
    const none = new Map(runs.filter((r) => r.backbone === backbone && r.config === "none").map((r) => [r.seed, r.test[metric]]));
    const paired = list.filter((r) => none.has(r.seed));
    const stats: CellStats = {
      auc: spread(list.map((r) => r.test.auc)),
      logloss: spread(list.map((r) => r.test.logloss)),
      gauc: spread(list.map((r) => r.test.gauc)),
    };
    if (cell !== "none" && paired.length > 0)
      stats.beatsNone = { seeds: paired.filter((r) => r.test[metric] > none.get(r.seed)!).length, of: paired.length };
    table[backbone] ??= {};
    table[backbone][cell] = stats;
  }
  return table;
}
