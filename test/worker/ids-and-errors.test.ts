// The id rule (shared/ids.ts, entityKeyPart) at the API, and error codes that name the real problem, on every route.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_ID_LENGTH } from "../../shared/ids.ts";
import { kvKeys } from "../../shared/kv-keys.ts";
import type { ScoreResponse } from "../../shared/score-api.ts";
import { PROFILE_SET } from "./fixtures/fixture-model.ts";
import { adminHeaders, call, forced, json, putJson, resetToFixture, score } from "./helpers.ts";
import { expectedScores } from "./reference.ts";

type ErrorBody = { error: { code: string; message: string } };
const utf8Bytes = (s: string) => new TextEncoder().encode(s).length;

async function expectError(res: Response, status: number, code: string, messagePart?: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toContain("application/json");
  const body = await json<ErrorBody>(res);
  expect(body.error.code).toBe(code);
  if (messagePart) expect(body.error.message).toContain(messagePart);
}

const bench = (body: unknown, headers: Record<string, string> = {}) =>
  call("/v1/admin/bench/backbone", {
    method: "POST",
    headers: adminHeaders({ "content-type": "application/json", ...headers }),
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

describe("ids whose KV key would be over 512 bytes", () => {
  beforeAll(() => resetToFixture(env.KSER_KV));
  const euros = "€".repeat(170); // 510 UTF-8 bytes: "user/" + id is over KV's 512-byte key limit

  it("scores a long unicode user id with and without history and attributes", async () => {
    expect(utf8Bytes(`user/${euros}`)).toBeGreaterThan(512);
    const bare = await score({ userId: euros, candidates: ["i1", "i2"] }, forced("control"));
    expect(bare.status).toBe(200);
    const req = { userId: euros, attributes: { gender: "F" }, history: [{ itemId: "i3", rating: 2 }], candidates: ["i1", "i2"] };
    const full = await score(req, forced("control"));
    expect(full.status).toBe(200);
    const scores = (await json<ScoreResponse>(full)).scores;
    for (const [i, e] of expectedScores("know", req).entries()) expect(scores[i]).toBeCloseTo(e, 5);
  });

  it("finds a long id's stored profile under its hashed key (the publisher's rule)", async () => {
    const userId = "😀".repeat(MAX_ID_LENGTH / 2); // 256 UTF-16 code units, 512 UTF-8 bytes: the longest id allowed
    const profile = { userId, attributes: { gender: "F" }, history: [{ itemId: "i3", rating: 1 }] };
    const key = kvKeys.userProfile(PROFILE_SET, userId);
    expect(key).toBe(`user/${PROFILE_SET}/#${key.slice(-64)}`);
    expect(key).toMatch(/#[0-9a-f]{64}$/);
    await putJson(env.KSER_KV, key, profile);
    const res = await score({ userId, candidates: ["i1", "i4"] }, forced("control"));
    expect(res.status).toBe(200);
    const scores = (await json<ScoreResponse>(res)).scores;
    for (const [i, e] of expectedScores("know", { ...profile, candidates: ["i1", "i4"] }).entries()) expect(scores[i]).toBeCloseTo(e, 5);
  });

  it("refuses an id over the length limit with id_too_long naming the field, never too_many_candidates", async () => {
    const long = "x".repeat(MAX_ID_LENGTH + 1);
    await expectError(await score({ userId: long, candidates: ["i1"] }), 400, "id_too_long", "userId");
    await expectError(await score({ userId: "u1", candidates: ["i1", long] }), 400, "id_too_long", "candidates.1");
    await expectError(
      await score({ userId: "u1", history: [{ itemId: long }], candidates: ["i1"] }),
      400,
      "id_too_long",
      "history.0.itemId",
    );
    await expectError(await score({ userId: "u1", candidates: Array(1001).fill("i1") }), 400, "too_many_candidates", "1000");
  });

  it("refuses lone surrogates with invalid_id", async () => {
    await expectError(await score({ userId: "\ud800", candidates: ["i1"] }), 400, "invalid_id", "userId");
    await expectError(await score({ userId: "u1", candidates: ["i1", "a\udc00b"] }), 400, "invalid_id", "candidates.1");
    await expectError(await score({ userId: "u1", history: [{ itemId: "\udbff" }], candidates: ["i1"] }), 400, "invalid_id", "history.0");
    // The same characters as a well-formed pair are an ordinary id.
    expect((await score({ userId: "\ud83d\ude00", candidates: ["i1"] })).status).toBe(200);
  });
});

describe("media types", () => {
  beforeAll(() => resetToFixture(env.KSER_KV));
  const body = JSON.stringify({ userId: "u1", candidates: ["i1"] });
  const post = (headers: Record<string, string>) => call("/v1/score", { method: "POST", headers, body });

  it("answers 415 for a body declared as something other than JSON", async () => {
    await expectError(await post({ "content-type": "text/plain" }), 415, "unsupported_media_type", "text/plain");
    await expectError(await post({ "content-type": "application/x-www-form-urlencoded" }), 415, "unsupported_media_type");
    await expectError(await bench({ userId: "u1", candidates: ["i1"] }, { "content-type": "text/csv" }), 415, "unsupported_media_type");
  });

  it("reads JSON media types, with parameters, and a body without a content-type", async () => {
    for (const contentType of ["application/json", "application/json; charset=utf-8", "application/vnd.kser+json"]) {
      expect((await post({ "content-type": contentType })).status, contentType).toBe(200);
    }
    const untyped = await call("/v1/score", { method: "POST", body: new TextEncoder().encode(body) });
    expect(untyped.status).toBe(200);
  });
});

describe("admin bench/backbone input", () => {
  beforeAll(() => resetToFixture(env.KSER_KV));

  it("answers an unknown model id with 404 unknown_model", async () => {
    await expectError(await bench({ userId: "u1", candidates: ["i1"], modelId: "no-such-model" }), 404, "unknown_model", "no-such-model");
  });

  it("names bad fields with 400", async () => {
    await expectError(await bench({ userId: "u1", candidates: [] }), 400, "invalid_request", "at least one");
    await expectError(await bench({ userId: "u1", candidates: ["i1"], modelId: "../model/x" }), 400, "invalid_request", "modelId");
    await expectError(await bench({ userId: "u1", candidates: ["i1"], repeats: 0 }), 400, "invalid_request", "repeats");
    await expectError(await bench({ userId: "u1", candidates: ["i1"], stage: "everything" }), 400, "invalid_request", "stage");
    await expectError(await bench({ userId: "\ud800", candidates: ["i1"] }), 400, "invalid_id");
    await expectError(await bench("{nope"), 400, "invalid_json");
  });

  it("runs for a long unicode user id and for a named model", async () => {
    const res = await bench({ userId: "€".repeat(170), candidates: ["i1", "i2"], modelId: "fx-know", repeats: 2 });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ modelId: "fx-know", stage: "backbone", candidates: 2, repeats: 2 });
  });

  it("checks the assignment route's user id too", async () => {
    await expectError(await call("/v1/admin/assignment", { headers: adminHeaders() }), 400, "invalid_request", "userId");
    const long = encodeURIComponent("y".repeat(MAX_ID_LENGTH + 1));
    await expectError(await call(`/v1/admin/assignment?userId=${long}`, { headers: adminHeaders() }), 400, "id_too_long");
    expect((await call(`/v1/admin/assignment?userId=${encodeURIComponent("€".repeat(170))}`, { headers: adminHeaders() })).status).toBe(
      200,
    );
  });
});
