/** One dataset's printable summary (tables, baselines, claims, gates, deletion, knowledge off) and its JSON summary. */
import type { QualityResults } from "./types.ts";

export const f4 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : String(x));
export const round = (x: number, d = 4) => (Number.isFinite(x) ? Number(x.toFixed(d)) : x);
const rounded = (v: unknown, d = 3) => JSON.stringify(v, (_, x) => (typeof x === "number" ? round(x, d) : x));

type TableJson = Record<string, Record<string, Record<string, number | string>>>;

function tableLines(r: QualityResults, lines: string[]): TableJson {
  const cells = [...new Set(Object.values(r.table).flatMap((t) => Object.keys(t)))];
  lines.push(`[table ${r.source}] test metrics, mean ± std over seeds (n per cell; > none: seeds beating none in ${r.settings.metric})`);
  lines.push(["backbone", "config", "AUC", "GAUC", "LogLoss", "n", "> none"].join("\t"));
  const table: TableJson = {};
  for (const [backbone, row] of Object.entries(r.table)) {
    table[backbone] = {};
    for (const cell of cells) {
      const c = row[cell];
      if (!c) continue;
      const beats = c.beatsNone ? `${c.beatsNone.seeds}/${c.beatsNone.of}` : "-";
      const pm = (s: { mean: number; std: number }) => `${f4(s.mean)} ± ${f4(s.std)}`;
      lines.push([backbone, cell, pm(c.auc), pm(c.gauc), pm(c.logloss), c.auc.n, beats].join("\t"));
      table[backbone][cell] = {
        auc: round(c.auc.mean),
        aucStd: round(c.auc.std),
        gauc: round(c.gauc.mean),
        gaucStd: round(c.gauc.std),
        logloss: round(c.logloss.mean),
        loglossStd: round(c.logloss.std),
        n: c.auc.n,
        ...(c.beatsNone ? { beatsNone: beats } : {}),
      };
    }
  }
  return table;
}

function factLines(r: QualityResults, lines: string[]): void {
  const b = r.facts.baselines;
  lines.push(
    `[baselines ${r.source}] no model, test split: item popularity AUC ${f4(b.itemPopularity.auc)} GAUC ${f4(b.itemPopularity.gauc)}; ` +
      `history mean AUC ${f4(b.historyMean.auc)} GAUC ${f4(b.historyMean.gauc)}` +
      (b.userKnowledgeKnn ? `; user-knowledge kNN AUC ${f4(b.userKnowledgeKnn.auc)} GAUC ${f4(b.userKnowledgeKnn.gauc)}` : ""),
  );
  const v = r.facts.userKnowledgeKnnValid;
  if (v) lines.push(`[data ${r.source}] user-knowledge kNN on the validation split: AUC ${f4(v.auc)} GAUC ${f4(v.gauc)}`);
  const u = r.facts.userKnowledgeKnnUncompressed;
  if (u) lines.push(`[data ${r.source}] user-knowledge kNN before PCA and int8, test split: AUC ${f4(u.auc)} GAUC ${f4(u.gauc)}`);
  const c = r.facts.userRateCorrelation;
  if (c)
    lines.push(
      `[data ${r.source}] per-user positive rate, train (+ valid) vs test: Pearson ${f4(c.pearson)} over ${c.users} users (test AUC across users follows base rates that do not carry over when this is low)`,
    );
  const ch = r.facts.chunking;
  if (ch)
    lines.push(
      `[chunking ${r.source}] ${ch.profiles} profiles (${ch.missing} users without), ${ch.sentences} sentences; chunks per aspect ${JSON.stringify(ch.chunksPerSlot)}; merged ${ch.merged}, dropped ${ch.dropped}`,
    );
}

function gateLines(r: QualityResults, lines: string[]): Record<string, unknown> {
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
      `[gates ${r.source}] ${config}: Spearman(mean gate per kind, quality) ${f4(g.spearman.mean)} ± ${f4(g.spearman.std)} over ${g.spearman.n} run x field; ` +
        `pooled user ${f4(g.pooledSpearman.user)} item ${f4(g.pooledSpearman.item)}; per chunk point-biserial ${f4(g.pointBiserial.mean)}, ` +
        `AUC(informative) ${f4(g.aucInformative.mean)} ± ${f4(g.aucInformative.std)}; mean gate user ${rounded(g.meanByKind.user)} item ${rounded(g.meanByKind.item)}`,
    );
  }
  for (const [config, g] of Object.entries(r.slotGates))
    lines.push(`[aspects ${r.source}] ${config}: mean gate per user slot ${rounded(g.user)}; item ${rounded(g.item)}`);
  return gate;
}

function deletionLines(r: QualityResults, lines: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [config, d] of Object.entries(r.deletion)) {
    out[config] = {
      metric: d.metric,
      base: round(d.base.mean),
      costTop: round(d.costTop.mean),
      costTopStd: round(d.costTop.std),
      costBottom: round(d.costBottom.mean),
      costBottomStd: round(d.costBottom.std),
      n: d.costTop.n,
    };
    lines.push(
      `[deletion ${r.source}] ${config}: test ${d.metric} ${f4(d.base.mean)}; masking each entity's top-gated half costs ${f4(d.costTop.mean)} ± ${f4(d.costTop.std)}, ` +
        `the bottom-gated half ${f4(d.costBottom.mean)} ± ${f4(d.costBottom.std)} (n ${d.costTop.n})`,
    );
  }
  return out;
}

/** What each knowledge cell scores with every chunk masked; absent from results files made before it was measured. */
function knowledgeOffLines(r: QualityResults, lines: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [cell, k] of Object.entries(r.knowledgeOff ?? {})) {
    out[cell] = { with: round(k.with.mean), off: round(k.off.mean), part: round(k.part.mean), partStd: round(k.part.std), n: k.part.n };
    lines.push(
      `[knowledge-off ${r.source}] ${cell}: test ${k.metric} ${f4(k.with.mean)} with its knowledge, ${f4(k.off.mean)} with every chunk masked ` +
        `(the knowledge's part ${f4(k.part.mean)} ± ${f4(k.part.std)}, n ${k.part.n})`,
    );
  }
  return out;
}

export function summary(r: QualityResults): { lines: string[]; json: Record<string, unknown> } {
  const lines: string[] = [];
  factLines(r, lines);
  const table = tableLines(r, lines);
  const claims: Record<string, boolean> = {};
  for (const c of r.claims) {
    claims[c.id] = c.holds;
    const per = Object.entries(c.perBackbone)
      .map(([b, p]) => `${b} ${p.holds} (${p.detail})`)
      .join(" | ");
    lines.push(`[claim] ${c.id}: ${c.holds} — ${c.statement}: ${per}`);
  }
  const gateCorrelation = gateLines(r, lines);
  const deletion = deletionLines(r, lines);
  const knowledgeOff = knowledgeOffLines(r, lines);
  for (const f of r.failures)
    lines.push(`[failed] ${f.backbone} ${f.config}${f.noise === "default" ? "" : `@${f.noise}`} seed ${f.seed}: ${f.error}`);
  const { baselines, userRateCorrelation, chunking, userKnowledgeKnnValid, userKnowledgeKnnUncompressed } = r.facts;
  return {
    lines,
    json: {
      data: r.data.name,
      metric: r.settings.metric,
      complete: r.complete,
      runs: r.runs.length,
      table,
      baselines: JSON.parse(rounded(baselines, 4)),
      ...(userKnowledgeKnnValid ? { userKnowledgeKnnValid: JSON.parse(rounded(userKnowledgeKnnValid, 4)) } : {}),
      ...(userKnowledgeKnnUncompressed ? { userKnowledgeKnnUncompressed: JSON.parse(rounded(userKnowledgeKnnUncompressed, 4)) } : {}),
      ...(userRateCorrelation
        ? { userRateCorrelation: { pearson: round(userRateCorrelation.pearson, 3), users: userRateCorrelation.users } }
        : {}),
      ...(chunking ? { chunking: { merged: chunking.merged, dropped: chunking.dropped, chunksPerSlot: chunking.chunksPerSlot } } : {}),
      claims,
      gateCorrelation,
      slotGates: JSON.parse(rounded(r.slotGates)),
      deletion,
      knowledgeOff,
      failures: r.failures.map((f) => `${f.backbone} ${f.config}${f.noise === "default" ? "" : `@${f.noise}`} seed ${f.seed}: ${f.error}`),
      resumedRuns: r.resumed,
      seconds: round(r.seconds.total, 1),
      peakRssMiB: r.peakRssMiB,
    },
  };
}
