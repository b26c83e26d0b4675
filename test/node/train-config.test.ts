/**
 * `kser train --config FILE` as a real process: an experiment config on tiny generated data trains the model it
 * describes (its sizes, extractor and knowledge shapes end up in model.json) to the same test metrics as the
 * pipeline run in this process on the same config; a bad config is refused with one line naming the file and the
 * field, exit 2, nothing trained.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../trainer/accel/index.ts";
import { parseExperimentConfig } from "../../trainer/pipeline/config.ts";
import { experimentKnowledge, loadExperimentData, trainExperiment } from "../../trainer/pipeline/pipeline.ts";
import { hasStackTrace, kserCli } from "./cli-run.ts";

let dir: string;

const config = {
  data: { source: "synthetic", seed: 3, users: 60, items: 50 },
  knowledge: { kind: "simulator", chunks: 3, encoderDim: 16, dim: 8 },
  model: { backbone: "deepfm", extractor: "kser", embeddingDim: 8 },
  training: { epochs: 1, batchSize: 256, seed: 5 },
};

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "kser-train-config-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeConfig(name: string, value: unknown): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, typeof value === "string" ? value : JSON.stringify(value));
  return file;
}

describe("kser train --config", () => {
  it("trains the experiment the file describes, as the pipeline does in-process", async () => {
    const file = await writeConfig("experiment.json", config);
    const out = path.join(dir, "run");
    const run = await kserCli(["train", "--config", file, "--out", out, "--backend", "wasm"], {}, 300_000);
    expect(run.stderr).not.toMatch(/unexpected error/);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/training deepfm \+ kser \(all-params\) on synthetic/);

    const saved = JSON.parse(await readFile(path.join(out, "model", "model.json"), "utf8"));
    expect(saved.config).toMatchObject({
      backbone: "deepfm",
      extractor: "kser",
      embeddingDim: 8,
      seed: 5,
      knowledge: { user: { chunks: 3, dim: 8 }, item: { chunks: 3, dim: 8 } },
    });
    const metrics = JSON.parse(await readFile(path.join(out, "metrics.json"), "utf8"));

    await initBackend("wasm");
    const parsed = parseExperimentConfig(config);
    const inputs = await loadExperimentData(parsed.data);
    const { bank } = await experimentKnowledge(parsed.knowledge, inputs);
    const here = await trainExperiment(parsed, inputs.data, bank);
    expect(here.history).toHaveLength(1);
    expect(metrics.test.auc).toBe(here.metrics.test.auc);
    expect(metrics.test.logloss).toBe(here.metrics.test.logloss);
  }, 600_000);

  it("refuses a bad config with one line naming the file and the fields, exit 2", async () => {
    const file = await writeConfig("bad.json", {
      data: { source: "synthetic" },
      knowledge: { kind: "simulator", chunks: 0 },
      model: { backbone: "deepfm", extractor: "kser" },
      training: { batchSize: "large", learnigRate: 0.01 },
    });
    const out = path.join(dir, "bad-run");
    const run = await kserCli(["train", "--config", file, "--out", out]);
    expect(run.code).toBe(2);
    expect(hasStackTrace(run.stderr)).toBe(false);
    const message = run.stderr.trim();
    expect(message.split("\n")).toHaveLength(1);
    expect(message).toContain(`${file}: invalid experiment config`);
    expect(message).toMatch(/knowledge\.chunks: /);
    expect(message).toMatch(/training\.batchSize: .*expected number/);
    expect(message).toMatch(/training: .*learnigRate/);
    expect(existsSync(out)).toBe(false);
  });

  it("names a cross-field problem by its field, a file that is not JSON, and flags the file replaces", async () => {
    const noBank = await writeConfig("no-bank.json", { data: { source: "synthetic" }, model: { extractor: "kser" } });
    const r1 = await kserCli(["train", "--config", noBank, "--out", path.join(dir, "r1")]);
    expect(r1.code).toBe(2);
    expect(r1.stderr.trim()).toBe(
      `kser: ${noBank}: invalid experiment config: knowledge: extractor kser reads knowledge: give a bank or the simulator`,
    );

    const notJson = await writeConfig("not-json.json", "{ data: synthetic");
    const r2 = await kserCli(["train", "--config", notJson, "--out", path.join(dir, "r2")]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(new RegExp(`^kser: ${notJson.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: not JSON`));

    const file = await writeConfig("ok.json", config);
    const r3 = await kserCli(["train", "--config", file, "--epochs", "2", "--out", path.join(dir, "r3")]);
    expect(r3.code).toBe(2);
    expect(r3.stderr.trim()).toBe(`kser: --config ${file} holds the whole experiment: set training.epochs in the file, not --epochs`);
    for (const r of [r1, r2, r3]) expect(hasStackTrace(r.stderr)).toBe(false);
  });

  it("words the flags' problems with the flags' names (the same schema as --config)", async () => {
    const noBank = await kserCli(["train", "--synthetic", "--out", path.join(dir, "f1")]);
    expect(noBank.code).toBe(2);
    expect(noBank.stderr.trim()).toBe("kser: --bank: extractor kser reads knowledge: give a bank or the simulator");
    const noFrom = await kserCli([
      "train",
      "--synthetic",
      "--extractor",
      "none",
      "--strategy",
      "extractor-only",
      "--out",
      path.join(dir, "f2"),
    ]);
    expect(noFrom.code).toBe(2);
    expect(noFrom.stderr.trim()).toBe("kser: --from: extractor-only training needs the backbone-only model to start from");
    const badSchedule = await kserCli(["train", "--synthetic", "--extractor", "none", "--schedule", "wavy", "--out", path.join(dir, "f3")]);
    expect(badSchedule.code).toBe(2);
    expect(badSchedule.stderr).toMatch(/^kser: --schedule: bad schedule "wavy"/);
  });
});
