// Request validation and the read-only routes.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { call, json, resetToFixture, score } from "./helpers.ts";

type ErrorBody = { error: { code: string; message: string } };

describe("validation of POST /v1/score", () => {
  beforeAll(() => resetToFixture(env.KSER_KV));

  it("rejects a body that is not JSON", async () => {
    const res = await score("{not json");
    expect(res.status).toBe(400);
    expect((await json<ErrorBody>(res)).error.code).toBe("invalid_json");
  });

  it("names a missing field", async () => {
    const res = await score({ candidates: ["i1"] });
    expect(res.status).toBe(400);
    const body = await json<ErrorBody>(res);
    expect(body.error.code).toBe("invalid_request");
    expect(body.error.message).toContain("userId");
  });

  it("names a field of the wrong type", async () => {
    const res = await score({ userId: "u1", candidates: "i1" });
    expect(res.status).toBe(400);
    expect((await json<ErrorBody>(res)).error.message).toContain("candidates");
  });

  it("rejects an empty candidate list", async () => {
    const res = await score({ userId: "u1", candidates: [] });
    expect(res.status).toBe(400);
    expect((await json<ErrorBody>(res)).error.message).toContain("at least one");
  });

  it("rejects more than MAX_CANDIDATES candidates", async () => {
    const res = await score({ userId: "u1", candidates: Array.from({ length: 1001 }, (_, i) => `i${i}`) });
    expect(res.status).toBe(400);
    const body = await json<ErrorBody>(res);
    expect(body.error.code).toBe("too_many_candidates");
    expect(body.error.message).toContain("1000");
  });

  it("rejects a body over MAX_BODY_BYTES with 413", async () => {
    const huge = JSON.stringify({ userId: "u1", candidates: ["i1"], pad: "x".repeat(Number(env.MAX_BODY_BYTES) + 10) });
    const res = await score(huge);
    expect(res.status).toBe(413);
    expect((await json<ErrorBody>(res)).error.code).toBe("payload_too_large");
  });

  it("answers unknown routes with a JSON 404", async () => {
    const res = await call("/v1/nope");
    expect(res.status).toBe(404);
    expect((await json<ErrorBody>(res)).error.code).toBe("not_found");
  });
});

describe("read-only routes", () => {
  beforeAll(() => resetToFixture(env.KSER_KV));

  it("GET /v1/health (liveness) reports the isolate alive and ORT started", async () => {
    const res = await call("/v1/health");
    expect(res.status).toBe(200);
    const body = await json<{ status: string; ort: { ready: boolean } }>(res);
    expect(body.status).toBe("ok");
    expect(body.ort.ready).toBe(true);
  });

  it("GET /v1/ready (readiness) loads every model of the live rollout and lists them", async () => {
    const res = await call("/v1/ready");
    expect(res.status).toBe(200);
    const body = await json<{ status: string; reasons: string[]; variants: { variant: string; modelId: string; ok: boolean }[] }>(res);
    expect(body.status).toBe("ready");
    expect(body.reasons).toEqual([]);
    expect(body.variants).toEqual([
      { variant: "control", modelId: "fx-know", ok: true },
      { variant: "raw", modelId: "fx-raw", ok: true },
      { variant: "plain", modelId: "fx-plain", ok: true },
    ]);
  });

  it("GET /v1/models lists the rollout's variants with their manifests", async () => {
    const res = await call("/v1/models");
    expect(res.status).toBe(200);
    const body = await json<{
      variants: { variant: string; modelId: string; weight: number; fallback: boolean; manifest: { extractor: string } }[];
    }>(res);
    expect(body.variants.map((v) => [v.variant, v.modelId, v.weight, v.fallback])).toEqual([
      ["control", "fx-know", 5000, false],
      ["raw", "fx-raw", 3000, false],
      ["plain", "fx-plain", 2000, true],
    ]);
    expect(body.variants[2].manifest.extractor).toBe("none");
  });

  it("GET /openapi.json describes the score API with the configured candidate limit", async () => {
    const res = await call("/openapi.json");
    expect(res.status).toBe(200);
    const doc = await json<{
      openapi: string;
      paths: Record<string, unknown>;
      components: { schemas: { ScoreRequest: { required: string[]; properties: { candidates: { maxItems: number } } } } };
    }>(res);
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/v1/score", "/v1/health", "/v1/models", "/v1/admin/rollout"]));
    expect(doc.components.schemas.ScoreRequest.required).toEqual(expect.arrayContaining(["userId", "candidates"]));
    expect(doc.components.schemas.ScoreRequest.properties.candidates.maxItems).toBe(1000);
  });
});
