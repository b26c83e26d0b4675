/**
 * No credential in any byte a run prints or writes. Local imitations of Workers AI, an OpenAI-compatible API and the
 * KV REST API echo the request's Authorization header back in every answer that is not a success: error bodies,
 * HTTP 200 envelopes with success: false, malformed 200 answers. `kser knowledge generate`, `kser knowledge encode`
 * and `kser publish` run against them as a user would; their stdout, stderr and every file under the run's folder
 * are searched for the secrets (as they are, base64 and percent-encoded).
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kvKeys } from "../../shared/kv-keys.ts";
import { rolloutConfigFromWeights } from "../../shared/rollout.ts";
import { saveTexts } from "../../trainer/knowledge/texts-io.ts";
import { blobEntry, jsonEntry, writeBundle } from "../../trainer/publish/kv-bundle.ts";
import { type CliResult, filesUnder, hasStackTrace, kserCli } from "./cli-run.ts";
import { json, type SeenRequest, startServer, type TestServer } from "./knowledge-http-server.ts";
import { FakeKvApi } from "./publish-kv-server.ts";

const CF_TOKEN = "cf-secret-token-0a1b2c3d4e5f6a7b";
const OPENAI_KEY = "sk-secret-key-9f8e7d6c5b4a3f2e";
const ACCOUNT = "acct0secrets";
const NAMESPACE = "ns0secrets";
const SECRETS = [CF_TOKEN, OPENAI_KEY];
const forms = (s: string) => [s, Buffer.from(s).toString("base64"), encodeURIComponent(`Bearer ${s}`)];

let root: string;
let llm: TestServer;
let kv: FakeKvApi;
const outputs: { what: string; result: CliResult }[] = [];

const cliEnv = () => ({
  CLOUDFLARE_ACCOUNT_ID: ACCOUNT,
  CLOUDFLARE_API_TOKEN: CF_TOKEN,
  OPENAI_API_KEY: OPENAI_KEY,
  KSER_KV_NAMESPACE_ID: NAMESPACE,
  KSER_CLOUDFLARE_API_BASE: kv.baseUrl,
});

async function run(what: string, args: string[]): Promise<CliResult> {
  const result = await kserCli(args, cliEnv());
  outputs.push({ what, result });
  return result;
}

/** What a careless gateway says when it refuses: the request's Authorization header, quoted. */
const echo = (req: SeenRequest) => `request had authorization: ${req.headers.authorization}`;
const refusal = (req: SeenRequest, res: ServerResponse) =>
  json(res, 200, { success: false, result: null, errors: [{ code: 10000, message: `Authentication error (${echo(req)})` }] });

/** Answers each request in turn with the next of `answers`, then with the last one for ever. */
function scripted(...answers: ((req: SeenRequest, res: ServerResponse) => void)[]) {
  let n = 0;
  return (req: SeenRequest, res: ServerResponse) => answers[Math.min(n++, answers.length - 1)](req, res);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "kser-secrets-"));
  llm = await startServer();
  kv = new FakeKvApi(ACCOUNT, NAMESPACE, CF_TOKEN);
  kv.echoAuthInErrors = true;
  await kv.start();
  const texts = { source: "t", factors: { user: ["genre"], item: ["genre"] }, user: new Map(), item: new Map() };
  for (let i = 0; i < 3; i++) texts.user.set(`u${i}`, { text: `Genre: drama ${i}.` });
  saveTexts(join(root, "texts.jsonl"), texts);
});
afterAll(async () => {
  await llm.close();
  await kv.stop();
  rmSync(root, { recursive: true, force: true });
});

const generate = (provider: string, name: string) =>
  ["knowledge", "generate", "--source", "synthetic", "--users", "20", "--items", "20", "--limit", "2", "--retries", "2"].concat(
    ["--provider", provider, "--model", "@cf/meta/llm", "--base-url", provider === "openai" ? `${llm.url}/v1` : llm.url],
    ["--cache", join(root, `${name}-cache.jsonl`), "--out", join(root, `${name}.jsonl`)],
  );
const encode = (encoder: string, name: string) =>
  ["knowledge", "encode", "--texts", join(root, "texts.jsonl"), "--encoder", encoder, "--retries", "2", "--dim", "3"].concat([
    "--base-url",
    encoder === "openai" ? `${llm.url}/v1` : llm.url,
    "--cache",
    join(root, `${name}-cache.jsonl`),
    "--out",
    join(root, name),
  ]);

describe("knowledge clients", () => {
  it("generate, Workers AI answering 200 with success: false that quotes the token: one line, exit 3", async () => {
    llm.handler = refusal;
    const r = await run("generate workers-ai refusal", generate("workers-ai", "gen-refused"));
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^kser: workers-ai:@cf\/meta\/llm refused a request, run stopped .*Authentication error.*\[redacted\]/);
    expect(hasStackTrace(r.stderr)).toBe(false);
  });

  it("generate, Workers AI: an echoing 500 and an echoing non-JSON 200 are retried, then the answers are saved", async () => {
    llm.handler = scripted(
      (req, res) => json(res, 500, { errors: [{ message: echo(req) }] }),
      (req, res) => res.writeHead(200, { "content-type": "text/plain" }).end(`upstream glitch; ${echo(req)}`),
      (_req, res) => json(res, 200, { success: true, result: { response: "Genre: drama.\nMood: calm." } }),
    );
    const r = await run("generate workers-ai retried", generate("workers-ai", "gen-retried"));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/generate: waiting .* after: .*HTTP 500.*\[redacted\]/);
    expect(r.stderr).toMatch(/generate: waiting .* after: .*answer is not JSON.*\[redacted\]/);
  });

  it("encode, Workers AI answering success: false with the token: one line, exit 3 (no stack trace)", async () => {
    llm.handler = refusal;
    const r = await run("encode workers-ai refusal", encode("workers-ai", "bank-refused"));
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^kser: encode stopped, .*\[redacted\]/)]);
  });

  it("encode, Workers AI answering non-JSON echoes until the retries run out: exit 3", async () => {
    llm.handler = (req, res) => res.writeHead(200).end(`<html>${echo(req)}</html>`);
    const r = await run("encode workers-ai malformed", encode("workers-ai", "bank-malformed"));
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/encode: waiting .*\[redacted\]/);
  });

  it("generate and encode, an OpenAI-compatible API answering 401 with the key: exit 3", async () => {
    llm.handler = (req, res) => json(res, 401, { error: { message: `Incorrect API key provided (${echo(req)})` } });
    expect((await run("generate openai 401", generate("openai", "gen-401"))).code).toBe(3);
    expect((await run("encode openai 401", encode("openai", "bank-401"))).code).toBe(3);
  });
});

describe("publish", () => {
  it("publishes through echoing 429s, then fails on an echoing success: false and an echoing 403, exit 3", async () => {
    const bundleDir = join(root, "bundle");
    mkdirSync(root, { recursive: true });
    const rollout = rolloutConfigFromWeights({
      salt: "s",
      variants: [{ name: "c", modelId: "m1", weight: 10_000 }],
      updatedAt: "2026-01-01T00:00:00Z",
    });
    await writeBundle(bundleDir, {
      entries: [
        blobEntry(new Uint8Array([1, 2, 3, 4, 5])),
        jsonEntry(kvKeys.userProfile("p1", "u1"), { userId: "u1", attributes: {}, history: [] }, "data"),
        jsonEntry(kvKeys.model("m1"), { modelId: "m1" }, "manifest"),
        jsonEntry(kvKeys.rolloutConfig(), rollout, "pointer"),
      ],
    });
    const args = ["publish", "--bundle", bundleDir, "--target", "cloudflare", "--kv-attempts", "3", "--verify-attempts", "1"];
    kv.failures = [{ status: 429, retryAfter: "0", times: 2 }];
    const ok = await run("publish through 429", args);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/HTTP 429 .*\[redacted\]/);

    kv.failures = [{ status: 200, method: "PUT", times: 1 }];
    const refused = await run("publish success:false", args);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/^kser: PUT \/bulk: 2000 injected failure .*\[redacted\]/m);

    kv.failures = [{ status: 403, times: 1 }];
    const forbidden = await run("publish 403", args);
    expect(forbidden.code).toBe(3);
    expect(hasStackTrace(forbidden.stderr)).toBe(false);
  });
});

describe("every byte", () => {
  it("no secret in any run's stdout or stderr, nor in any file under the runs' folder", async () => {
    expect(outputs.length).toBe(9);
    for (const { what, result } of outputs) {
      for (const secret of SECRETS.flatMap(forms)) {
        expect(result.stdout.includes(secret), `${what}: stdout`).toBe(false);
        expect(result.stderr.includes(secret), `${what}: stderr`).toBe(false);
      }
    }
    const files = await filesUnder(root);
    expect(files.map((f) => f.path)).toEqual(
      expect.arrayContaining([join(root, "gen-retried.jsonl"), join(root, "gen-retried-cache.jsonl")]),
    );
    for (const { path, bytes } of files) {
      for (const secret of SECRETS.flatMap(forms)) expect(bytes.includes(secret), path).toBe(false);
    }
  });
});
