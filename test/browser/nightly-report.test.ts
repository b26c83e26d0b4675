/**
 * The HTML report opened in headless Chromium (found by find-chromium.ts, driven by playwright-core): no console
 * errors, no failed requests (it must be self-contained), and every chart has plotted points.
 */
import { rm } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseNightlyConfig } from "../../trainer/nightly/config.ts";
import { EXIT, runNightly } from "../../trainer/nightly/run.ts";
import { smallConfig, tempRoot } from "../node/nightly-fixtures.ts";
import { CHROMIUM_HELP, findChromium } from "./find-chromium.ts";

let root: string;
beforeAll(async () => {
  root = await tempRoot("report");
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("nightly HTML report", () => {
  it("renders in headless Chromium without console errors and with non-empty charts", async () => {
    const found = findChromium();
    if (!found) throw new Error(`No Chromium found. ${CHROMIUM_HELP}`);
    console.log(`Chromium: ${found.executable} (${found.via})`);
    const result = await runNightly({ config: parseNightlyConfig(smallConfig(root), "nightly.json"), print: () => {} });
    expect(result.exitCode, result.message).toBe(EXIT.OK);
    const file = path.join(result.runDir!, "report.html");

    const browser = await chromium.launch({
      executablePath: found.executable,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
      const external: string[] = [];
      page.on("request", (r) => {
        if (!r.url().startsWith("file:")) external.push(r.url());
      });
      await page.goto(pathToFileURL(file).href, { waitUntil: "load" });
      expect(problems).toEqual([]);
      expect(external).toEqual([]);

      const charts = await page.$$eval("figure.chart", (figs) =>
        figs.map((f) => ({
          title: f.querySelector("figcaption")?.textContent ?? "",
          points: [...f.querySelectorAll("polyline")].reduce(
            (n, p) => n + (p.getAttribute("points") ?? "").trim().split(/\s+/).filter(Boolean).length,
            0,
          ),
          bars: [...f.querySelectorAll("rect")].filter((r) => Number(r.getAttribute("width")) > 0).length,
          box: (() => {
            const svg = f.querySelector("svg");
            const b = svg?.getBoundingClientRect();
            return b ? b.width * b.height : 0;
          })(),
        })),
      );
      const byTitle = (t: string) => charts.find((c) => c.title.startsWith(t));
      const loss = byTitle("Training loss");
      const vauc = byTitle("Validation AUC");
      expect(loss?.points).toBeGreaterThan(0);
      expect(vauc?.points).toBeGreaterThan(0);
      // Candidate (2 epochs) and champion (2 epochs) lines: at least 4 points each chart.
      expect(loss!.points).toBeGreaterThanOrEqual(4);
      expect(byTitle("Mean ESFNet gate per chunk kind (user)")?.bars).toBeGreaterThan(0);
      expect(byTitle("Mean ESFNet gate per chunk kind (item)")?.bars).toBeGreaterThan(0);
      for (const c of charts) expect(c.box, c.title).toBeGreaterThan(0);

      const tableText = await page.$eval("table.metrics", (t) => t.textContent ?? "");
      expect(tableText).toMatch(/candidate/);
      expect(tableText).toMatch(/champion/);
      expect(await page.textContent("body")).toMatch(/buckets|\[0, 9000\)/);
      expect(await page.textContent("h1")).toMatch(/ramped/);
    } finally {
      await browser.close();
    }
  }, 180_000);
});
