/** A small inline-SVG line chart (no scripts, no network): axes with min/max ticks, one polyline per series. */
export interface Series {
  name: string;
  color: string;
  points: { x: number; y: number }[];
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

export function lineChart(title: string, series: Series[], opts: { width?: number; height?: number; xLabel?: string } = {}): string {
  const W = opts.width ?? 420;
  const H = opts.height ?? 220;
  const pad = { l: 52, r: 12, t: 26, b: 34 };
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (all.length === 0) return `<figure class="chart"><figcaption>${esc(title)}</figcaption><p class="empty">no data</p></figure>`;
  let [x0, x1] = [Math.min(...all.map((p) => p.x)), Math.max(...all.map((p) => p.x))];
  let [y0, y1] = [Math.min(...all.map((p) => p.y)), Math.max(...all.map((p) => p.y))];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - 0.01, y1 + 0.01];
  const margin = (y1 - y0) * 0.08;
  [y0, y1] = [y0 - margin, y1 + margin];
  const sx = (x: number) => pad.l + ((x - x0) / (x1 - x0)) * (W - pad.l - pad.r);
  const sy = (y: number) => H - pad.b - ((y - y0) / (y1 - y0)) * (H - pad.t - pad.b);
  const lines = series
    .filter((s) => s.points.length > 0)
    .map((s) => {
      const pts = s.points.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" ");
      const dots = s.points
        .map((p) => `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="2.5" fill="${s.color}"/>`)
        .join("");
      return `<polyline data-series="${esc(s.name)}" fill="none" stroke="${s.color}" stroke-width="2" points="${pts}"/>${dots}`;
    })
    .join("");
  const legend = series
    .map((s, i) => `<text x="${pad.l + 8 + i * 130}" y="16" fill="${s.color}" font-size="12">&#9632; ${esc(s.name)}</text>`)
    .join("");
  const fmt = (v: number) => (Number.isInteger(v) || Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(3));
  return `<figure class="chart"><figcaption>${esc(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">
<rect x="${pad.l}" y="${pad.t}" width="${W - pad.l - pad.r}" height="${H - pad.t - pad.b}" fill="#fafafa" stroke="#ccc"/>
<text x="${pad.l - 6}" y="${sy(y1) + 4}" font-size="11" text-anchor="end">${fmt(y1)}</text>
<text x="${pad.l - 6}" y="${sy(y0)}" font-size="11" text-anchor="end">${fmt(y0)}</text>
<text x="${sx(x0)}" y="${H - pad.b + 14}" font-size="11" text-anchor="middle">${fmt(x0)}</text>
<text x="${sx(x1)}" y="${H - pad.b + 14}" font-size="11" text-anchor="middle">${fmt(x1)}</text>
<text x="${(pad.l + W - pad.r) / 2}" y="${H - 6}" font-size="11" text-anchor="middle">${esc(opts.xLabel ?? "epoch")}</text>
${legend}${lines}</svg></figure>`;
}

export function barChart(title: string, bars: { label: string; value: number; color?: string }[], max = 1): string {
  const W = 420;
  const row = 22;
  const H = 20 + bars.length * row;
  const left = 150;
  if (bars.length === 0) return `<figure class="chart"><figcaption>${esc(title)}</figcaption><p class="empty">no data</p></figure>`;
  const body = bars
    .map((b, i) => {
      const w = Math.max(0, Math.min(1, b.value / max)) * (W - left - 50);
      const y = 10 + i * row;
      return `<text x="${left - 6}" y="${y + 14}" font-size="12" text-anchor="end">${esc(b.label)}</text><rect x="${left}" y="${y + 3}" width="${w.toFixed(1)}" height="14" fill="${b.color ?? "#4a7bd0"}"/><text x="${left + w + 4}" y="${y + 14}" font-size="11">${b.value.toFixed(3)}</text>`;
    })
    .join("");
  return `<figure class="chart"><figcaption>${esc(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">${body}</svg></figure>`;
}

export { esc as escapeHtml };
