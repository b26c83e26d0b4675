import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createOpenAIEmbeddings } from "../../trainer/knowledge/encoders/openai.ts";
import { createWorkersAiEmbeddings } from "../../trainer/knowledge/encoders/workers-ai.ts";
import { JsonlCache } from "../../trainer/knowledge/providers/cache.ts";
import { createOpenAIChat, createWorkersAiChat } from "../../trainer/knowledge/providers/chat.ts";
import { generateKnowledge } from "../../trainer/knowledge/providers/generate.ts";
import { HttpError, MalformedResponseError, parseRetryAfter } from "../../trainer/knowledge/providers/http.ts";
import { mapPool } from "../../trainer/knowledge/providers/pool.ts";
import { syntheticMovies } from "./knowledge-fixtures.ts";
import { json, startServer, type TestServer } from "./knowledge-http-server.ts";

const KEY = "sk-test-secret-123456";
const env = { OPENAI_API_KEY: KEY, CLOUDFLARE_ACCOUNT_ID: "acc1", CLOUDFLARE_API_TOKEN: "cf-token-abcdef" };
const fast = { retries: 4, baseDelayMs: 5, maxDelayMs: 2000, timeoutMs: 2000 };
const chatAnswer = (content: string) => ({ choices: [{ message: { role: "assistant", content } }] });

let server: TestServer;
let dir: string;
beforeAll(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), "kser-providers-"));
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  server.requests.length = 0;
  server.maxInFlight = 0;
});

describe("chat clients", () => {
  it("OpenAI-compatible: sends model, messages and the key from env; returns the content", async () => {
    server.handler = (_req, res) => json(res, 200, chatAnswer("Genre: drama."));
    const client = createOpenAIChat({ baseUrl: `${server.url}/v1`, model: "m1", env, policy: fast });
    expect(await client.complete("Tell me.")).toBe("Genre: drama.");
    const req = server.requests[0];
    expect(req.url).toBe("/v1/chat/completions");
    expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(req.body).toMatchObject({ model: "m1", messages: [{ role: "system" }, { role: "user", content: "Tell me." }] });
    expect(client.name).toBe("openai:m1");
  });

  it("waits as long as retry-after says on 429, then succeeds", async () => {
    let calls = 0;
    server.handler = (_req, res) =>
      calls++ === 0 ? json(res, 429, { error: "slow down" }, { "retry-after": "0.4" }) : json(res, 200, chatAnswer("ok"));
    const delays: number[] = [];
    const client = createOpenAIChat({
      baseUrl: `${server.url}/v1`,
      model: "m",
      env,
      policy: fast,
      hooks: { onRetry: (i) => delays.push(i.delayMs) },
    });
    expect(await client.complete("x")).toBe("ok");
    expect(delays).toEqual([400]);
    expect(server.requests[1].at - server.requests[0].at).toBeGreaterThanOrEqual(380);
  });

  it("backs off exponentially with jitter on 5xx and gives up after the retries", async () => {
    server.handler = (_req, res) => json(res, 503, { error: "down" });
    const delays: number[] = [];
    const client = createOpenAIChat({
      baseUrl: `${server.url}/v1`,
      model: "m",
      env,
      policy: { ...fast, retries: 3, baseDelayMs: 20 },
      hooks: { onRetry: (i) => delays.push(i.delayMs) },
    });
    const error = await client.complete("x").catch((e) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect(error.status).toBe(503);
    expect(error.message).toMatch(/4 attempts/);
    expect(server.requests).toHaveLength(4);
    expect(delays).toHaveLength(3);
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(20 * 2 ** i * 0.5);
      expect(d).toBeLessThanOrEqual(20 * 2 ** i);
    });
  });

  it("does not retry other 4xx and never puts the key in the error", async () => {
    server.handler = (req, res) => json(res, 401, { error: `bad key ${req.headers.authorization}` });
    const client = createOpenAIChat({ baseUrl: `${server.url}/v1`, model: "m", env, policy: fast });
    const error = await client.complete("x").catch((e) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect(error.status).toBe(401);
    expect(server.requests).toHaveLength(1);
    expect(error.message).not.toContain(KEY);
    expect(error.message).toContain("[redacted]");
  });

  it("times out a hanging request and retries it", async () => {
    let calls = 0;
    server.handler = (_req, res) => {
      if (calls++ === 0) return; // never answers
      json(res, 200, chatAnswer("late but fine"));
    };
    const client = createOpenAIChat({ baseUrl: `${server.url}/v1`, model: "m", env, policy: { ...fast, timeoutMs: 300 } });
    const start = Date.now();
    expect(await client.complete("x")).toBe("late but fine");
    expect(Date.now() - start).toBeGreaterThanOrEqual(280);
    expect(server.requests).toHaveLength(2);
  });

  it("retries malformed answers (bad JSON, missing fields) and fails clearly when they persist", async () => {
    const answers = ["{not json", JSON.stringify({ choices: [] }), JSON.stringify(chatAnswer("finally"))];
    let calls = 0;
    server.handler = (_req, res) => json(res, 200, answers[calls++]);
    const client = createOpenAIChat({ baseUrl: `${server.url}/v1`, model: "m", env, policy: fast });
    expect(await client.complete("x")).toBe("finally");
    server.handler = (_req, res) => json(res, 200, { choices: [{ message: {} }] });
    const error = await createOpenAIChat({ baseUrl: `${server.url}/v1`, model: "m", env, policy: { ...fast, retries: 1 } })
      .complete("x")
      .catch((e) => e);
    expect(error).toBeInstanceOf(MalformedResponseError);
  });

  it("Workers AI: native run endpoint, envelope unwrapped, success:false not retried", async () => {
    server.handler = (_req, res) => json(res, 200, { result: { response: "Mood: tense." }, success: true, errors: [] });
    const client = createWorkersAiChat({ baseUrl: server.url, model: "@cf/meta/llama-3.1-8b-instruct", env, policy: fast });
    expect(await client.complete("x")).toBe("Mood: tense.");
    expect(server.requests[0].url).toBe("/accounts/acc1/ai/run/@cf/meta/llama-3.1-8b-instruct");
    expect(server.requests[0].headers.authorization).toBe("Bearer cf-token-abcdef");
    server.handler = (_req, res) => json(res, 200, { result: null, success: false, errors: [{ message: "model not found" }] });
    await expect(client.complete("x")).rejects.toThrow(/model not found/);
    expect(server.requests).toHaveLength(2);
  });

  it("refuses to call a remote API without its key", () => {
    expect(() => createOpenAIChat({ model: "m", env: {} })).toThrow(/OPENAI_API_KEY/);
    expect(() => createWorkersAiChat({ model: "m", env: { CLOUDFLARE_ACCOUNT_ID: "a" } })).toThrow(/CLOUDFLARE_API_TOKEN/);
  });

  it("parses retry-after as seconds or a date", () => {
    expect(parseRetryAfter("2")).toBe(2000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

describe("embedding encoders", () => {
  it("OpenAI-compatible: batches, reorders by index, normalises, caches", async () => {
    server.handler = (req, res) => {
      const input = (req.body as { input: string[] }).input;
      const data = input.map((t, index) => ({ index, embedding: [t.length, 1, 0] })).reverse();
      json(res, 200, { data });
    };
    const cachePath = join(dir, "emb-cache.jsonl");
    const enc = createOpenAIEmbeddings({ baseUrl: `${server.url}/v1`, model: "e", dim: 3, batchSize: 2, env, cachePath, policy: fast });
    const v = await enc.encode(["a", "bbb", "cc"]);
    expect(server.requests.map((r) => (r.body as { input: string[] }).input)).toEqual([["a", "bbb"], ["cc"]]);
    const expectRow = (r: number, len: number) => {
      const n = Math.sqrt(len * len + 1);
      expect(v[r * 3]).toBeCloseTo(len / n, 6);
      expect(v[r * 3 + 1]).toBeCloseTo(1 / n, 6);
    };
    expectRow(0, 1);
    expectRow(1, 3);
    expectRow(2, 2);
    const again = await enc.encode(["cc", "a"]);
    expect(server.requests).toHaveLength(2);
    expect([...again]).toEqual([...v.subarray(6, 9), ...v.subarray(0, 3)]);
  });

  it("rejects vectors of the wrong dimension", async () => {
    server.handler = (_req, res) => json(res, 200, { data: [{ index: 0, embedding: [1, 2] }] });
    const enc = createOpenAIEmbeddings({ baseUrl: `${server.url}/v1`, model: "e", dim: 3, env, policy: { ...fast, retries: 0 } });
    await expect(enc.encode(["x"])).rejects.toThrow(MalformedResponseError);
  });

  it("Workers AI bge: at most 100 texts per request, {shape, data} unwrapped", async () => {
    server.handler = (req, res) => {
      const text = (req.body as { text: string[] }).text;
      json(res, 200, {
        success: true,
        result: { shape: [text.length, 768], data: text.map((_, i) => Array.from({ length: 768 }, (_, j) => (j === i % 768 ? 2 : 0))) },
      });
    };
    const enc = createWorkersAiEmbeddings({ baseUrl: server.url, env, policy: fast });
    expect(enc.dim).toBe(768);
    expect(enc.name).toBe("workers-ai:@cf/baai/bge-base-en-v1.5:mean");
    const texts = Array.from({ length: 250 }, (_, i) => `t${i}`);
    const v = await enc.encode(texts);
    expect(server.requests.map((r) => (r.body as { text: string[] }).text.length).sort()).toEqual([100, 100, 50].sort());
    expect(server.requests[0].url).toBe("/accounts/acc1/ai/run/@cf/baai/bge-base-en-v1.5");
    expect(server.requests[0].body).toMatchObject({ pooling: "mean" });
    expect(v[1 * 768 + 1]).toBe(1);
  });
});

describe("generateKnowledge", () => {
  const { raw, prepared } = syntheticMovies(5, 8, 10, 4);
  const answerFor = (prompt: string) => `Genre: answer to ${prompt.length} chars.\nMood: fine.`;

  it("prints prompts on a dry run and calls nothing", async () => {
    const lines: string[] = [];
    const { stats } = await generateKnowledge(raw, prepared, undefined, { dryRun: true, print: (l) => lines.push(l), limit: 2 });
    expect(server.requests).toHaveLength(0);
    expect(stats.requested).toBe(4);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^### user u0\n/);
    expect(lines[0]).toMatch(/genre, actors, directors, themes, mood, production quality and critical acclaim/);
    // The user prompt lists the knowledge prefix only (4 events), never later interactions.
    expect(lines[0].match(/: rated \d of 5/g)).toHaveLength(4);
  });

  it("bounds concurrency, records failures, and resumes from a cache with a torn last line", async () => {
    server.handler = (req, res) => {
      const prompt = (req.body as { messages: { content: string }[] }).messages[1].content;
      // 422: this one prompt is refused (not retried); the run goes on. A 400 would stop it (a fatal answer).
      if (prompt.includes(`Introduce the movie "Movie Number 7"`)) return json(res, 422, { error: "refused" });
      setTimeout(() => json(res, 200, chatAnswer(answerFor(prompt))), 30);
    };
    const cachePath = join(dir, "gen-cache.jsonl");
    const client = createOpenAIChat({ baseUrl: `${server.url}/v1`, model: "m", env, policy: fast });
    const first = await generateKnowledge(raw, prepared, client, { cachePath, concurrency: 3 });
    expect(server.maxInFlight).toBeLessThanOrEqual(3);
    expect(server.maxInFlight).toBeGreaterThanOrEqual(2);
    expect(first.stats.generated).toBe(12);
    expect(first.stats.failures.map((f) => `${f.field}/${f.id}`)).toEqual(["item/m7"]);
    expect(first.texts.item.has("m7")).toBe(false);
    expect([...first.texts.user.keys()]).toEqual(["u0", "u1", "u2", "u3", "u4"]);

    // A kill mid-write: the last two records are lost, one of them half-written.
    const lines = readFileSync(cachePath, "utf8").split("\n").filter(Boolean);
    expect(lines).toHaveLength(12);
    writeFileSync(cachePath, `${lines.slice(0, 10).join("\n")}\n${lines[10].slice(0, 25)}`);
    server.requests.length = 0;
    const notes: string[] = [];
    const second = await generateKnowledge(raw, prepared, client, { cachePath, concurrency: 3, print: (l) => notes.push(l) });
    expect(notes.join("\n")).toMatch(/torn last line/);
    expect(second.stats.fromCache).toBe(10);
    expect(second.stats.generated).toBe(2);
    expect(server.requests).toHaveLength(3); // the two lost records plus the still-refused m7
    expect([...second.texts.user.entries()]).toEqual([...first.texts.user.entries()]);
    expect([...second.texts.item.entries()]).toEqual([...first.texts.item.entries()]);
    // The cache file is whole again: every line parses.
    const reopened = JsonlCache.open<string>(cachePath);
    expect(reopened.size).toBe(12);
    expect(reopened.recovered).toEqual({ tornBytes: 0, badLines: 0 });
    reopened.close();
  });
});

describe("machinery", () => {
  it("JsonlCache skips unreadable lines and lets later records win", () => {
    const path = join(dir, "c.jsonl");
    writeFileSync(path, `${JSON.stringify({ key: "a", value: 1 })}\ngarbage\n${JSON.stringify({ key: "a", value: 2 })}\n`);
    const cache = JsonlCache.open<number>(path);
    expect(cache.get("a")).toBe(2);
    expect(cache.recovered.badLines).toBe(1);
    cache.set("b", 3);
    cache.close();
    expect(JsonlCache.open<number>(path).get("b")).toBe(3);
  });

  it("mapPool keeps order, bounds concurrency, and rethrows the first error", async () => {
    let active = 0;
    let peak = 0;
    const out = await mapPool([5, 1, 4, 2, 3], 2, async (x) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, x * 3));
      active--;
      return x * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(peak).toBe(2);
    await expect(mapPool([1, 2, 3], 2, async (x) => (x === 2 ? Promise.reject(new Error("boom")) : x))).rejects.toThrow("boom");
  });
});
