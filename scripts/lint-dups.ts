/**
 * `npm run lint:dups` (part of `npm run lint`): copied code outside test/. jscpd reads .jscpd.json (TypeScript and
 * JavaScript, a clone is 6+ lines and 35+ tokens alike, test/ and generated output left out); the clones are listed
 * and the check fails when it finds more than MAX_CLONES clones, or when jscpd itself fails.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const MAX_CLONES = 10;

interface Clone {
  lines: number;
  firstFile: { name: string; start: number; end: number };
  secondFile: { name: string; start: number; end: number };
}

const root = path.resolve(import.meta.dirname, "..");
const jscpd = path.join(root, "node_modules", "jscpd", "run-jscpd.js");
const out = mkdtempSync(path.join(tmpdir(), "kser-jscpd-"));
try {
  const run = spawnSync(process.execPath, [jscpd, "--config", ".jscpd.json", "--reporters", "json", "--output", out, "."], {
    cwd: root,
    encoding: "utf8",
  });
  if (run.status !== 0) {
    process.stderr.write(`${run.stdout ?? ""}${run.stderr ?? ""}`);
    console.error(`lint:dups: jscpd failed (${run.error?.message ?? `exit ${run.status ?? run.signal}`})`);
    process.exit(1);
  }
  const clones = (JSON.parse(readFileSync(path.join(out, "jscpd-report.json"), "utf8")) as { duplicates: Clone[] }).duplicates;
  const where = (f: Clone["firstFile"]) => `${f.name}:${f.start}-${f.end}`;
  for (const c of clones) console.log(`  ${where(c.firstFile)} ~ ${where(c.secondFile)} (${c.lines} lines)`);
  if (clones.length > MAX_CLONES) {
    console.error(
      `lint:dups: ${clones.length} clones outside test/, more than the ${MAX_CLONES} allowed: share the code instead of copying it`,
    );
    process.exit(1);
  }
  console.log(`lint:dups: ${clones.length} clones outside test/ (at most ${MAX_CLONES})`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
