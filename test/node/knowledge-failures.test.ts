/**
 * How `kser knowledge generate|encode` fail against a local server that misbehaves on purpose: malformed embedding
 * answers are retried (and the bank equals a clean run's), fatal answers stop the run at once with one line and
 * exit 3, retries say what they wait for, a failed run leaves the previous output byte for byte, and encode refuses
 * a texts file without texts.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildBank, loadBank } from "../../trainer/knowledge/bank.ts";
import { createOpenAIEmbeddings } from "../../trainer/knowledge/encoders/openai.ts";
import { createOpenAIChat } from "../../trainer/knowledge/providers/chat.ts";
import { generateKnowledge } from "../../trainer/knowledge/providers/generate.ts";
import { saveTexts } from "../../trainer/knowledge/texts-io.ts";
import type { KnowledgeTexts } from "../../trainer/knowledge/types.ts";
import { hasStackTrace, kserCli } from "./cli-run.ts";
import { syntheticMovies } from "./knowledge-fixtures.ts";
import { json, type SeenRequest, startServer, type TestServer } from "./knowledge-http-server.ts";

const DIM = 4;
const env = { OPENAI_API_KEY: "sk-failures-test-0123456789" };
const fast = { retries: 3, baseDelayMs: 5, maxDelayMs: 50, timeoutMs: 2000 };

/** A deterministic embedding of a text, so two runs that get the same answers build the same bank. */
function embed(text: string): number[] {
  let h = 7;
  for (const ch of text) h = (h * 31 + ch.charCodeAt(0)) % 1009;
  return [text.length, (h % 17) + 1, (h % 5) - 2, 1];
}

const inputs = (req: SeenRequest) => (req.body as { input: string[] }).input;
const goodAnswer = (req: SeenRequest) => ({ data: inputs(req).map((t, index) => ({ index, embedding: embed(t) })) });

/** Bad answers a provider can give with HTTP 200; each is sent for the first request only. */
const MALFORMED: Record<string, (req: SeenRequest, res: ServerResponse) => void> = {
  "wrong dimension": (req, res) => json(res, 200, { data: inputs(req).map((t, index) => ({ index, embedding: embed(t).slice(1) })) }),
  "null vector": (req, res) => json(res, 200, { data: inputs(req).map((t, index) => ({ index, embedding: index ? embed(t) : null })) }),
  "null value": (req, res) => json(res, 200, { data: inputs(req).map((t, index) => ({ index, embedding: [null, ...embed(t).slice(1)] })) }),
  // JSON has no Infinity; 1e999 parses to it.
  infinity: (req, res) => {
    const rows = inputs(req).map((t, index) => `{"index":${index},"embedding":[1e999,${embed(t).slice(1).join(",")}]}`);
    res.writeHead(200, { "content-type": "application/json" }).end(`{"data":[${rows.join(",")}]}`);
  },
  "fewer vectors": (req, res) => json(res, 200, { data: goodAnswer(req).data.slice(1) }),
  "not JSON": (_req, res) => res.writeHead(200, { "content-type": "application/json" }).end("<html>gateway hiccup</html>"),
};

function smallTexts(): KnowledgeTexts {
  const texts: KnowledgeTexts = {
    source: "test",
    factors: { user: ["genre", "mood"], item: ["genre", "mood"] },
    user: new Map(),
    item: new Map(),
  };
  for (let i = 0; i < 5; i++) texts.user.set(`u${i}`, { text: `Genre: likes drama ${i}.\nMood: calm ${i % 2}.` });
  for (let i = 0; i < 4; i++) texts.item.set(`m${i}`, { text: `Genre: western ${i}.\nMood: tense.` });
  return texts;
}

let server: TestServer;
let dir: string;
let textsPath: string;
beforeAll(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), "kser-kfail-"));
  textsPath = join(dir, "texts.jsonl");
  saveTexts(textsPath, smallTexts());
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  server.requests.length = 0;
});

function encodeArgs(out: string, extra: string[] = []): string[] {
  return [
    "knowledge",
    "encode",
    "--texts",
    textsPath,
    "--encoder",
    "openai",
    "--model",
    "emb",
    "--dim",
    String(DIM),
    "--chunks",
    "2",
  ].concat(["--base-url", `${server.url}/v1`, "--out", out], extra);
}

describe("embeddings: malformed answers are retried", () => {
  it.each(Object.keys(MALFORMED))("%s on the first attempt gives the same bank as a clean run", async (kind) => {
    server.handler = (req, res) => json(res, 200, goodAnswer(req));
    const encoder = () => createOpenAIEmbeddings({ baseUrl: `${server.url}/v1`, model: "emb", dim: DIM, env, policy: fast });
    const clean = await buildBank(smallTexts(), encoder(), { chunks: 2 });
    let calls = 0;
    server.handler = (req, res) => (calls++ === 0 ? MALFORMED[kind](req, res) : json(res, 200, goodAnswer(req)));
    const retried = await buildBank(smallTexts(), encoder(), { chunks: 2 });
    expect(calls).toBe(2);
    expect(retried.bankId).toBe(clean.bankId);
    expect(Buffer.from(retried.user.values.buffer).equals(Buffer.from(clean.user.values.buffer))).toBe(true);
    expect(Buffer.from(retried.item.values.buffer).equals(Buffer.from(clean.item.values.buffer))).toBe(true);
  });

  it("the CLI: a wrong-dimension first answer, then good ones, writes the clean run's bank and exits 0", async () => {
    server.handler = (req, res) => json(res, 200, goodAnswer(req));
    const clean = await kserCli(encodeArgs(join(dir, "bank-clean")), env);
    expect(clean.code).toBe(0);
    let calls = 0;
    server.handler = (req, res) => (calls++ === 0 ? MALFORMED["wrong dimension"](req, res) : json(res, 200, goodAnswer(req)));
    const retried = await kserCli(encodeArgs(join(dir, "bank-retried")), env);
    expect(retried.code).toBe(0);
    expect(retried.stderr).toMatch(/encode: waiting \d+\.\d s before attempt 2\/6 after: .*vector 0 is not 4 finite numbers/);
    expect(loadBank(join(dir, "bank-retried")).bankId).toBe(loadBank(join(dir, "bank-clean")).bankId);
    for (const f of ["user.ksv", "item.ksv"]) {
      expect(readFileSync(join(dir, "bank-retried", f)).equals(readFileSync(join(dir, "bank-clean", f)))).toBe(true);
    }
  });
});

describe("fatal answers stop the run with one line and exit 3", () => {
  const FATAL: [string, number, unknown][] = [
    ["bad key", 401, { error: { message: "Incorrect API key provided" } }],
    ["unknown model", 404, { error: { message: "The model `emb` does not exist" } }],
    ["bad request", 400, { error: { message: "input must be a list of strings" } }],
  ];
  it.each(FATAL)("encode, %s (HTTP %i): one request, no bank", async (_name, status, body) => {
    server.handler = (_req, res) => json(res, status, body);
    const out = join(dir, `bank-${status}`);
    const r = await kserCli(encodeArgs(out), env);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^kser: encode stopped, .* not written: .*HTTP ${status}`));
    expect(hasStackTrace(r.stderr)).toBe(false);
    expect(server.requests).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
  });

  it("encode, 429 until the retries run out: says what it waits for, then one line, exit 3", async () => {
    server.handler = (_req, res) => json(res, 429, { error: "rate limited" }, { "retry-after": "0" });
    const r = await kserCli(encodeArgs(join(dir, "bank-429"), ["--retries", "2"]), env);
    expect(r.code).toBe(3);
    const lines = r.stderr.trim().split("\n");
    expect(lines.slice(0, 2)).toEqual([
      expect.stringMatching(/^encode: waiting 0\.0 s before attempt 2\/3 after: .*HTTP 429/),
      expect.stringMatching(/^encode: waiting 0\.0 s before attempt 3\/3 after: .*HTTP 429/),
    ]);
    expect(lines.slice(2)).toEqual([expect.stringMatching(/^kser: encode stopped, .*HTTP 429.*\(3 attempts\)$/)]);
    expect(server.requests).toHaveLength(3);
  });

  it("generate stops at the first 401 instead of sending every prompt", async () => {
    server.handler = (_req, res) => setTimeout(() => json(res, 401, { error: "invalid key" }), 20);
    const out = join(dir, "gen-401.jsonl");
    const r = await kserCli(
      ["knowledge", "generate", "--source", "synthetic", "--users", "30", "--items", "25", "--concurrency", "2"].concat([
        "--base-url",
        `${server.url}/v1`,
        "--model",
        "m",
        "--cache",
        join(dir, "gen-401-cache.jsonl"),
        "--out",
        out,
      ]),
      env,
    );
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^kser: openai:m refused a request, run stopped .*HTTP 401/)]);
    // Two prompts were in flight when the first refusal came back; none started after it.
    expect(server.requests.length).toBeLessThanOrEqual(2);
    expect(existsSync(out)).toBe(false);
  });

  it("generateKnowledge rethrows a fatal error once the requests in flight are done", async () => {
    const { raw, prepared } = syntheticMovies(10, 10, 6, 3);
    server.handler = (_req, res) => json(res, 403, { error: "forbidden" });
    const client = createOpenAIChat({ baseUrl: `${server.url}/v1`, model: "m", env, policy: fast });
    const error = await generateKnowledge(raw, prepared, client, { concurrency: 3 }).catch((e) => e);
    expect(error.exitCode).toBe(3);
    expect(error.message).toMatch(/refused a request, run stopped \(0 new answers cached\).*HTTP 403/);
    expect(server.requests.length).toBeLessThanOrEqual(3);
  });
});

describe("a failed run keeps the previous output", () => {
  const generateArgs = (out: string, cache: string) =>
    ["knowledge", "generate", "--source", "synthetic", "--users", "20", "--items", "20", "--limit", "15", "--retries", "1"].concat([
      "--base-url",
      `${server.url}/v1`,
      "--model",
      "m",
      "--cache",
      cache,
      "--out",
      out,
    ]);

  it("generate with every request failing leaves --out byte-identical; encode refuses a header-only file", async () => {
    const out = join(dir, "gen.jsonl");
    server.handler = (_req, res) => json(res, 200, { choices: [{ message: { content: "Genre: western.\nMood: dusty." } }] });
    const good = await kserCli(generateArgs(out, join(dir, "gen-cache-a.jsonl")), env);
    expect(good.code).toBe(0);
    const before = readFileSync(out);
    expect(before.toString().trim().split("\n")).toHaveLength(31); // header + 15 users + 15 items

    server.handler = (_req, res) => json(res, 503, { error: "overloaded" });
    const failed = await kserCli(generateArgs(out, join(dir, "gen-cache-b.jsonl")), env);
    expect(failed.code).toBe(3);
    expect(failed.stderr).toMatch(/generate: waiting \d+\.\d s before attempt 2\/2 after: .*HTTP 503/);
    expect(failed.stderr).toMatch(
      /^kser: 30 entities have no knowledge yet; .*gen\.jsonl was not written; rerun the same command to resume$/m,
    );
    expect(readFileSync(out).equals(before)).toBe(true);

    const headerOnly = join(dir, "header-only.jsonl");
    writeFileSync(headerOnly, `${before.toString().split("\n")[0]}\n`);
    const enc = await kserCli(["knowledge", "encode", "--texts", headerOnly, "--out", join(dir, "bank-empty")]);
    expect(enc.code).toBe(2);
    expect(enc.stderr.trim()).toBe(`kser: ${headerOnly}: holds no knowledge texts (a header only): nothing to encode`);
    expect(existsSync(join(dir, "bank-empty"))).toBe(false);
  });
});
