/**
 * Where the browser test looks for Chromium (test/browser/find-chromium.ts), on real files in a temp dir: the
 * variable first and strictly, then PATH (executable files only), then macOS apps, then playwright's cache.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findChromium } from "../browser/find-chromium.ts";

let root: string;
const at = (...parts: string[]) => path.join(root, ...parts);
const nowhere = () => at("no-playwright-cache", "chromium-1", "chrome-linux64", "chrome");

async function file(rel: string, mode: number): Promise<string> {
  const full = at(rel);
  await mkdir(path.dirname(full), { recursive: true });
  await writeFile(full, "#!/bin/sh\n");
  await chmod(full, mode);
  return full;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "kser-find-chromium-"));
  await file("bin-a/chromium", 0o644); // not executable: skipped
  await mkdir(at("bin-b", "chromium"), { recursive: true }); // a folder: skipped
  await file("bin-c/google-chrome", 0o755);
  await file("bin-d/chromium-browser", 0o755);
  await file("own/chrome", 0o755);
  await file("Applications/Chromium.app/Contents/MacOS/Chromium", 0o755);
  await file("cache/chromium-1100/chrome-linux64/chrome", 0o755);
  await file("cache/chromium-1200/chrome-linux64/chrome", 0o755);
  await file("cache/chromium-1300/chrome-linux64/chrome", 0o644); // newest, but not executable
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("findChromium", () => {
  it("takes KSER_CHROMIUM over anything on PATH", () => {
    const env = { KSER_CHROMIUM: at("own/chrome"), PATH: at("bin-c") };
    expect(findChromium({ env, playwrightExecutable: nowhere() })).toEqual({
      executable: at("own/chrome"),
      via: "$KSER_CHROMIUM",
    });
  });

  it("fails naming KSER_CHROMIUM when it is set to something that is not an executable file", () => {
    for (const bad of [at("own/missing"), at("bin-a/chromium"), at("bin-b/chromium")]) {
      expect(() => findChromium({ env: { KSER_CHROMIUM: bad }, playwrightExecutable: nowhere() })).toThrow(
        `KSER_CHROMIUM=${bad}: not an executable file`,
      );
    }
  });

  it("finds chromium-browser or google-chrome on PATH, skipping files without the execute bit and folders", () => {
    const search = (dirs: string[]) =>
      findChromium({ env: { PATH: dirs.map((d) => at(d)).join(path.delimiter) }, playwrightExecutable: nowhere(), macApps: [] });
    expect(search(["bin-a", "bin-b", "bin-c"])).toEqual({ executable: at("bin-c/google-chrome"), via: "google-chrome on PATH" });
    // chromium's names come before Chrome's, wherever on PATH they are.
    expect(search(["bin-c", "bin-d"])).toEqual({ executable: at("bin-d/chromium-browser"), via: "chromium-browser on PATH" });
  });

  it("finds a macOS application", () => {
    const app = at("Applications/Chromium.app/Contents/MacOS/Chromium");
    expect(findChromium({ env: { PATH: at("bin-a") }, macApps: [at("nope"), app], playwrightExecutable: nowhere() })).toEqual({
      executable: app,
      via: "macOS application",
    });
  });

  it("finds the newest executable revision in playwright's cache, not only the one playwright-core pins", () => {
    const pinned = at("cache/chromium-1255/chrome-linux64/chrome");
    expect(findChromium({ env: { PATH: "" }, macApps: [], playwrightExecutable: pinned })).toEqual({
      executable: at("cache/chromium-1200/chrome-linux64/chrome"),
      via: "playwright's cache (chromium-1200)",
    });
  });

  it("returns null when there is none", () => {
    expect(
      findChromium({ env: { PATH: [at("bin-a"), at("bin-b")].join(path.delimiter) }, macApps: [], playwrightExecutable: nowhere() }),
    ).toBeNull();
  });

  it("understands where playwright-core keeps its own Chromium (<cache>/chromium-<revision>/...)", () => {
    expect(chromium.executablePath().split(path.sep)).toContainEqual(expect.stringMatching(/^chromium-\d+$/));
  });
});
