// Property-based fuzzing (fast-check) of the score and admin routes inside workerd: whatever the body, headers,
// ids or query, every answer is a 2xx with a JSON body or a 4xx with a JSON {error: {code, message}}, never a 5xx.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../worker/src/index.ts";
import { adminHeaders, resetToFixture } from "./helpers.ts";

const FIXTURE_IDS = ["u1", "u3", "i1", "i2", "i3", "i4", "i5", "i6", "unknown-item"];
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

/** Ids the API accepts: the fixture's, arbitrary Unicode, and up to the 256-unit limit in 1- to 4-byte characters. */
const goodId = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...FIXTURE_IDS) },
  { weight: 3, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("x", "€", "😀"), fc.integer({ min: 100, max: 128 })).map(([c, n]) => c.repeat(n)) },
);
/** Ids it refuses: empty, over 256 UTF-16 code units, or holding a lone surrogate. */
const badId = fc.oneof(
  fc.constant(""),
  fc.string({ unit: "binary", minLength: 257, maxLength: 262 }),
  fc
    .string({ unit: fc.oneof(loneSurrogate, fc.constant("€"), fc.constant("a")), minLength: 1, maxLength: 60 })
    .filter((s) => /\p{Cs}/u.test(s)),
);
const id = fc.oneof({ weight: 8, arbitrary: goodId }, badId);
/** Anything JSON can hold, for fields of the wrong type. */
const junk = fc.jsonValue({ maxDepth: 2 });

const history = fc.array(
  fc.record(
    {
      itemId: goodId,
      rating: fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 0, max: 100 }) }, fc.integer({ min: -5, max: 120 }), junk),
    },
    {
      requiredKeys: ["itemId"],
    },
  ),
  { maxLength: 6 },
);
const attributes = fc.dictionary(fc.constantFrom("gender", "age", "x"), fc.constantFrom("M", "F", "?", ""), { maxKeys: 3 });

/** Mostly well-formed requests (so that scoring is reached), some with one field of the wrong type, some junk. */
const scoreBody = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      {
        userId: id,
        candidates: fc.oneof(
          { weight: 10, arbitrary: fc.array(goodId, { minLength: 1, maxLength: 12 }) },
          { weight: 2, arbitrary: fc.array(id, { minLength: 1, maxLength: 12 }) },
          { weight: 1, arbitrary: fc.array(fc.constantFrom(...FIXTURE_IDS), { minLength: 999, maxLength: 1001 }) },
          { weight: 1, arbitrary: fc.constant([]) },
        ),
        history: fc.oneof({ weight: 12, arbitrary: history }, { weight: 1, arbitrary: fc.array(fc.record({ itemId: id })) }, junk),
        attributes: fc.oneof({ weight: 12, arbitrary: attributes }, junk),
      },
      { requiredKeys: ["userId", "candidates"] },
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record({ userId: fc.oneof(id, junk), candidates: fc.oneof(fc.array(id), junk), extra: junk }, { requiredKeys: [] }),
  },
  { weight: 1, arbitrary: junk },
);

/** The body as sent: the JSON of a generated value mostly, else arbitrary or truncated text. */
const bodyText = (value: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 8, arbitrary: value.map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 60 }) },
    { weight: 1, arbitrary: value.chain((v) => fc.nat({ max: 60 }).map((n) => JSON.stringify(v).slice(0, n))) },
  );

/** The content-type header; undefined sends none (the body then goes as bytes, which carry no implied type). */
const contentType = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom("application/json", "application/json; charset=utf-8", "application/ld+json") },
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "") },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 30 }) },
);

const scoreHeaders = fc.record(
  {
    forceVariant: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, fc.constantFrom("control", "raw", "plain", "nope", "")),
    debug: fc.constantFrom(undefined, "kv", "timing", "kv,timing", "x"),
    admin: fc.boolean(),
  },
  { requiredKeys: ["admin"] },
);

let requests = 0;
/** Answers by status and error code, so the tests can check that the generators reach scoring and each error path. */
const seen = new Map<string, number>();

/** Sends a request and checks the property: 2xx with JSON, or a 4xx JSON error; never a 5xx. */
async function expectClean(path: string, init: RequestInit): Promise<void> {
  requests++;
  // The worker's fetch handler called directly, one execution context per request: thousands of requests through
  // the pool's loopback (helpers.call) slow down with every request made from one test.
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`https://kser.test${path}`, init), env, ctx);
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  const where = `${init.method ?? "GET"} ${path} -> ${res.status}: ${text.slice(0, 200)}`;
  expect(res.status, where).toBeLessThan(500);
  const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
  const outcome = `${path.split("?")[0]} ${res.status} ${String(body.error?.code ?? "")}`.trim();
  seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
  if (res.status >= 400) {
    expect(typeof body.error?.code, where).toBe("string");
    expect(typeof body.error?.message, where).toBe("string");
    expect(String(body.error?.message), where).not.toMatch(/\n\s+at |\.ts:\d+/);
  }
}

function post(type: string | undefined, body: string, extra: Record<string, string> = {}): RequestInit {
  if (type === undefined) return { method: "POST", headers: extra, body: new TextEncoder().encode(body) };
  return { method: "POST", headers: { "content-type": type, ...extra }, body };
}

describe("fuzzing", () => {
  beforeAll(() => resetToFixture(env.KSER_KV));

  it("POST /v1/score: 1,200 generated requests, none answered with a 5xx or without a JSON body", async () => {
    await fc.assert(
      fc.asyncProperty(bodyText(scoreBody), contentType, scoreHeaders, async (body, type, h) => {
        const extra: Record<string, string> = h.admin ? adminHeaders() : {};
        if (h.forceVariant !== undefined) extra["x-kser-force-variant"] = h.forceVariant;
        if (h.debug !== undefined) extra["x-kser-debug"] = h.debug;
        await expectClean("/v1/score", post(type, body, extra));
      }),
      { numRuns: 1200 },
    );
    // The generators must reach scoring and the main error paths, not only the first check. About a quarter of the
    // requests are scorable (fast-check draws a new seed each run), so a fifth leaves room for chance.
    expect(seen.get("/v1/score 200") ?? 0).toBeGreaterThan(240);
    for (const code of ["invalid_json", "invalid_request", "id_too_long", "invalid_id", "too_many_candidates", "unsupported_media_type"]) {
      expect(seen.get(`/v1/score ${code === "unsupported_media_type" ? 415 : 400} ${code}`) ?? 0, code).toBeGreaterThan(0);
    }
  }, 300_000);

  it("admin routes: 1,000 generated requests, none answered with a 5xx or without a JSON body", async () => {
    const benchBody = fc.record(
      {
        userId: fc.oneof({ weight: 6, arbitrary: id }, junk),
        candidates: fc.oneof({ weight: 8, arbitrary: fc.array(goodId, { minLength: 1, maxLength: 8 }) }, fc.array(id), junk),
        modelId: fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom("fx-know", "fx-raw", "fx-plain") },
          fc.constantFrom("no-such-model", "../x", ""),
          fc.string({ maxLength: 120 }),
          junk,
        ),
        // Valid counts stay small (each repeat is a real backbone or input pass); the 1000 limit is met by 1001.
        repeats: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 4 }) }, fc.constantFrom(0, -3, 1001, 1.5, 1e9), junk),
        stage: fc.oneof({ weight: 6, arbitrary: fc.constantFrom("backbone", "inputs") }, fc.constant("other"), junk),
      },
      { requiredKeys: ["userId", "candidates"] },
    );
    const request = fc.oneof(
      { weight: 6, arbitrary: fc.tuple(fc.constant("bench"), bodyText(benchBody), contentType) },
      { weight: 3, arbitrary: fc.tuple(fc.constant("assignment"), fc.string({ unit: "binary", maxLength: 300 }), fc.boolean()) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom("rollout", "cache", "flush", "unknown"), fc.constant(""), fc.boolean()) },
    );
    await fc.assert(
      fc.asyncProperty(request, async ([route, payload, option]) => {
        if (route === "bench") {
          const type = option as string | undefined;
          await expectClean("/v1/admin/bench/backbone", post(type, payload, adminHeaders()));
        } else if (route === "assignment") {
          // Raw (possibly malformed) percent-encoding half the time, encodeURIComponent of well-formed text otherwise.
          const query = option ? payload.replace(/[^\w%.-]/g, "%") : encodeURIComponent(payload.replace(/\p{Cs}/gu, ""));
          await expectClean(`/v1/admin/assignment?userId=${query}`, { headers: adminHeaders() });
        } else if (route === "flush") {
          await expectClean("/v1/admin/cache/flush", { method: "POST", headers: adminHeaders() });
        } else {
          await expectClean(`/v1/admin/${route}`, { headers: adminHeaders() });
        }
      }),
      { numRuns: 1000 },
    );
    expect(requests).toBeGreaterThanOrEqual(2200);
    expect(seen.get("/v1/admin/bench/backbone 200") ?? 0).toBeGreaterThan(100);
    expect(seen.get("/v1/admin/bench/backbone 404 unknown_model") ?? 0).toBeGreaterThan(0);
  }, 300_000);
});
