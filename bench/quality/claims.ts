/**
 * The claims a dataset's grid checks, true/false, each with its numbers; ids are prefixed with the dataset
 * ("ml-100k:kser>kar>none"). Comparisons use the dataset's metric (test AUC, or GAUC on dbbook). A claim is true
 * only if it holds on every backbone of the grid; a claim whose cells are missing is left out.
 */
import { gateCorrelation } from "./gate-scores.ts";
import type { BenchMetric, BenchSource } from "./settings.ts";
import { spread } from "./stats.ts";
import { type Claim, cellKey, type RunResult } from "./types.ts";

type PerBackbone = Claim["perBackbone"][string];

/** Share of the seeds a seed-wise claim needs: 4 of 5. */
export const SEED_SHARE = 0.8;

const f4 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : String(x));

function claim(id: string, statement: string, backbones: string[], per: (b: string) => PerBackbone | null): Claim | null {
  const perBackbone: Claim["perBackbone"] = {};
  for (const b of backbones) {
    const p = per(b);
    if (p) perBackbone[b] = p;
  }
  const measured = Object.values(perBackbone);
  if (measured.length === 0) return null;
  return { id, statement, perBackbone, holds: measured.every((p) => p.holds) && measured.length === backbones.length };
}

const cellRuns = (runs: RunResult[], b: string, cell: string) =>
  runs.filter((r) => r.backbone === b && cellKey(r.config, r.noise) === cell);
const bySeed = (list: RunResult[]) => new Map(list.map((r) => [r.seed, r]));

/**
 * "a beats b" for each pair [a, b], per backbone: in the means over seeds, and seed by seed (paired by seed;
 * `seedsHolding` counts the seeds where every pair holds). With `seedShare`, each pair must also hold in at least
 * that share of the seeds; with `means: false` only the seeds decide.
 */
function paired(
  id: string,
  statement: string,
  runs: RunResult[],
  backbones: string[],
  pairs: [string, string][],
  metric: BenchMetric,
  opts: { seedShare?: number; means?: boolean } = {},
): Claim | null {
  return claim(id, statement, backbones, (b) => {
    const cells = pairs.map(([hi, lo]) => [cellRuns(runs, b, hi), cellRuns(runs, b, lo)] as const);
    if (cells.some(([a, c]) => a.length === 0 || c.length === 0)) return null;
    const seeds = [...bySeed(cells[0][0]).keys()].filter((s) => cells.every(([a, c]) => bySeed(a).has(s) && bySeed(c).has(s)));
    const wins = cells.map(([a, c]) => seeds.filter((s) => bySeed(a).get(s)!.test[metric] > bySeed(c).get(s)!.test[metric]).length);
    const means = cells.map(([a, c]) => [spread(a.map((r) => r.test[metric])).mean, spread(c.map((r) => r.test[metric])).mean]);
    const meansHold = means.every(([a, c]) => a > c);
    const need = opts.seedShare !== undefined ? Math.ceil(opts.seedShare * seeds.length) : 0;
    const seedsHold = wins.every((w) => w >= need);
    const seedsHolding = seeds.filter((s) =>
      cells.every(([a, c]) => bySeed(a).get(s)!.test[metric] > bySeed(c).get(s)!.test[metric]),
    ).length;
    const detail = pairs
      .map(([hi, lo], i) => `${hi} ${f4(means[i][0])} vs ${lo} ${f4(means[i][1])} (${metric}; seeds ${wins[i]}/${seeds.length})`)
      .join("; ");
    const holds = (opts.means === false || meansHold) && seedsHold && seeds.length > 0;
    return { holds, seedsHolding, seeds: seeds.length, detail };
  });
}

/** The KSER paper's claims, checked on every dataset. */
function paperClaims(p: string, runs: RunResult[], backbones: string[], metric: BenchMetric): (Claim | null)[] {
  const c = (id: string, statement: string, pairs: [string, string][]) => paired(`${p}:${id}`, statement, runs, backbones, pairs, metric);
  return [
    c("kser>kar>none", "KSER (all-params) > KAR > no knowledge", [
      ["kser", "kar"],
      ["kar", "none"],
    ]),
    c("raw<none@high", "raw knowledge < no knowledge at high noise (informative 0.2)", [["none", "raw@high"]]),
    c("raw<none", "raw knowledge < no knowledge at the default noise", [["none", "raw"]]),
    c("extractor-only>none", "KSER extractor-only > its frozen backbone (none)", [["kser-xo", "none"]]),
    c("kser>nofilter", "KSER > KSER without the filter", [["kser", "kser-nofilter"]]),
    c("kser>noalign", "KSER > KSER without the alignment", [["kser", "kser-noalign"]]),
    c("kser>raw@high", "KSER > raw at high noise", [["kser@high", "raw@high"]]),
  ];
}

const DELETION =
  "masking the top-gated half of each entity's chunks costs >= 2x what the bottom-gated half costs, and more than two standard errors over the seeds (kser)";
const GATE_AUC = "kser's gate separates informative chunks from the rest at per-chunk AUC >= 0.8 (mean over seeds, fields)";

/** A claim on the kser runs that carry some measurement, judged per backbone. */
function kserClaim(
  id: string,
  statement: string,
  runs: RunResult[],
  backbones: string[],
  has: (r: RunResult) => boolean,
  judge: (list: RunResult[]) => PerBackbone,
): Claim | null {
  return claim(id, statement, backbones, (b) => {
    const list = cellRuns(runs, b, "kser").filter(has);
    return list.length === 0 ? null : judge(list);
  });
}

/**
 * Masking kser's top-gated half costs at least twice what masking its bottom-gated half costs, and the top-half
 * cost stands out of its seed noise (mean > 2 standard errors): a cost of 0.0001 ± 0.0008 is no selection.
 */
export const judgeDeletion =
  (metric: BenchMetric) =>
  (list: RunResult[]): PerBackbone => {
    const ok = (top: number, bottom: number) => top > 0 && top >= 2 * bottom;
    const top = spread(list.map((r) => r.deletion!.cost.top));
    const bottom = spread(list.map((r) => r.deletion!.cost.bottom)).mean;
    const standardError = top.std / Math.sqrt(top.n);
    const seedsHolding = list.filter((r) => ok(r.deletion!.cost.top, r.deletion!.cost.bottom)).length;
    const detail =
      `${metric} cost top ${f4(top.mean)} ± ${f4(top.std)} vs bottom ${f4(bottom)} ` +
      `(ratio ${f4(top.mean / bottom)}; seeds ${seedsHolding}/${list.length})`;
    return { holds: ok(top.mean, bottom) && top.mean > 2 * standardError, seedsHolding, seeds: list.length, detail };
  };

const meanOf = (runs: RunResult[], b: string, cell: string, metric: BenchMetric) =>
  spread(cellRuns(runs, b, cell).map((r) => r.test[metric])).mean;
const seedValue = (runs: RunResult[], b: string, cell: string, seed: number, metric: BenchMetric) =>
  cellRuns(runs, b, cell).find((r) => r.seed === seed)?.test[metric];

/** A claim on one number per backbone computed from cell values: on the means, and seed by seed. */
function numberClaim(
  id: string,
  statement: string,
  runs: RunResult[],
  backbones: string[],
  cells: string[],
  metric: BenchMetric,
  value: (v: number[]) => number,
  test: (x: number) => boolean,
): Claim | null {
  return claim(id, statement, backbones, (b) => {
    if (cells.some((c) => cellRuns(runs, b, c).length === 0)) return null;
    const x = value(cells.map((c) => meanOf(runs, b, c, metric)));
    const seeds = [...new Set(cellRuns(runs, b, cells[0]).map((r) => r.seed))].filter((s) =>
      cells.every((c) => seedValue(runs, b, c, s, metric) !== undefined),
    );
    const seedsHolding = seeds.filter((s) => test(value(cells.map((c) => seedValue(runs, b, c, s, metric)!)))).length;
    const means = cells.map((c) => `${c} ${f4(meanOf(runs, b, c, metric))}`).join(", ");
    return {
      holds: test(x),
      seedsHolding,
      seeds: seeds.length,
      detail: `${f4(x)} from ${metric} means ${means} (seeds ${seedsHolding}/${seeds.length})`,
    };
  });
}

/** kser's per-chunk gate AUC (informative vs the rest), mean over seeds and both fields, at least 0.8. */
function judgeGateAuc(list: RunResult[]): PerBackbone {
  const perRun = list.map((r) => (r.gates!.user.aucInformative + r.gates!.item.aucInformative) / 2);
  const mean = spread(perRun).mean;
  const seedsHolding = perRun.filter((x) => x >= 0.8).length;
  return { holds: mean >= 0.8, seedsHolding, seeds: list.length, detail: `gate AUC ${f4(mean)} (seeds ${seedsHolding}/${list.length})` };
}

function gateSpearmanClaim(id: string, runs: RunResult[]): Claim | null {
  const kser = gateCorrelation(runs).byConfig.kser;
  if (!kser) return null;
  const holds = kser.spearman.mean >= 0.8;
  const detail = `Spearman ${f4(kser.spearman.mean)} ± ${f4(kser.spearman.std)} over ${kser.spearman.n} run x field`;
  return {
    id,
    statement: "kser's mean gate per kind ranks the kinds by quality (Spearman >= 0.8)",
    perBackbone: { all: { holds, seedsHolding: 0, seeds: 0, detail } },
    holds,
  };
}

export function claimsFor(source: BenchSource, runs: RunResult[], backbones: string[], metric: BenchMetric): Claim[] {
  const p = source;
  const out = [...paperClaims(p, runs, backbones, metric)];
  if (source === "ml-100k" || source === "synthetic") out.push(gateSpearmanClaim(`${p}:gate>=0.8`, runs));
  if (source === "dbbook") {
    out.push(
      paired(
        `${p}:kser>raw>none`,
        "kser > raw > none in the means and each in at least 4 of 5 seeds",
        runs,
        backbones,
        [
          ["kser", "raw"],
          ["raw", "none"],
        ],
        metric,
        { seedShare: SEED_SHARE },
      ),
      paired(
        `${p}:extractor-only>frozen`,
        "kser extractor-only > its frozen none backbone in at least 4 of 5 seeds",
        runs,
        backbones,
        [["kser-xo", "none"]],
        metric,
        {
          seedShare: SEED_SHARE,
          means: false,
        },
      ),
      kserClaim(`${p}:deletion`, DELETION, runs, backbones, (r) => r.deletion !== undefined, judgeDeletion(metric)),
    );
  }
  if (source === "synthetic") {
    out.push(
      numberClaim(
        `${p}:clean-gain>=0.03`,
        "raw on only the informative chunks beats none by >= 0.03",
        runs,
        backbones,
        ["raw@clean", "none"],
        metric,
        ([c, n]) => c - n,
        (x) => x >= 0.03,
      ),
      numberClaim(
        `${p}:recovery>=0.5`,
        "kser on the default noise recovers >= half of the gap from raw to raw on only the informative chunks",
        runs,
        backbones,
        ["kser", "raw", "raw@clean"],
        metric,
        ([k, r, c]) => (c > r ? (k - r) / (c - r) : Number.NaN),
        (x) => x >= 0.5,
      ),
      kserClaim(`${p}:gate-auc>=0.8`, GATE_AUC, runs, backbones, (r) => r.gates !== undefined, judgeGateAuc),
    );
  }
  return out.filter((c): c is Claim => c !== null);
}
