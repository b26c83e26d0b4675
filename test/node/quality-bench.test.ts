/**
 * The quality bench's quick path on GENERATED data (not MovieLens): every config trains, the results and the summary
 * have the documented structure, and every number in them is finite. No performance assertions: tiny data, 1 epoch.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CONFIGS, highNoiseProportions, KIND_QUALITY, plan, type QualitySettings, runQuality } from "../../bench/quality/run.ts";
import { ranks, spearman, spread } from "../../bench/quality/stats.ts";
import { summary } from "../../bench/quality/summary.ts";
import { generateSyntheticDataset } from "../../trainer/data/synthetic.ts";
import { CHUNK_KINDS } from "../../trainer/data/types.ts";
import { DEFAULT_PROPORTIONS } from "../../trainer/knowledge/simulator.ts";

/** Every number reachable from `value` is finite (paths of the offenders). */
function nonFinite(value: unknown, at = "$"): string[] {
  if (typeof value === "number") return Number.isFinite(value) ? [] : [`${at} = ${value}`];
  if (Array.isArray(value)) return value.flatMap((v, i) => nonFinite(v, `${at}[${i}]`));
  if (value && typeof value === "object") return Object.entries(value).flatMap(([k, v]) => nonFinite(v, `${at}.${k}`));
  return [];
}

describe("quality bench statistics", () => {
  it("ranks ties, Spearman and spread", () => {
    expect(ranks([3, 1, 3, 2])).toEqual([3.5, 1, 3.5, 2]);
    expect(spearman([1, 2, 3, 4], [10, 20, 30, 40])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
    const s = spread([1, 2, 3]);
    expect(s.mean).toBe(2);
    expect(s.std).toBeCloseTo(1, 12);
    expect(spread([5]).std).toBe(0);
    const hi = highNoiseProportions(0.2);
    expect(hi.informative + hi.hallucinated + hi.redundant + hi.homogeneous).toBeCloseTo(1, 12);
    expect(KIND_QUALITY.informative).toBe(1);
    expect(KIND_QUALITY.hallucinated).toBe(0);
  });
});

describe("quality bench quick path on synthetic data", () => {
  it("trains every config, reports finite metrics, gates, claims and a summary", async () => {
    const raw = generateSyntheticDataset({ seed: 3, users: 70, items: 120 });
    const settings: QualitySettings = {
      backbones: ["deepfm"],
      configs: [...CONFIGS],
      noisyConfigs: ["raw"],
      seeds: [1],
      epochs: 1,
      patience: 1,
      batchSize: 256,
      learningRate: 1e-3,
      embeddingDim: 8,
      knowledgeDropout: 0.1,
      dataSeed: 1,
      chunks: 4,
      encoderDim: 64,
      pcaDim: 16,
      proportions: DEFAULT_PROPORTIONS,
      noisyProportions: highNoiseProportions(0.2),
      users: 0,
    };
    const progress: number[] = [];
    const lines: string[] = [];
    const r = await runQuality({ raw, settings, log: (l) => lines.push(l), onProgress: (p) => void progress.push(p.runs.length) });
    const jobs = plan(settings);
    expect(jobs).toHaveLength(CONFIGS.length + 1);
    expect(progress).toEqual(jobs.map((_, i) => i + 1));
    expect(r.complete).toBe(true);
    expect(r.failures).toEqual([]);
    expect(r.runs).toHaveLength(jobs.length);
    expect(lines.filter((l) => l.startsWith("["))).not.toHaveLength(0);
    for (const run of r.runs) {
      expect(run.test.auc).toBeGreaterThanOrEqual(0);
      expect(run.test.auc).toBeLessThanOrEqual(1);
      expect(run.test.logloss).toBeGreaterThan(0);
    }
    // Gates for the filtered models, with all four kinds present in both fields.
    const gated = r.runs.filter((run) => run.gates).map((run) => run.config);
    expect(gated.sort()).toEqual(["kser", "kser-noalign", "kser-xo"]);
    for (const run of r.runs.filter((x) => x.gates))
      for (const side of ["user", "item"] as const) {
        expect(Object.keys(run.gates![side].meanByKind)).toEqual(CHUNK_KINDS);
        expect(run.gates![side].chunks).toBeGreaterThan(0);
      }
    expect(r.runs.find((x) => x.config === "kser-xo")!.strategy).toBe("extractor-only");
    expect(r.runs.find((x) => x.noise === "high")!.config).toBe("raw");
    // Table cells: every config, plus raw at high noise.
    expect(Object.keys(r.table.deepfm).sort()).toEqual([...CONFIGS, "raw@high"].sort());
    expect(r.table.deepfm.kser.auc.n).toBe(1);
    expect(r.claims.map((c) => c.id)).toEqual([
      "kser>kar>none",
      "raw<none@high",
      "raw<none",
      "extractor-only>none",
      "kser>nofilter",
      "kser>noalign",
    ]);
    for (const c of r.claims) expect(typeof c.holds).toBe("boolean");
    expect(Object.keys(r.gateCorrelation.byConfig).sort()).toEqual(["kser", "kser-noalign", "kser-xo"]);
    expect(r.banks.high?.proportions.informative).toBeCloseTo(0.2, 12);
    expect(nonFinite(r)).toEqual([]);

    const s = summary(r);
    expect(s.lines.some((l) => l.startsWith("[table]"))).toBe(true);
    const json = JSON.parse(JSON.stringify(s.json)) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual([
      "data",
      "complete",
      "runs",
      "table",
      "claims",
      "gateCorrelation",
      "failures",
      "resumedRuns",
      "seconds",
      "peakRssMiB",
    ]);
    expect(Object.keys((json.claims as Record<string, boolean>) ?? {})).toContain("gate>=0.8");
    expect(nonFinite(json)).toEqual([]);
  }, 60_000);
});

describe("quality bench cut short", () => {
  it("stops after the training under way on SIGTERM, prints the partial summary and exits 124", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "kser-quality-stop-"));
    try {
      const out = path.join(dir, "results.json");
      const child = spawn(process.execPath, ["--import", "tsx", "bench/quality.ts", "--source", "synthetic", "--quick", "--out", out], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
        // After the first of the 8 trainings.
        if (/^\[1\/8\] /m.test(stdout) && child.exitCode === null && !child.killed) child.kill("SIGTERM");
      });
      const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
      const stopped = stdout.match(/\[stopped\] SIGTERM after (\d+) trainings/);
      expect(stopped, stdout.slice(-2000)).not.toBeNull();
      expect(Number(stopped?.[1])).toBeLessThan(8);
      expect(code).toBe(124);
      const saved = JSON.parse(readFileSync(out, "utf8")) as { complete: boolean; runs: unknown[] };
      expect(saved.complete).toBe(false);
      expect(saved.runs.length).toBe(Number(stopped?.[1]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
