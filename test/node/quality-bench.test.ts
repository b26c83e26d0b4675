/**
 * The quality bench's quick path on GENERATED data for each dataset (ml-100k's protocol on a generated dataset, a
 * generated copy of the dbbook layout, a small knowledge world): every config trains, the results and the summary
 * have the documented structure, the claims are there, and every number in them is finite. No performance
 * assertions: tiny data, 1 epoch.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { deletionDrop } from "../../bench/quality/deletion.ts";
import { KIND_QUALITY } from "../../bench/quality/gate-scores.ts";
import { plan, runQuality } from "../../bench/quality/run.ts";
import { type BenchSource, CONFIGS, highNoiseProportions, type SettingOverrides, settingsFor } from "../../bench/quality/settings.ts";
import { setupSource } from "../../bench/quality/sources.ts";
import { ranks, spearman, spread } from "../../bench/quality/stats.ts";
import { summary } from "../../bench/quality/summary.ts";
import { generateSyntheticDataset } from "../../trainer/data/synthetic.ts";
import { CHUNK_KINDS } from "../../trainer/data/types.ts";
import { DBBOOK_USER_SLOTS } from "../../trainer/knowledge/import-dbbook.ts";
import { makeTempDir } from "./data-helpers.ts";
import { writeDbbookLayout } from "./fixtures/dbbook-layout.ts";

/** Every number reachable from `value` is finite (paths of the offenders). */
function nonFinite(value: unknown, at = "$"): string[] {
  if (typeof value === "number") return Number.isFinite(value) ? [] : [`${at} = ${value}`];
  if (Array.isArray(value)) return value.flatMap((v, i) => nonFinite(v, `${at}[${i}]`));
  if (value && typeof value === "object") return Object.entries(value).flatMap(([k, v]) => nonFinite(v, `${at}.${k}`));
  return [];
}

const { dir: dbbookDir, cleanup } = makeTempDir("quality-dbbook");
afterAll(cleanup);
writeDbbookLayout(dbbookDir, { seed: 3 });

const tiny: SettingOverrides = { epochs: 1, embeddingDim: 8, encoderDim: 64, pcaDim: 16, batchSize: 256 };

async function quickRun(source: BenchSource, overrides: SettingOverrides) {
  const settings = settingsFor(source, true, { ...tiny, ...overrides });
  const input = source === "ml-100k" ? { raw: generateSyntheticDataset({ seed: 3, users: 70, items: 120 }) } : { dir: dbbookDir };
  const setup = await setupSource(settings, input);
  const progress: number[] = [];
  const lines: string[] = [];
  const r = await runQuality({ setup, settings, log: (l) => lines.push(l), onProgress: (p) => void progress.push(p.runs.length) });
  const jobs = plan(settings);
  expect(progress).toEqual(jobs.map((_, i) => i + 1));
  expect(r.complete).toBe(true);
  expect(r.failures).toEqual([]);
  expect(r.runs).toHaveLength(jobs.length);
  expect(lines.some((l) => l.includes("eta"))).toBe(true);
  for (const run of r.runs) {
    expect(run.test.auc).toBeGreaterThanOrEqual(0);
    expect(run.test.auc).toBeLessThanOrEqual(1);
    expect(run.test.logloss).toBeGreaterThan(0);
  }
  // Gated models carry a deletion test whose unmasked score is the model's own test score.
  const gated = r.runs.filter((run) => run.deletion);
  expect(gated.map((run) => run.config).sort()).toEqual(["kser", "kser-noalign", "kser-xo"]);
  for (const run of gated) {
    expect(run.deletion!.base.auc).toBeCloseTo(run.test.auc, 4);
    expect(run.deletion!.masked.user).toBeGreaterThan(0);
  }
  expect(Object.keys(r.deletion).sort()).toEqual(["kser", "kser-noalign", "kser-xo"]);
  // Every knowledge model is also scored with all its knowledge masked; the backbone alone has none to mask.
  for (const run of r.runs) expect(run.knowledgeOff === undefined).toBe(run.config === "none");
  expect(Object.keys(r.knowledgeOff ?? {})).toContain("kser");
  expect(r.runs.find((x) => x.config === "kser-xo")!.strategy).toBe("extractor-only");
  expect(r.table.deepfm.kser.auc.n).toBe(1);
  expect(r.table.deepfm.kser.beatsNone?.of).toBe(1);
  expect(nonFinite(r)).toEqual([]);
  const s = summary(r);
  expect(s.lines.some((l) => l.startsWith(`[table ${source}]`))).toBe(true);
  expect(s.lines.some((l) => l.startsWith(`[deletion ${source}] kser:`))).toBe(true);
  expect(s.lines.some((l) => l.startsWith(`[knowledge-off ${source}] raw:`))).toBe(true);
  const json = JSON.parse(JSON.stringify(s.json)) as Record<string, unknown>;
  expect(nonFinite(json)).toEqual([]);
  return { r, json, jobs };
}

const claimKeys = (json: Record<string, unknown>) => Object.keys(json.claims as Record<string, boolean>);

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

  it("deletion masks floor(present / 2) chunks per entity, the top and bottom halves apart", () => {
    const gates = {
      chunks: 4,
      entities: [
        { id: "a", gates: [0.9, 0.1, 0.5, 0.7], mask: [1, 1, 1, 1] },
        { id: "b", gates: [0.2, 0, 0.8, 0], mask: [1, 0, 1, 0] },
        { id: "c", gates: [0.4, 0, 0, 0], mask: [1, 0, 0, 0] },
      ],
      meanBySlot: [],
    };
    const top = deletionDrop(gates, "top");
    const bottom = deletionDrop(gates, "bottom");
    expect([...top.drop]).toEqual([1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0]);
    expect([...bottom.drop]).toEqual([0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect(top.masked).toBe(3);
    expect(bottom.masked).toBe(3);
  });
});

describe("quality bench quick path on generated data", () => {
  it("ml-100k protocol: every config plus raw at high noise, the gates against the kinds, the ml-100k claims", async () => {
    const { r, json, jobs } = await quickRun("ml-100k", { users: 0, chunks: { user: 4, item: 4 } });
    expect(jobs).toHaveLength(CONFIGS.length + 1);
    expect(Object.keys(r.table.deepfm).sort()).toEqual([...CONFIGS, "raw@high"].sort());
    for (const run of r.runs.filter((x) => x.gates))
      for (const side of ["user", "item"] as const) expect(Object.keys(run.gates![side].meanByKind)).toEqual(CHUNK_KINDS);
    expect(Object.keys(r.gateCorrelation.byConfig).sort()).toEqual(["kser", "kser-noalign", "kser-xo"]);
    expect(r.banks.high?.proportions?.informative).toBeCloseTo(0.2, 12);
    expect(claimKeys(json)).toEqual([
      "ml-100k:kser>kar>none",
      "ml-100k:raw<none@high",
      "ml-100k:raw<none",
      "ml-100k:extractor-only>none",
      "ml-100k:kser>nofilter",
      "ml-100k:kser>noalign",
      "ml-100k:gate>=0.8",
    ]);
    expect(Object.keys(json)).toEqual([
      "data",
      "metric",
      "complete",
      "runs",
      "table",
      "baselines",
      "userKnowledgeKnnValid",
      "userKnowledgeKnnUncompressed",
      "claims",
      "gateCorrelation",
      "slotGates",
      "deletion",
      "knowledgeOff",
      "failures",
      "resumedRuns",
      "seconds",
      "peakRssMiB",
    ]);
    expect(Object.keys(json.baselines as object)).toEqual(["itemPopularity", "historyMean", "userKnowledgeKnn"]);
  }, 90_000);

  it("dbbook layout: the given split, GAUC, the mean gate per profile aspect and the dbbook claims", async () => {
    const { r, json, jobs } = await quickRun("dbbook", {});
    expect(jobs).toHaveLength(CONFIGS.length);
    expect(r.settings.metric).toBe("gauc");
    expect(r.facts.userRateCorrelation?.users).toBeGreaterThan(10);
    expect(r.facts.chunking?.profiles).toBeGreaterThan(0);
    expect(Object.keys(r.slotGates.kser.user)).toEqual(["genre", "pacing", "themes", "other"]);
    expect(DBBOOK_USER_SLOTS).toEqual(expect.arrayContaining(Object.keys(r.slotGates.kser.user)));
    expect(Object.keys(r.slotGates.kser.item)).toEqual(["title"]);
    // One title per item: no item has a half to mask.
    for (const run of r.runs.filter((x) => x.deletion)) expect(run.deletion!.masked.item).toBe(0);
    expect(claimKeys(json)).toEqual(expect.arrayContaining(["dbbook:kser>raw>none", "dbbook:extractor-only>frozen", "dbbook:deletion"]));
    expect(json.userRateCorrelation).toBeDefined();
    // The PCA that serves the profiles is fitted, so the kNN before it differs from the kNN after it.
    expect(r.facts.userKnowledgeKnnUncompressed?.gauc).not.toBe(r.facts.baselines.userKnowledgeKnn?.gauc);
  }, 90_000);

  it("synthetic world: raw on the clean bank, the gate AUC and the synthetic claims", async () => {
    const { r, json, jobs } = await quickRun("synthetic", { users: 150, items: 100 });
    expect(jobs).toHaveLength(CONFIGS.length + 1);
    expect(Object.keys(r.table.deepfm)).toContain("raw@clean");
    // The clean bank keeps exactly the informative chunks of the default bank.
    expect(r.banks.clean?.present).toEqual({
      user: r.banks.default?.kinds?.user.informative,
      item: r.banks.default?.kinds?.item.informative,
    });
    expect(r.banks.clean?.kinds?.user.hallucinated).toBe(0);
    expect(claimKeys(json)).toEqual(
      expect.arrayContaining(["synthetic:clean-gain>=0.03", "synthetic:recovery>=0.5", "synthetic:gate-auc>=0.8"]),
    );
    expect(r.gateCorrelation.byConfig.kser.aucInformative.n).toBe(2);
  }, 90_000);
});

describe("quality bench command line", () => {
  it("runs several datasets in one invocation: a results file each, one last line with every dataset's claims", async () => {
    const { dir, cleanup: remove } = makeTempDir("quality-cli");
    try {
      const out = path.join(dir, "q.json");
      const args = ["--source", "synthetic", "--source", "dbbook", "--data", dbbookDir, "--quick", "--users", "100", "--items", "60"];
      const child = spawn(process.execPath, ["--import", "tsx", "bench/quality.ts", ...args, "--extractors", "none,kser", "--out", out], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
      expect(code, stdout.slice(-2000)).toBe(0);
      expect(stdout).toMatch(/^\[synthetic 3\/3\] deepfm raw@clean seed 1: .*eta/m);
      const last = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
        complete: boolean;
        claims: Record<string, boolean>;
        sources: Record<string, { out: string; runs: number }>;
      };
      expect(last.complete).toBe(true);
      expect(Object.keys(last.sources)).toEqual(["synthetic", "dbbook"]);
      expect(last.sources.dbbook.out).toBe(path.join(dir, "q-dbbook.json"));
      expect(last.sources.synthetic.runs).toBe(3);
      expect(Object.keys(last.claims)).toEqual(expect.arrayContaining(["synthetic:clean-gain>=0.03", "dbbook:deletion"]));
      const saved = JSON.parse(readFileSync(path.join(dir, "q-synthetic.json"), "utf8")) as { source: string; runs: unknown[] };
      expect(saved.source).toBe("synthetic");
      expect(saved.runs).toHaveLength(3);
    } finally {
      remove();
    }
  }, 120_000);
});

describe("quality bench cut short", () => {
  it("stops after the training under way on SIGTERM, prints the partial summary and exits 124", async () => {
    const { dir, cleanup: remove } = makeTempDir("quality-stop");
    try {
      const out = path.join(dir, "results.json");
      const child = spawn(process.execPath, ["--import", "tsx", "bench/quality.ts", "--source", "synthetic", "--quick", "--out", out], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
        // After the first of the 8 trainings.
        if (/^\[synthetic 1\/8\] /m.test(stdout) && child.exitCode === null && !child.killed) child.kill("SIGTERM");
      });
      const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
      const stopped = stdout.match(/\[stopped\] SIGTERM after (\d+) trainings/);
      expect(stopped, stdout.slice(-2000)).not.toBeNull();
      expect(Number(stopped?.[1])).toBeLessThan(8);
      expect(code).toBe(124);
      const last = JSON.parse(stdout.trim().split("\n").at(-1)!) as { complete: boolean; sources: Record<string, { complete: boolean }> };
      expect(last.complete).toBe(false);
      expect(last.sources.synthetic.complete).toBe(false);
      const saved = JSON.parse(readFileSync(out, "utf8")) as { complete: boolean; runs: unknown[] };
      expect(saved.complete).toBe(false);
      expect(saved.runs.length).toBe(Number(stopped?.[1]));
    } finally {
      remove();
    }
  }, 120_000);
});
