/**
 * Where the browser test's Chromium is: $KSER_CHROMIUM, else a Chromium or Chrome on PATH, else the usual macOS
 * app bundles, else a Chromium that playwright installed in its cache (`npx playwright-core install chromium`).
 * Null when there is none: `npm test` then leaves the browser test to `npm run test:browser`.
 */
import { accessSync, constants, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM_ENV = "KSER_CHROMIUM";
/** Names Debian/Ubuntu, Fedora, Homebrew's cask and Google's packages put on PATH. */
export const PATH_NAMES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];
const MAC_APPS = ["/Applications/Chromium.app/Contents/MacOS/Chromium", "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"];

/** How to get one, for the messages of both test commands. */
export const CHROMIUM_HELP = `Set ${CHROMIUM_ENV} to one, or install one (Debian/Ubuntu: apt-get install chromium; macOS: brew install --cask chromium).`;

export interface ChromiumSearch {
  env?: NodeJS.ProcessEnv;
  /** The executable playwright-core expects for its own Chromium revision; its cache is searched for any revision. */
  playwrightExecutable?: string;
  macApps?: string[];
}

export interface FoundChromium {
  executable: string;
  /** Which rule found it, for the test's log. */
  via: string;
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function onPath(pathVar: string | undefined): FoundChromium | null {
  const dirs = (pathVar ?? "").split(path.delimiter).filter(Boolean);
  for (const name of PATH_NAMES) {
    for (const dir of dirs) {
      const file = path.join(dir, name);
      if (isExecutableFile(file)) return { executable: file, via: `${name} on PATH` };
    }
  }
  return null;
}

/**
 * Playwright keeps each browser in <cache>/chromium-<revision>/<same relative path>; a project that pins another
 * playwright version may have installed another revision, so every one is tried, newest first.
 */
function inPlaywrightCache(expected: string): FoundChromium | null {
  const parts = expected.split(path.sep);
  const at = parts.findLastIndex((p) => /^chromium-\d+$/.test(p));
  if (at < 0) return null;
  const cache = parts.slice(0, at).join(path.sep);
  const inside = parts.slice(at + 1);
  let revisions: string[];
  try {
    revisions = readdirSync(cache).filter((d) => /^chromium-\d+$/.test(d));
  } catch {
    return null;
  }
  revisions.sort((a, b) => Number(b.slice("chromium-".length)) - Number(a.slice("chromium-".length)));
  for (const revision of revisions) {
    const file = path.join(cache, revision, ...inside);
    if (isExecutableFile(file)) return { executable: file, via: `playwright's cache (${revision})` };
  }
  return null;
}

/** Throws when $KSER_CHROMIUM names something that is not an executable file: a setting given by hand is not ignored. */
export function findChromium(search: ChromiumSearch = {}): FoundChromium | null {
  const env = search.env ?? process.env;
  const given = env[CHROMIUM_ENV];
  if (given) {
    if (!isExecutableFile(given)) throw new Error(`${CHROMIUM_ENV}=${given}: not an executable file`);
    return { executable: given, via: `$${CHROMIUM_ENV}` };
  }
  const fromPath = onPath(env.PATH);
  if (fromPath) return fromPath;
  for (const app of search.macApps ?? (process.platform === "darwin" ? MAC_APPS : [])) {
    if (isExecutableFile(app)) return { executable: app, via: "macOS application" };
  }
  return inPlaywrightCache(search.playwrightExecutable ?? playwrightExpects());
}

function playwrightExpects(): string {
  try {
    return chromium.executablePath();
  } catch {
    return ""; // a platform playwright has no build for
  }
}
