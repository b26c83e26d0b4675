/**
 * Data pipeline benchmark: load a dataset, prepare it (KAR protocol), save it, simulate its knowledge and encode it
 * into a bank with the hash encoder. Prints step timings, then as its LAST line one JSON object (for CI trend lines).
 *
 *   npm run bench:data -- --data ../shared/data/ml-100k [--source ml-100k] [--seed 42] [--chunks 6] [--dim 128]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadRawDataset, SOURCES, type SourceName } from "../trainer/data/load.ts";
import { prepareDataset } from "../trainer/data/prepare.ts";
import { saveDataset } from "../trainer/data/store.ts";
import { buildBank } from "../trainer/knowledge/bank.ts";
import { createHashEncoder } from "../trainer/knowledge/encoders/hash.ts";
import { simulateKnowledge } from "../trainer/knowledge/simulator.ts";

const { values } = parseArgs({
  options: {
    data: { type: "string" },
    source: { type: "string", default: "ml-100k" },
    config: { type: "string" },
    seed: { type: "string", default: "42" },
    chunks: { type: "string", default: "6" },
    dim: { type: "string", default: "128" },
  },
});
const source = values.source as SourceName;
if (!SOURCES.includes(source)) throw new Error(`--source must be one of ${SOURCES.join(", ")}`);
if (source !== "synthetic" && !values.data) throw new Error("--data PATH is required (e.g. --data ../shared/data/ml-100k)");
const seed = Number(values.seed);
const chunks = Number(values.chunks);

const started = performance.now();
let last = started;
const step = (name: string) => {
  const now = performance.now();
  console.log(`${name.padEnd(10)} ${((now - last) / 1000).toFixed(2)} s`);
  last = now;
};

const raw = await loadRawDataset({ source, data: values.data, config: values.config, seed });
step("load");
const prepared = prepareDataset(raw, { seed });
step("prepare");
const out = mkdtempSync(join(tmpdir(), "kser-bench-data-"));
try {
  await saveDataset(join(out, "prepared"), prepared);
} finally {
  rmSync(out, { recursive: true, force: true });
}
step("save");
const texts = simulateKnowledge(raw, prepared, { seed, chunksPerField: chunks });
step("simulate");
const bank = await buildBank(texts, createHashEncoder({ dim: Number(values.dim) }), { chunks });
step("encode");

const splits = [prepared.train, prepared.valid, prepared.test];
const samples = splits.reduce((s, x) => s + x.count, 0);
const positives = splits.reduce((s, x) => s + x.labels.reduce((a, b) => a + b, 0), 0);
const present = (mask: Float32Array) => mask.reduce((a, b) => a + b, 0);
console.log(
  JSON.stringify({
    dataset: raw.name,
    users: prepared.userIds.length,
    items: raw.items.length,
    interactions: raw.interactions.length,
    trainSamples: prepared.train.count,
    validSamples: prepared.valid.count,
    testSamples: prepared.test.count,
    positiveRate: Number((positives / Math.max(1, samples)).toFixed(4)),
    knowledgeChunks: present(bank.user.mask) + present(bank.item.mask),
    knowledgeDim: bank.user.dim,
    seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
    // maxRSS is in KiB on Linux.
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
);
