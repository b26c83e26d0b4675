/**
 * `kser export` and `kser eval` as real processes on `kser train` runs. Export: the bundle it writes is a valid KV bundle whose manifest
 * names the printed model id and the run's strategy, the .onnx files are the bundle's graph blobs, and parity is
 * reported; a dataset or bank the model was not trained on, a missing bank, an unsafe --out, or a parity bound the
 * graphs cannot meet are refused with one line and nothing written. Eval: the run's own test and validation
 * metrics come back to the last digit, a model on another vocabulary is scored on the same split, gates per kind.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kvKeys } from "../../shared/kv-keys.ts";
import { parseManifest } from "../../shared/manifest.ts";
import { initBackend } from "../../trainer/accel/index.ts";
import { prepareDataset } from "../../trainer/data/prepare.ts";
import { saveDataset } from "../../trainer/data/store.ts";
import { generateSyntheticDataset } from "../../trainer/data/synthetic.ts";
import { buildBank, saveBank } from "../../trainer/knowledge/bank.ts";
import { createHashEncoder } from "../../trainer/knowledge/encoders/hash.ts";
import { simulateKnowledge } from "../../trainer/knowledge/simulator.ts";
import { readBundle, sha256Hex } from "../../trainer/publish/kv-bundle.ts";
import { writeRunOutputs } from "../../trainer/train/run-outputs.ts";
import { trainModel } from "../../trainer/train/train.ts";

const projectRoot = path.resolve(import.meta.dirname, "../..");
let dir: string;

async function kser(args: string[], command = "export"): Promise<{ code: number; out: string; stdout: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["bin/kser.js", command, ...args], { cwd: projectRoot });
    return { code: 0, out: stdout + stderr, stdout };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr, stdout: e.stdout };
  }
}

/** A prepared synthetic dataset and simulated bank on disk (seeded), and a one-epoch run trained on them. */
async function trainedRun(seed: number, name: string, strategy?: string) {
  const raw = generateSyntheticDataset({ seed, users: 120, items: 90 });
  const data = prepareDataset(raw, { seed });
  const bank = await buildBank(simulateKnowledge(raw, data, { seed, chunksPerField: 3 }), createHashEncoder({ dim: 16 }), { chunks: 3 });
  const dataDir = path.join(dir, `${name}-data`);
  const bankDir = path.join(dir, `${name}-bank`);
  await saveDataset(dataDir, data);
  saveBank(bankDir, bank);
  const runDir = path.join(dir, `${name}-run`);
  const result = await trainModel({ data, bank, backbone: "deepfm", extractor: "kser", epochs: 1, batchSize: 256, embeddingDim: 8, seed });
  // The strategy is what `kser train` records next to the model; this run says extractor-only to show it is carried.
  await writeRunOutputs(runDir, result, data, bank, { strategy: strategy ?? "all-params" });
  return { dataDir, bankDir, runDir };
}

let main: Awaited<ReturnType<typeof trainedRun>>;
let other: Awaited<ReturnType<typeof trainedRun>>;
/** main's knowledge with 2 chunks per entity instead of the 3 the model was trained on. */
let twoChunkBank: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "kser-export-"));
  await initBackend("wasm");
  main = await trainedRun(5, "main", "extractor-only");
  other = await trainedRun(6, "other");
  const raw = generateSyntheticDataset({ seed: 5, users: 120, items: 90 });
  const texts = simulateKnowledge(raw, prepareDataset(raw, { seed: 5 }), { seed: 5, chunksPerField: 2 });
  twoChunkBank = path.join(dir, "two-chunk-bank");
  saveBank(twoChunkBank, await buildBank(texts, createHashEncoder({ dim: 16 }), { chunks: 2 }));
}, 120_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("kser export", () => {
  it("writes a publishable bundle and the three .onnx graphs of a trained run", async () => {
    const out = path.join(dir, "bundle");
    const onnx = path.join(dir, "onnx");
    const r = await kser(["--model", main.runDir, "--data", main.dataDir, "--bank", main.bankDir, "--out", out, "--onnx", onnx]);
    expect(r.code, r.out).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    expect(summary.modelId).toMatch(/^deepfm-kser-[0-9a-f]{12}$/);
    expect(summary.parity).toBeLessThan(1e-5);
    expect(summary.strategy).toBe("extractor-only");
    expect(r.stdout).toContain(`kser rollout ramp <variant> <percent> --model ${summary.modelId}`);

    const bundle = await readBundle(out);
    expect(bundle.entries.length).toBe(summary.entries);
    const manifestEntry = bundle.entries.find((e) => e.key === kvKeys.model(summary.modelId));
    expect(manifestEntry?.stage).toBe("manifest");
    const manifest = parseManifest(JSON.parse(manifestEntry!.value as string));
    expect(manifest.strategy).toBe("extractor-only");
    expect(manifest.itemVectors?.count).toBeGreaterThan(0);
    // The shards keep the bank's values as they are (an encoded, uncompressed bank is f16).
    expect(manifest.knowledge?.user.codec).toBe("f16");
    // No rollout pointer: which users get the model is kser rollout's decision.
    expect(bundle.entries.some((e) => e.stage === "pointer")).toBe(false);

    expect((await readdir(onnx)).sort()).toEqual(["backbone.onnx", "item-extractor.onnx", "user-extractor.onnx"]);
    const blobs = new Set(bundle.entries.filter((e) => e.stage === "blob").map((e) => e.key));
    const graphs = { "backbone.onnx": manifest.graphs.backbone, "user-extractor.onnx": manifest.graphs.userExtractor };
    for (const [file, ref] of Object.entries(graphs)) {
      const hash = sha256Hex(new Uint8Array(await readFile(path.join(onnx, file))));
      expect(ref?.blob, file).toBe(hash);
      expect(blobs.has(kvKeys.blob(hash)), file).toBe(true);
    }

    // Exporting again replaces the previous bundle with the same content (the id is a content hash).
    const again = await kser(["--model", path.join(main.runDir, "model"), "--data", main.dataDir, "--bank", main.bankDir, "--out", out]);
    expect(again.code, again.out).toBe(0);
    expect(JSON.parse(again.stdout.trim().split("\n").at(-1)!).modelId).toBe(summary.modelId);
  });

  it("refuses inputs the model was not trained on, a missing bank and an unsafe --out, writing nothing", async () => {
    const out = path.join(dir, "refused");
    const cases: Array<[string[], RegExp]> = [
      [
        ["--data", other.dataDir, "--bank", main.bankDir],
        /is not the dataset .* was trained on \(vocabulary \w+: (\d+ entries in the model, \d+ in the dataset|entry \d+ is ".*" in the model, ".*" in the dataset)\)/,
      ],
      [["--data", main.dataDir], /deepfm \+ kser reads knowledge: give --bank DIR/],
      [["--data", main.dataDir, "--bank", path.join(dir, "nowhere")], /nowhere/],
      [
        ["--data", main.dataDir, "--bank", twoChunkBank],
        /two-chunk-bank: user knowledge is 2 chunks x 16 dims, the model was trained on 3 x 16/,
      ],
      [
        ["--data", main.dataDir, "--bank", main.bankDir, "--max-parity", "1e-30"],
        /ONNX and tfjs scores differ by up to .* \(--max-parity 1e-30, .*\): nothing written/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await kser(["--model", main.runDir, "--out", out, ...args]);
      expect(r.code, r.out).toBeGreaterThan(0);
      expect(r.out.trim().split("\n").at(-1), args.join(" ")).toMatch(message);
      expect(r.out).not.toMatch(/\n\s+at /);
      expect(existsSync(out)).toBe(false);
    }
    const missingModel = await kser(["--model", path.join(dir, "no-run"), "--data", main.dataDir, "--out", out]);
    expect(missingModel.code).toBe(2);
    expect(missingModel.out).toMatch(/no-run: no model\.json here or in .*no-run\/model/);
    // A damaged model folder is named by file.
    const broken = path.join(dir, "broken-model");
    await mkdir(broken);
    await writeFile(path.join(broken, "model.json"), '{"format": "kser-trained-model/1", "params": [');
    const notJson = await kser(["--model", broken, "--data", main.dataDir, "--out", out]);
    expect(notJson.out.trim()).toMatch(/^kser: .*broken-model\/model\.json: not valid JSON/);
    const index = { format: "kser-trained-model/1", params: [{ name: "core/w", shape: [4], offset: 0, length: 4 }] };
    await writeFile(path.join(broken, "model.json"), JSON.stringify(index));
    await writeFile(path.join(broken, "weights.bin"), new Uint8Array(8));
    const short = await kser(["--model", broken, "--data", main.dataDir, "--out", out]);
    expect(short.out.trim()).toMatch(/weights\.bin is shorter than model\.json says \(core\/w ends at value 4, the file has 2\)$/);
    expect(existsSync(out)).toBe(false);

    // A folder with other files is never replaced.
    const busy = path.join(dir, "busy");
    await mkdir(busy);
    await writeFile(path.join(busy, "notes.txt"), "keep me");
    const r = await kser(["--model", main.runDir, "--data", main.dataDir, "--bank", main.bankDir, "--out", busy]);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/--out .*busy is a folder with other files in it/);
    expect(await readFile(path.join(busy, "notes.txt"), "utf8")).toBe("keep me");
  });
});

describe("kser export with another bank", () => {
  it("is refused naming both bank ids; with --allow-other-bank it is another model id", async () => {
    const out = path.join(dir, "other-bank-bundle");
    const args = ["--model", main.runDir, "--data", main.dataDir, "--out", out];
    const own = await kser([...args, "--bank", main.bankDir]);
    expect(own.code, own.out).toBe(0);
    const ownId = JSON.parse(own.stdout.trim().split("\n").at(-1)!).modelId;
    await rm(out, { recursive: true });
    const refused = await kser([...args, "--bank", other.bankDir]);
    expect(refused.code).toBe(2);
    expect(refused.out.trim()).toMatch(
      /^kser: .*other-bank is bank [0-9a-f]{12}, .*main-run\/model was trained with bank [0-9a-f]{12}; give --allow-other-bank to use it anyway$/,
    );
    expect(existsSync(out)).toBe(false);
    const allowed = await kser([...args, "--bank", other.bankDir, "--allow-other-bank"]);
    expect(allowed.code, allowed.out).toBe(0);
    const otherId = JSON.parse(allowed.stdout.trim().split("\n").at(-1)!).modelId;
    expect(otherId).toMatch(/^deepfm-kser-[0-9a-f]{12}$/);
    expect(otherId).not.toBe(ownId);
  });
});

describe("kser eval", () => {
  it("gives a run's own test and validation metrics back, and scores a model of another vocabulary on the same split", async () => {
    const recorded = JSON.parse(await readFile(path.join(main.runDir, "metrics.json"), "utf8"));
    const out = path.join(dir, "eval.json");
    const args = ["--model", main.runDir, "--model", other.runDir, "--data", main.dataDir, "--bank", main.bankDir, "--out", out];
    // The other run was trained with its own bank: refused, naming both ids, unless told to.
    const refused = await kser(args, "eval");
    expect(refused.code).toBe(2);
    const [mainBank, otherBank] = await Promise.all(
      [main, other].map(async (run) => JSON.parse(await readFile(path.join(run.bankDir, "manifest.json"), "utf8")).bankId),
    );
    expect(refused.out.trim()).toBe(
      `kser: ${main.bankDir} is bank ${mainBank}, ${path.join(other.runDir, "model")} was trained with bank ${otherBank}; give --allow-other-bank to use it anyway`,
    );
    const r = await kser([...args, "--allow-other-bank"], "eval");
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(
      `note: ${main.bankDir} is bank ${mainBank}, ${path.join(other.runDir, "model")} was trained with bank ${otherBank} (--allow-other-bank)`,
    );
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    expect(JSON.parse(await readFile(out, "utf8"))).toEqual(summary);
    expect(summary.split).toBe("test");
    const [own, foreign] = summary.results;
    expect(own).toMatchObject({ backbone: "deepfm", extractor: "kser" });
    expect(own.auc).toBe(recorded.test.auc);
    expect(own.logloss).toBe(recorded.test.logloss);
    expect(own.gauc).toBe(recorded.test.gauc);
    // Gates per simulated chunk kind, each a mean of present chunks.
    for (const side of ["user", "item"]) {
      const kinds = Object.keys(own.gatesByKind[side]);
      expect(kinds.length, side).toBeGreaterThan(0);
      for (const kind of kinds) expect(own.gatesByKind[side][kind].mean).toBeGreaterThanOrEqual(0);
    }
    // The other run was trained on another user split (another vocabulary): re-encoded, same samples.
    expect(foreign.samples).toBe(own.samples);
    expect(foreign.auc).toBeGreaterThan(0);
    expect(foreign.auc).toBeLessThan(1);
    expect(foreign.auc).not.toBe(own.auc);

    const valid = await kser(["--model", main.runDir, "--data", main.dataDir, "--bank", main.bankDir, "--split", "valid"], "eval");
    expect(valid.code, valid.out).toBe(0);
    const v = JSON.parse(valid.stdout.trim().split("\n").at(-1)!).results[0];
    expect(v.auc).toBe(recorded.valid.auc);
    expect(v.logloss).toBe(recorded.valid.logloss);

    const noBank = await kser(["--model", main.runDir, "--data", main.dataDir], "eval");
    expect(noBank.code).toBe(2);
    expect(noBank.out.trim()).toMatch(/^kser: deepfm \+ kser reads knowledge: give --bank DIR$/);
  });
});
