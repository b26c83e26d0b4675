/** The bench's printable table and its one-line JSON summary. */
import type { QualityResults } from "./run.ts";

const f4 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : String(x));
const round = (x: number, d = 4) => (Number.isFinite(x) ? Number(x.toFixed(d)) : x);

export function summary(r: QualityResults): { lines: string[]; json: Record<string, unknown> } {
  const lines: string[] = [];
  const cells = [...new Set(Object.values(r.table).flatMap((t) => Object.keys(t)))];
  lines.push(`[table] test AUC / LogLoss, mean ± std over seeds (n per cell)`);
  lines.push(["backbone", "config", "AUC", "LogLoss", "n"].join("\t"));
  const table: Record<string, Record<string, { auc: number; aucStd: number; logloss: number; loglossStd: number; n: number }>> = {};
  for (const [backbone, row] of Object.entries(r.table)) {
    table[backbone] = {};
    for (const cell of cells) {
      const c = row[cell];
      if (!c) continue;
      lines.push(
        [backbone, cell, `${f4(c.auc.mean)} ± ${f4(c.auc.std)}`, `${f4(c.logloss.mean)} ± ${f4(c.logloss.std)}`, c.auc.n].join("\t"),
      );
      table[backbone][cell] = {
        auc: round(c.auc.mean),
        aucStd: round(c.auc.std),
        logloss: round(c.logloss.mean),
        loglossStd: round(c.logloss.std),
        n: c.auc.n,
      };
    }
  }
  const claims: Record<string, boolean> = {};
  for (const c of r.claims) {
    claims[c.id] = c.holds;
    const per = Object.entries(c.perBackbone)
      .map(([b, p]) => `${b} ${p.holds} (seeds ${p.seedsHolding}/${p.seeds}: ${p.detail})`)
      .join(" | ");
    lines.push(`[claim] ${c.id}: ${c.holds} — ${c.statement}: ${per}`);
  }
  const gate: Record<string, unknown> = {};
  for (const [config, g] of Object.entries(r.gateCorrelation.byConfig)) {
    gate[config] = {
      spearman: round(g.spearman.mean, 3),
      spearmanStd: round(g.spearman.std, 3),
      pooledSpearman: { user: round(g.pooledSpearman.user, 3), item: round(g.pooledSpearman.item, 3) },
      pointBiserial: round(g.pointBiserial.mean, 3),
      aucInformative: round(g.aucInformative.mean, 3),
      n: g.spearman.n,
    };
    lines.push(
      `[gates] ${config}: Spearman(mean gate per kind, quality) ${f4(g.spearman.mean)} ± ${f4(g.spearman.std)} over ${g.spearman.n} run x field; ` +
        `pooled user ${f4(g.pooledSpearman.user)} item ${f4(g.pooledSpearman.item)}; per chunk point-biserial ${f4(g.pointBiserial.mean)}, ` +
        `AUC(informative) ${f4(g.aucInformative.mean)}; mean gate user ${JSON.stringify(g.meanByKind.user, (_, v) => (typeof v === "number" ? round(v, 3) : v))} ` +
        `item ${JSON.stringify(g.meanByKind.item, (_, v) => (typeof v === "number" ? round(v, 3) : v))}`,
    );
  }
  for (const f of r.failures ?? [])
    lines.push(`[failed] ${f.backbone} ${f.config}${f.noise === "high" ? "@high" : ""} seed ${f.seed}: ${f.error}`);
  const kser = r.gateCorrelation.byConfig.kser;
  claims["gate>=0.8"] = kser !== undefined && kser.spearman.mean >= 0.8;
  return {
    lines,
    json: {
      data: r.data.name,
      complete: r.complete,
      runs: r.runs.length,
      table,
      claims,
      gateCorrelation: gate,
      failures: (r.failures ?? []).map((f) => `${f.backbone} ${f.config}${f.noise === "high" ? "@high" : ""} seed ${f.seed}: ${f.error}`),
      resumedRuns: r.resumed ?? 0,
      seconds: round(r.seconds.total, 1),
      peakRssMiB: r.peakRssMiB,
    },
  };
}

/** The results as Markdown: the table (with every seed's AUC), the claims, the gate scores. */
export function markdown(r: QualityResults): string {
  const out: string[] = [];
  out.push("| backbone | config | test AUC (mean ± std) | test LogLoss (mean ± std) | n | AUC per seed |");
  out.push("| --- | --- | --- | --- | --- | --- |");
  for (const [backbone, row] of Object.entries(r.table))
    for (const [cell, c] of Object.entries(row))
      out.push(
        `| ${backbone} | ${cell} | ${f4(c.auc.mean)} ± ${f4(c.auc.std)} | ${f4(c.logloss.mean)} ± ${f4(c.logloss.std)} | ${c.auc.n} | ${c.auc.values.map(f4).join(", ")} |`,
      );
  out.push("");
  out.push("| claim | holds | per backbone (mean AUC; seeds where it held) |");
  out.push("| --- | --- | --- |");
  for (const c of r.claims)
    out.push(
      `| ${c.id} | ${c.holds} | ${Object.entries(c.perBackbone)
        .map(([b, p]) => `${b}: ${p.holds} (${p.seedsHolding}/${p.seeds}; ${p.detail})`)
        .join("<br>")} |`,
    );
  out.push("");
  out.push(
    "| gated config | Spearman kinds vs quality (mean ± std, runs x fields) | pooled user / item | point-biserial | AUC(informative) | mean gate user (inf / hal / red / hom) | mean gate item |",
  );
  out.push("| --- | --- | --- | --- | --- | --- | --- |");
  const kinds = (m: Record<string, number>) =>
    ["informative", "hallucinated", "redundant", "homogeneous"].map((k) => (m[k] ?? Number.NaN).toFixed(4)).join(" / ");
  for (const [config, g] of Object.entries(r.gateCorrelation.byConfig))
    out.push(
      `| ${config} | ${f4(g.spearman.mean)} ± ${f4(g.spearman.std)} (n ${g.spearman.n}) | ${f4(g.pooledSpearman.user)} / ${f4(g.pooledSpearman.item)} | ${f4(g.pointBiserial.mean)} ± ${f4(g.pointBiserial.std)} | ${f4(g.aucInformative.mean)} ± ${f4(g.aucInformative.std)} | ${kinds(g.meanByKind.user)} | ${kinds(g.meanByKind.item)} |`,
    );
  return out.join("\n");
}
