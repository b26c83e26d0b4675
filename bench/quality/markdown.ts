/** One dataset's results as Markdown for docs/quality.md: table, baselines, claims, gates, aspects, deletion, knowledge off. */
import { f4 } from "./summary.ts";
import type { QualityResults } from "./types.ts";

const pm = (s: { mean: number; std: number }) => `${f4(s.mean)} ± ${f4(s.std)}`;

function table(r: QualityResults, out: string[]): void {
  const m = r.settings.metric;
  out.push(`| backbone | config | test AUC | test GAUC | test LogLoss | n | > none (${m}) | ${m.toUpperCase()} per seed |`);
  out.push("| --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const [backbone, row] of Object.entries(r.table))
    for (const [cell, c] of Object.entries(row)) {
      const beats = c.beatsNone ? `${c.beatsNone.seeds}/${c.beatsNone.of}` : "-";
      const perSeed = (m === "gauc" ? c.gauc : c.auc).values.map(f4).join(", ");
      out.push(`| ${backbone} | ${cell} | ${pm(c.auc)} | ${pm(c.gauc)} | ${pm(c.logloss)} | ${c.auc.n} | ${beats} | ${perSeed} |`);
    }
  const b = r.facts.baselines;
  out.push(`| - | item popularity (no model) | ${f4(b.itemPopularity.auc)} | ${f4(b.itemPopularity.gauc)} | - | - | - | - |`);
  out.push(`| - | history mean (no model) | ${f4(b.historyMean.auc)} | ${f4(b.historyMean.gauc)} | - | - | - | - |`);
  const knn = b.userKnowledgeKnn;
  if (knn) out.push(`| - | user-knowledge kNN (no model) | ${f4(knn.auc)} | ${f4(knn.gauc)} | - | - | - | - |`);
  const uncompressed = r.facts.userKnowledgeKnnUncompressed;
  if (uncompressed) out.push(`| - | the same before PCA and int8 | ${f4(uncompressed.auc)} | ${f4(uncompressed.gauc)} | - | - | - | - |`);
}

function gates(r: QualityResults, out: string[]): void {
  const byConfig = Object.entries(r.gateCorrelation.byConfig);
  if (byConfig.length > 0) {
    out.push("");
    out.push(
      "| gated config | Spearman kinds vs quality (runs x fields) | pooled user / item | point-biserial | AUC(informative) | mean gate user (inf / hal / red / hom) | mean gate item |",
    );
    out.push("| --- | --- | --- | --- | --- | --- | --- |");
    const kinds = (m: Record<string, number>) =>
      ["informative", "hallucinated", "redundant", "homogeneous"].map((k) => (m[k] ?? Number.NaN).toFixed(4)).join(" / ");
    for (const [config, g] of byConfig)
      out.push(
        `| ${config} | ${pm(g.spearman)} (n ${g.spearman.n}) | ${f4(g.pooledSpearman.user)} / ${f4(g.pooledSpearman.item)} | ${pm(g.pointBiserial)} | ${pm(g.aucInformative)} | ${kinds(g.meanByKind.user)} | ${kinds(g.meanByKind.item)} |`,
      );
  }
  const slots = Object.entries(r.slotGates);
  if (slots.length > 0) {
    const names = [...new Set(slots.flatMap(([, g]) => Object.keys(g.user)))];
    out.push("");
    out.push(`| gated config | ${names.join(" | ")} | item |`);
    out.push(`| --- | ${names.map(() => "---").join(" | ")} | --- |`);
    for (const [config, g] of slots)
      out.push(
        `| ${config} | ${names.map((n) => f4(g.user[n] ?? Number.NaN)).join(" | ")} | ${Object.values(g.item).map(f4).join(", ")} |`,
      );
  }
}

function knowledgeOff(r: QualityResults, out: string[]): void {
  const cells = Object.entries(r.knowledgeOff ?? {});
  if (cells.length === 0) return;
  out.push("");
  out.push("| config | test metric with knowledge | with every chunk masked | the knowledge's part | n |");
  out.push("| --- | --- | --- | --- | --- |");
  for (const [cell, k] of cells) out.push(`| ${cell} | ${k.metric} ${pm(k.with)} | ${pm(k.off)} | ${pm(k.part)} | ${k.part.n} |`);
}

export function markdown(r: QualityResults): string {
  const out: string[] = [];
  table(r, out);
  out.push("");
  out.push("| claim | holds | per backbone |");
  out.push("| --- | --- | --- |");
  for (const c of r.claims)
    out.push(
      `| ${c.id} | ${c.holds} | ${Object.entries(c.perBackbone)
        .map(([b, p]) => `${b}: ${p.holds} (${p.detail})`)
        .join("<br>")} |`,
    );
  gates(r, out);
  const deletion = Object.entries(r.deletion);
  if (deletion.length > 0) {
    out.push("");
    out.push("| gated config | test metric (unmasked) | cost of masking the top-gated half | cost of masking the bottom-gated half | n |");
    out.push("| --- | --- | --- | --- | --- |");
    for (const [config, d] of deletion)
      out.push(`| ${config} | ${d.metric} ${pm(d.base)} | ${pm(d.costTop)} | ${pm(d.costBottom)} | ${d.costTop.n} |`);
  }
  knowledgeOff(r, out);
  return out.join("\n");
}
