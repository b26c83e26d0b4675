/**
 * The bring-your-own-data path of docs/data.md as a new user runs it, every step a real `kser` process: generated
 * files shaped like MovieLens "latest" (ratings.csv in half stars, movies.csv with pipe-separated genres, tags.csv)
 * -> data init-config -> data prepare -> tags as item knowledge through knowledge import --texts (no user knowledge
 * at all) -> encode -> compress -> train -> export -> publish -> rollout set -> the worker under `wrangler dev`
 * answering POST /v1/score (a half-star history included) with 200 and the scores the trainer computes.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";
import type { ScoreResponse } from "../../shared/score-api.ts";
import { initBackend } from "../../trainer/accel/index.ts";
import { loadDataset } from "../../trainer/data/store.ts";
import { maxAbsDiff } from "../../trainer/export/onnx-runner.ts";
import { requestBatch } from "../../trainer/export/request-batch.ts";
import { loadBank } from "../../trainer/knowledge/bank.ts";
import { type RunningWorker, startWranglerDev } from "../../trainer/serve/wrangler-dev.ts";
import { loadModelFolder } from "../../trainer/train/checkpoint.ts";
import { predictTf } from "../../trainer/train/model.ts";
import { makeTempDir } from "./data-helpers.ts";
import { MOVIELENS_LATEST_CONFIG, writeMovieLensLatest } from "./fixtures/movielens-latest.ts";

const root = resolve(import.meta.dirname, "../..");
const temp = makeTempDir("byod");
let worker: RunningWorker | undefined;
afterAll(async () => {
  await worker?.stop();
  temp.cleanup();
});

async function kser(...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["bin/kser.js", ...args], { cwd: root });
    return stdout + stderr;
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    throw new Error(`kser ${args.join(" ")} exited ${e.code}:\n${e.stdout}${e.stderr}`);
  }
}

it("MovieLens-latest-shaped files with tags as item knowledge: from data prepare to a scored 200 from the worker", async () => {
  const dir = temp.dir;
  const at = (name: string) => join(dir, name);
  const files = writeMovieLensLatest(dir, { seed: 5, users: 70, movies: 90, ratingsPerUser: 26 });

  await kser("data", "init-config", "--data", files.ratings, "--items", files.movies, "--out", at("config.json"));
  expect(JSON.parse(await readFile(at("config.json"), "utf8"))).toEqual({ ...MOVIELENS_LATEST_CONFIG, name: "ratings" });
  const prepared = await kser(
    "data",
    "prepare",
    "--source",
    "generic",
    "--config",
    at("config.json"),
    "--knowledge-prefix",
    "5",
    "--out",
    at("data"),
  );
  expect(prepared).toMatch(/prepared ratings: 70 users, 90 items, 1820 interactions/);

  const imported = await kser(
    ..."knowledge import --field item --id-column movieId --text-column tag --chunks 4".split(" "),
    ...["--texts", files.tags, "--out", at("texts.jsonl")],
  );
  expect(imported).toMatch(new RegExp(`item: \\d+ records -> ${files.taggedMovies} entities`));
  await kser("knowledge", "encode", "--texts", at("texts.jsonl"), "--chunks", "4", "--dim", "64", "--out", at("bank64"));
  const compressed = await kser("knowledge", "compress", "--bank", at("bank64"), "--dim", "16", "--out", at("bank"));
  expect(compressed).toContain("user: no knowledge in this field");

  const trained = await kser(
    ..."train --backbone deepfm --extractor kser --epochs 2 --batch-size 256 --embedding-dim 8".split(" "),
    ...["--data", at("data"), "--bank", at("bank"), "--out", at("run")],
  );
  expect(trained).toMatch(/total time \d+\.\d s/);
  const exported = await kser("export", "--model", at("run"), "--data", at("data"), "--bank", at("bank"), "--out", at("bundle"));
  const { modelId, parity } = JSON.parse(exported.trim().split("\n").at(-1)!);
  expect(parity).toBeLessThan(1e-5);
  await kser("publish", "--bundle", at("bundle"), "--persist-to", at("kv"));
  await kser("rollout", "set", "--variant", `control:${modelId}`, "--persist-to", at("kv"));

  worker = await startWranglerDev({ projectRoot: root, persistTo: at("kv") });
  const data = await loadDataset(at("data"));
  const profile = data.profiles.find((p) => p.history.some((h) => h.rating === 3.5))!;
  const candidates = data.vocabulary.fields.item_id.slice(1, 21);
  const history = [...profile.history.slice(-4), { itemId: candidates[0], rating: 3.5 }];
  const res = await fetch(`${worker.url}/v1/score`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ userId: profile.userId, history, candidates }),
  });
  const body = (await res.json()) as ScoreResponse;
  expect(res.status, JSON.stringify(body)).toBe(200);
  expect(body.modelId).toBe(modelId);
  expect(body.knowledge.user).toBe("missing"); // no user knowledge in this bank
  expect(body.knowledge.itemsPrecomputed).toBeGreaterThan(0);

  // The trainer's scores for the same request (item vectors are served as f16: within 1e-3).
  await initBackend("wasm");
  const { model } = await loadModelFolder(at("run"));
  const bank = loadBank(at("bank"));
  const expected = await predictTf(
    model,
    requestBatch(model, bank, { userId: profile.userId, attributes: profile.attributes, history, candidates }),
  );
  expect(maxAbsDiff(Float32Array.from(body.scores), expected)).toBeLessThan(1e-3);
}, 600_000);
