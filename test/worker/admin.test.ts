// Admin routes and the variant override are only available with the ADMIN_TOKEN bearer token.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { assignVariant } from "../../shared/rollout.ts";
import { fixtureRolloutForTests } from "./fixture-rollout.ts";
import { adminHeaders, adminToken, call, json, resetToFixture, score } from "./helpers.ts";

type ErrorBody = { error: { code: string; message: string } };
const cfg = fixtureRolloutForTests();
// A user the rollout sends to "control", so that forcing "raw" visibly changes the variant.
const controlUser = Array.from({ length: 200 }, (_, i) => `qa-${i}`).find((u) => assignVariant(cfg, u).name === "control") as string;

describe("admin auth", () => {
  beforeAll(() => resetToFixture(env.KSER_KV));

  for (const [label, headers] of [
    ["no token", {}],
    ["a wrong token", { authorization: "Bearer not-the-token" }],
    ["the token with one character changed", { authorization: `Bearer ${adminToken().slice(0, -1)}X` }],
    ["the token as a prefix", { authorization: `Bearer ${adminToken().slice(0, 5)}` }],
    ["a non-bearer scheme", { authorization: `Basic ${adminToken()}` }],
  ] as [string, Record<string, string>][]) {
    it(`refuses admin routes with ${label}`, async () => {
      const res = await call("/v1/admin/rollout", { headers });
      expect(res.status).toBe(401);
      expect((await json<ErrorBody>(res)).error.code).toBe("unauthorized");
      expect((await call("/v1/admin/cache/flush", { method: "POST", headers })).status).toBe(401);
    });
  }

  it("serves admin routes with the token", async () => {
    const res = await call("/v1/admin/rollout", { headers: adminHeaders() });
    expect(res.status).toBe(200);
    const body = await json<{ config: { salt: string }; ranges: { name: string; start: number; end: number }[] }>(res);
    expect(body.config.salt).toBe(cfg.salt);
    expect(body.ranges).toEqual([
      { name: "control", start: 0, end: 5000 },
      { name: "plain", start: 5000, end: 7000 },
      { name: "raw", start: 7000, end: 10000 },
    ]);
    const flush = await call("/v1/admin/cache/flush", { method: "POST", headers: adminHeaders() });
    expect(flush.status).toBe(200);
  });
});

describe("x-kser-force-variant", () => {
  beforeAll(() => resetToFixture(env.KSER_KV));

  it("is refused without a valid admin token, and the assigned variant is not replaced", async () => {
    const attempts: Record<string, string>[] = [
      { "x-kser-force-variant": "raw" },
      { "x-kser-force-variant": "raw", authorization: "Bearer wrong" },
    ];
    for (const headers of attempts) {
      const res = await score({ userId: controlUser, candidates: ["i1"] }, headers);
      expect(res.status).toBe(403);
      expect(res.headers.get("x-kser-variant")).toBeNull();
    }
    const normal = await score({ userId: controlUser, candidates: ["i1"] });
    expect(normal.headers.get("x-kser-variant")).toBe("control");
  });

  it("is honoured with the token", async () => {
    const res = await score({ userId: controlUser, candidates: ["i1"] }, adminHeaders({ "x-kser-force-variant": "raw" }));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-kser-variant")).toBe("raw");
    expect((await json<{ modelId: string }>(res)).modelId).toBe("fx-raw");
  });

  it("names an unknown variant", async () => {
    const res = await score({ userId: controlUser, candidates: ["i1"] }, adminHeaders({ "x-kser-force-variant": "nope" }));
    expect(res.status).toBe(400);
    const body = await json<ErrorBody>(res);
    expect(body.error.code).toBe("unknown_variant");
    expect(body.error.message).toContain("nope");
  });
});
