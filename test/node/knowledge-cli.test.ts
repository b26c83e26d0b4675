import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadBank } from "../../trainer/knowledge/bank.ts";
import { loadTexts } from "../../trainer/knowledge/texts-io.ts";
import { json, startServer, type TestServer } from "./knowledge-http-server.ts";

const run = promisify(execFile);
const kser = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ["bin/kser.js", "knowledge", ...args], {
    cwd: join(import.meta.dirname, "../.."),
    env: { ...process.env, ...env },
  });

let dir: string;
let server: TestServer;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kser-kcli-"));
  server = await startServer();
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("kser knowledge", () => {
  it("simulate -> encode -> compress on the synthetic source", async () => {
    const texts = join(dir, "texts.jsonl");
    const sim = await kser(["simulate", "--source", "synthetic", "--users", "60", "--items", "50", "--chunks", "5", "--out", texts]);
    expect(sim.stdout).toMatch(/simulated knowledge for 60 users and 50 items: informative \d+/);
    expect(loadTexts(texts).user.size).toBe(60);
    const bankDir = join(dir, "bank");
    const enc = await kser(["encode", "--texts", texts, "--chunks", "5", "--dim", "64", "--out", bankDir]);
    expect(enc.stdout).toMatch(/hash-v1-d64/);
    const bank = loadBank(bankDir);
    expect(bank.user).toMatchObject({ chunks: 5, dim: 64 });
    expect(bank.user.kinds).toBeDefined();
    const small = join(dir, "bank16");
    const comp = await kser(["compress", "--bank", bankDir, "--dim", "16", "--out", small]);
    expect(comp.stdout).toMatch(/user: 64 -> 16 i8; variance kept [\d.]+%; relative MSE [\d.]+ \(PCA\)/);
    const compressed = loadBank(small);
    expect(compressed).toMatchObject({ codec: "i8", encoder: "hash-v1-d64+pca16-i8" });
    expect(compressed.item.dim).toBe(16);
  });

  it("generate talks to an OpenAI-compatible server and resumes from its cache", async () => {
    server.handler = (_req, res) => json(res, 200, { choices: [{ message: { content: "Genre: comedy.\nMood: light." } }] });
    const out = join(dir, "gen.jsonl");
    const cache = join(dir, "cache.jsonl");
    const args = [
      "generate",
      "--source",
      "synthetic",
      "--users",
      "30",
      "--items",
      "25",
      "--limit",
      "3",
      "--base-url",
      `${server.url}/v1`,
      "--model",
      "local",
    ];
    const first = await kser([...args, "--cache", cache, "--out", out]);
    expect(first.stdout).toMatch(/6 prompts: 0 from cache, 6 generated, 0 failed/);
    expect(server.requests).toHaveLength(6);
    const second = await kser([...args, "--cache", cache, "--out", out]);
    expect(second.stdout).toMatch(/6 prompts: 6 from cache, 0 generated/);
    expect(server.requests).toHaveLength(6);
    expect(loadTexts(out).item.size).toBe(3);
  });

  it("reports bad input in one line with exit code 2", async () => {
    const error = await kser(["encode", "--texts", join(dir, "missing.jsonl"), "--out", join(dir, "x")]).catch((e) => e);
    expect(error.code).toBe(2);
    expect(error.stderr.trim()).toMatch(/^kser: knowledge texts file not found: /);
  });
});
