/**
 * The nightly run's HTML report: one self-contained file (inline CSS and SVG, no scripts, no network) a person
 * opens in a browser. Training curves, the candidate vs champion table, ESFNet gates per chunk, the gate checks,
 * the rollout state (variants, weights, bucket ranges) and run metadata.
 */
import { formatRanges } from "../../shared/bucket-ranges.ts";
import { parseRolloutConfig } from "../../shared/rollout.ts";
import { barChart, escapeHtml as esc, lineChart } from "./svg-chart.ts";

interface Epoch {
  epoch: number;
  trainLoss: number;
  validAuc: number;
  validLogloss?: number;
}

interface ModelMetrics {
  modelId?: string;
  backbone: string;
  extractor: string;
  auc: number;
  logloss: number;
  gauc: number;
  history: Epoch[];
}

type Side = "user" | "item";

export interface ReportInput {
  runId: string;
  runDir: string;
  state: {
    startedAt: string;
    attempts: number;
    stages: Record<string, { finishedAt: string; seconds: number } | undefined>;
    outcome?: { exitCode: number; status: string; message: string; finishedAt: string };
  };
  stageOrder: readonly string[];
  config?: { name?: string; data?: unknown; model?: unknown; gate?: unknown; rollout?: unknown };
  ingest?: Record<string, unknown>;
  knowledge?: Record<string, unknown>;
  metrics?: {
    holdout: { split: string; samples: number };
    candidate: ModelMetrics;
    champion: ModelMetrics;
    gates: {
      byKind: Record<Side, Record<string, { mean: number; count: number }>>;
      bySlot: Record<Side, { slot: number; mean: number; count: number; kinds: Record<string, number> }[]>;
    } | null;
  };
  exported?: { modelId: string; modelBytes: number; parity: number; latencyMs: { p50: number; p95: number; candidates: number } };
  gate?: { passed: boolean; checks: { name: string; value: number; limit: number; op: string; passed: boolean }[] };
  /** rollout.json: configs as written (either rollout schema). */
  rollout?: { before: unknown; after: unknown };
  lastError?: { at: string; exitCode: number; message: string };
}

const KIND_COLORS: Record<string, string> = {
  informative: "#2e8b57",
  hallucinated: "#c0392b",
  redundant: "#8e44ad",
  homogeneous: "#d68910",
  unknown: "#7f8c8d",
};

const num = (v: number, digits = 4) => (Number.isFinite(v) ? v.toFixed(digits) : String(v));

function table(head: string[], rows: (string | number)[][], cls = ""): string {
  return `<table class="${cls}"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${typeof c === "number" ? esc(String(c)) : c}</td>`).join("")}</tr>`)
    .join("")}</tbody></table>`;
}

function curves(m: NonNullable<ReportInput["metrics"]>): string {
  const line = (h: Epoch[], pick: (e: Epoch) => number | undefined) =>
    h.filter((e) => Number.isFinite(pick(e))).map((e) => ({ x: e.epoch, y: pick(e) as number }));
  return `<div class="charts">${lineChart("Training loss per epoch", [
    { name: "candidate", color: "#1f77b4", points: line(m.candidate.history, (e) => e.trainLoss) },
    { name: "champion", color: "#ff7f0e", points: line(m.champion.history, (e) => e.trainLoss) },
  ])}${lineChart("Validation AUC per epoch", [
    { name: "candidate", color: "#1f77b4", points: line(m.candidate.history, (e) => e.validAuc) },
    { name: "champion", color: "#ff7f0e", points: line(m.champion.history, (e) => e.validAuc) },
  ])}</div><p class="note">The champion's curves are from the run that trained it (its own data at the time).</p>`;
}

function metricsTable(m: NonNullable<ReportInput["metrics"]>): string {
  const row = (name: string, x: ModelMetrics) => [
    esc(name),
    esc(`${x.backbone} + ${x.extractor}`),
    esc(x.modelId ?? "(this run)"),
    num(x.auc),
    num(x.logloss),
    num(x.gauc),
  ];
  const d = (a: number, b: number) => `${a - b >= 0 ? "+" : ""}${num(a - b)}`;
  return `<p>Holdout: the <b>${esc(m.holdout.split)}</b> split of this run, ${m.holdout.samples} samples, both models scored by the same code.</p>${table(
    ["model", "architecture", "model id", "AUC", "LogLoss", "GAUC"],
    [
      row("candidate", m.candidate),
      row("champion", m.champion),
      [
        "difference",
        "",
        "",
        d(m.candidate.auc, m.champion.auc),
        d(m.candidate.logloss, m.champion.logloss),
        d(m.candidate.gauc, m.champion.gauc),
      ],
    ],
    "metrics",
  )}`;
}

function gatesSection(g: NonNullable<NonNullable<ReportInput["metrics"]>["gates"]>): string {
  const parts: string[] = [];
  for (const side of ["user", "item"] as const) {
    const kinds = Object.entries(g.byKind[side]).sort((a, b) => b[1].mean - a[1].mean);
    parts.push(
      `<div>${barChart(
        `Mean ESFNet gate per chunk kind (${side})`,
        kinds.map(([k, v]) => ({ label: `${k} (${v.count})`, value: v.mean, color: KIND_COLORS[k] ?? "#555" })),
      )}${table(
        ["slot", "mean gate", "chunks", "kinds in slot"],
        g.bySlot[side].map((s) => [
          s.slot,
          num(s.mean, 3),
          s.count,
          esc(
            Object.entries(s.kinds)
              .map(([k, c]) => `${k} ${c}`)
              .join(", "),
          ),
        ]),
        "small",
      )}</div>`,
    );
  }
  return `<p>Gates of the candidate's knowledge extractor on the holdout samples: 1 keeps a chunk, 0 filters it out. Simulated knowledge knows each chunk's kind, so a working filter ranks informative chunks above hallucinated ones.</p><div class="charts">${parts.join("")}</div>`;
}

function rolloutSection(raw: unknown, title: string): string {
  if (!raw) return `<h3>${esc(title)}</h3><p>none</p>`;
  let r: ReturnType<typeof parseRolloutConfig>;
  try {
    r = parseRolloutConfig(raw);
  } catch (error) {
    return `<h3>${esc(title)}</h3><p>${esc((error as Error).message)}</p>`;
  }
  return `<h3>${esc(title)}</h3><p>salt <code>${esc(r.salt)}</code>, updated ${esc(r.updatedAt)}${r.fallback ? `, fallback ${esc(r.fallback)}` : ""}</p>${table(
    ["variant", "model id", "weight", "share", "buckets"],
    r.variants.map((v) => [
      esc(v.name),
      `<code>${esc(v.modelId)}</code>`,
      v.weight,
      `${(v.weight / 100).toFixed(2)}%`,
      esc(formatRanges(v.buckets)),
    ]),
  )}`;
}

/** The run's status line and its CSS class. */
function runStatus(input: ReportInput): { status: string; statusClass: string } {
  const o = input.state.outcome;
  const status = o ? o.status : input.lastError ? "failed (will resume)" : "in progress";
  const statusClass = o?.exitCode === 0 ? "ok" : o?.exitCode === 10 ? "warn" : o ? "bad" : input.lastError ? "bad" : "warn";
  return { status, statusClass };
}

function runSection(input: ReportInput): string {
  const o = input.state.outcome;
  const { status, statusClass } = runStatus(input);
  return `<section><h2>Run</h2>${table(
    ["", ""],
    [
      ["run", `<code>${esc(input.runId)}</code>`],
      ["directory", `<code>${esc(input.runDir)}</code>`],
      ["started", esc(input.state.startedAt)],
      ["invocations", input.state.attempts],
      ["outcome", `<span class="${statusClass}">${esc(status)}</span>${o ? ` — exit ${o.exitCode}: ${esc(o.message)}` : ""}`],
      ...(input.lastError ? [["last error", `exit ${input.lastError.exitCode}: ${esc(input.lastError.message.split("\n")[0])}`]] : []),
    ],
    "meta",
  )}${table(
    ["stage", "finished", "seconds"],
    input.stageOrder.map((s) => {
      const st = input.state.stages[s];
      return [esc(s), st ? esc(st.finishedAt) : "—", st ? num(st.seconds, 1) : "—"];
    }),
    "small",
  )}</section>`;
}

function gateSection(gate: NonNullable<ReportInput["gate"]>, exported: ReportInput["exported"]): string {
  return `<section><h2>Gate: <span class="${gate.passed ? "ok" : "warn"}">${gate.passed ? "passed" : "not passed"}</span></h2>${table(
    ["check", "value", "rule", "result"],
    gate.checks.map((c) => [
      esc(c.name),
      num(c.value, 6),
      esc(`${c.op} ${c.limit}`),
      `<span class="${c.passed ? "ok" : "bad"}">${c.passed ? "pass" : "fail"}</span>`,
    ]),
  )}${
    exported
      ? `<p>Exported <code>${esc(exported.modelId)}</code>: ${exported.modelBytes} bytes, ONNX vs tfjs max |diff| ${exported.parity.toExponential(2)}, latency p50 ${num(exported.latencyMs.p50, 2)} ms / p95 ${num(exported.latencyMs.p95, 2)} ms for ${exported.latencyMs.candidates} candidates.</p>`
      : ""
  }</section>`;
}

export function renderReport(input: ReportInput): string {
  const { status, statusClass } = runStatus(input);
  const sections: string[] = [runSection(input)];
  if (input.ingest || input.knowledge) {
    const rows: (string | number)[][] = [];
    for (const [k, v] of Object.entries(input.ingest ?? {})) rows.push([`ingest.${esc(k)}`, esc(JSON.stringify(v))]);
    for (const [k, v] of Object.entries(input.knowledge ?? {})) rows.push([`knowledge.${esc(k)}`, esc(JSON.stringify(v))]);
    sections.push(`<section><h2>Data and knowledge</h2>${table(["", ""], rows, "meta")}</section>`);
  }
  if (input.metrics) {
    sections.push(`<section><h2>Training curves</h2>${curves(input.metrics)}</section>`);
    sections.push(`<section><h2>Candidate vs champion</h2>${metricsTable(input.metrics)}</section>`);
    if (input.metrics.gates) sections.push(`<section><h2>ESFNet gates per chunk</h2>${gatesSection(input.metrics.gates)}</section>`);
  }
  if (input.gate) sections.push(gateSection(input.gate, input.exported));
  if (input.rollout)
    sections.push(
      `<section><h2>Rollout</h2>${rolloutSection(input.rollout.before, "Before this run")}${rolloutSection(input.rollout.after, "After this run (live)")}</section>`,
    );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>kser nightly ${esc(input.runId)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}h3{font-size:14px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}th{background:#f3f3f3}
table.small td,table.small th{font-size:12px}code{font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{margin:0}.chart figcaption{font-weight:600;margin-bottom:4px}
.ok{color:#1e7b34;font-weight:600}.warn{color:#b9770e;font-weight:600}.bad{color:#b03a2e;font-weight:600}.note{color:#666;font-size:12px}
</style></head><body>
<h1>kser nightly — ${esc(input.config?.name ?? "run")} <span class="${statusClass}">${esc(status)}</span></h1>
${sections.join("\n")}
</body></html>
`;
}
