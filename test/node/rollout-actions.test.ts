/**
 * Rollout operations against the KV REST API served on 127.0.0.1: rollback restores exactly, ramping is sticky,
 * invalid configs are rejected by field, dry runs write nothing, the history stays bounded.
 */
import { createHash, randomBytes } from "node:crypto";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { kvKeys } from "../../shared/kv-keys.ts";
import { assignVariant, ROLLOUT_SCHEMA_V1, type RolloutConfig } from "../../shared/rollout.ts";
import { createCloudflareTarget } from "../../trainer/kv/cloudflare.ts";
import { type RolloutAction, runRollout } from "../../trainer/rollout/actions.ts";
import { syntheticUserIds } from "../../trainer/rollout/diff.ts";
import { HISTORY_LIMIT, readRolloutConfig, readRolloutHistory, serializeRolloutConfig } from "../../trainer/rollout/store.ts";
import { IDS } from "../worker/fixtures/rollout-scenarios.ts";
import { V1_CASES } from "../worker/fixtures/rollout-v1-configs.ts";
import { FakeKvApi } from "./publish-kv-server.ts";

const TOKEN = `tok_${randomBytes(12).toString("hex")}`;
let api: FakeKvApi;
let clock = 0;
const now = () => new Date(Date.UTC(2026, 0, 1) + 1000 * ++clock).toISOString();

const target = () =>
  createCloudflareTarget({ accountId: "acc1", namespaceId: "ns1", apiToken: TOKEN, baseUrl: api.baseUrl, baseDelayMs: 5 });
const run = (action: RolloutAction, dryRun = false, print?: (l: string) => void) => runRollout(target(), action, { now, dryRun, print });

/** Weights only: read in the fixed kser-rollout/1 layout. */
const initial = {
  schema: ROLLOUT_SCHEMA_V1,
  salt: "exp-2026-01",
  variants: [{ name: "champion", modelId: "kser-din-v1", weight: 10_000 }],
};

/** Models the tests point variants at: their manifests are on the server, as after `kser publish`. */
const PUBLISHED = ["kser-din-v1", "kser-din-v2", "m2", "a", "b", "c"];

beforeEach(async () => {
  api = new FakeKvApi("acc1", "ns1", TOKEN);
  for (const id of PUBLISHED) api.store.set(kvKeys.model(id), Buffer.from(JSON.stringify({ modelId: id })));
  await api.start();
});
afterEach(async () => {
  await api.stop();
});

describe("kser rollout", () => {
  it("rollback restores the previous config exactly, one step at a time", async () => {
    await run({ kind: "set", config: initial });
    const first = (await readRolloutConfig(target()))!;
    await run({ kind: "ramp", variant: "cand", weight: 1000, modelId: "kser-din-v2" });
    const ramped10 = (await readRolloutConfig(target()))!;
    const ramped10Bytes = Buffer.from(api.store.get(kvKeys.rolloutConfig())!);
    await run({ kind: "promote", variant: "cand" });
    expect((await readRolloutConfig(target()))!.variants).toEqual([
      { name: "cand", modelId: "kser-din-v2", weight: 10_000, buckets: [[0, 10_000]] },
    ]);

    const back = await run({ kind: "rollback" });
    expect(back.after).toEqual(ramped10);
    expect(await readRolloutConfig(target())).toEqual(ramped10);
    expect(api.store.get(kvKeys.rolloutConfig())!.equals(ramped10Bytes)).toBe(true);
    await run({ kind: "rollback" });
    expect(await readRolloutConfig(target())).toEqual(first);
    expect(await readRolloutHistory(target())).toEqual([]);
    await expect(run({ kind: "rollback" })).rejects.toThrow(/history is empty/);
  });

  it("ramping 10% -> 20% keeps every user already in the candidate (20,000 ids)", async () => {
    await run({ kind: "set", config: initial });
    const at10 = (await run({ kind: "ramp", variant: "cand", weight: 1000, modelId: "kser-din-v2" })).after!;
    const result = await run({ kind: "ramp", variant: "cand", weight: 2000 });
    const at20 = result.after!;
    const ids = syntheticUserIds(20_000);
    const in10 = ids.filter((id) => assignVariant(at10, id).name === "cand");
    const in20 = ids.filter((id) => assignVariant(at20, id).name === "cand");
    expect(in10.length).toBeGreaterThan(1800);
    expect(in10.length).toBeLessThan(2200);
    expect(in20.length).toBeGreaterThan(3800);
    expect(in20.length).toBeLessThan(4200);
    expect(in10.every((id) => assignVariant(at20, id).name === "cand")).toBe(true);
    // Everyone who switched went champion -> cand, and the dry-run estimate counts exactly them.
    expect(result.change!.transitions).toEqual({ "champion -> cand": in20.length - in10.length });
    expect(result.change!.switched).toBe(in20.length - in10.length);
  });

  it("ramps, adds and removes one challenger without moving the other's users; a reshuffling set needs --allow-reshuffle", async () => {
    const three = {
      ...initial,
      variants: [
        { name: "champion", modelId: "a", weight: 8000 },
        { name: "b", modelId: "b", weight: 1000 },
        { name: "c", modelId: "c", weight: 1000 },
      ],
    };
    await run({ kind: "set", config: three });
    const start = (await readRolloutConfig(target()))!;
    const printed: string[] = [];
    const ramped = await run({ kind: "ramp", variant: "b", weight: 2000 }, false, (l) => printed.push(l));
    expect(ramped.after!.variants.map((v) => v.weight)).toEqual([7000, 2000, 1000]);
    expect(ramped.after!.variants[2].buckets).toEqual(start.variants[2].buckets);
    expect(ramped.change!.moves!.transitions).toEqual({ "champion -> b": 1000 });
    expect(printed.join("\n")).toMatch(/c\s+10\.00% ->\s+10\.00%\s+keeps all its users/);
    expect(printed.join("\n")).toMatch(/b\s+10\.00% ->\s+20\.00%\s+in 10\.00%, out 0\.00%/);
    expect(printed.join("\n")).toMatch(/champion -> b: 10\.00%/);
    const removed = await run({ kind: "remove", variant: "b" });
    expect(removed.after!.variants.map((v) => v.name)).toEqual(["champion", "c"]);
    expect(removed.after!.variants[1].buckets).toEqual(start.variants[2].buckets);
    expect(removed.change!.moves!.transitions).toEqual({ "b -> champion": 2000 });
    await expect(run({ kind: "ramp", variant: "champion", weight: 2000 })).rejects.toThrow(/champion/);
    await expect(run({ kind: "remove", variant: "champion" })).rejects.toThrow(/promote another variant/);
    await expect(run({ kind: "remove", variant: "zz" })).rejects.toThrow(/no variant named zz/);

    // The same weights in the fixed layout put c on other buckets: refused unless the reshuffle is accepted.
    const puts = api.count("PUT", "/bulk");
    const layout = {
      ...initial,
      variants: [
        { name: "champion", modelId: "a", weight: 9000 },
        { name: "c", modelId: "c", weight: 1000 },
      ],
    };
    await expect(run({ kind: "set", config: layout })).rejects.toThrow(/reshuffles the users of c: pass --allow-reshuffle/);
    // So is a new salt, which re-randomises everyone.
    await expect(run({ kind: "set", config: { ...three, salt: "other-salt" } })).rejects.toThrow(/reshuffles the users of c/);
    expect(api.count("PUT", "/bulk")).toBe(puts);
    const forced = await run({ kind: "set", config: layout, allowReshuffle: true });
    expect(forced.written).toBe(true);
    expect(forced.change!.moves!.reshuffled).toEqual(["c"]);
    // Nobody but the champion's users is left to reshuffle: a new salt goes through.
    await expect(run({ kind: "set", config: { ...initial, salt: "new-salt" } })).resolves.toMatchObject({ written: true });
  });

  it("rejects an invalid config naming the bad field, and writes nothing", async () => {
    const bad: Array<[unknown, RegExp]> = [
      [
        {
          ...initial,
          variants: [
            { name: "champion", modelId: "a", weight: 9000 },
            { name: "bad name", modelId: "b", weight: 1000 },
          ],
        },
        /variants\.1\.name/,
      ],
      [{ ...initial, variants: [{ name: "champion", modelId: "a", weight: 10_001 }] }, /variants\.0\.weight/],
      [{ ...initial, variants: [{ name: "champion", modelId: "a", weight: 9000 }] }, /variants: weights must add up to 10000/],
      [{ ...initial, salt: "" }, /salt/],
      [{ ...initial, fallback: "nobody" }, /fallback/],
    ];
    for (const [config, field] of bad) await expect(run({ kind: "set", config })).rejects.toThrow(field);
    expect(api.count("PUT", "/bulk")).toBe(0);
    expect(api.store.size).toBe(PUBLISHED.length);
  });

  it("a dry run prints the change and writes nothing", async () => {
    await run({ kind: "set", config: initial });
    await run({ kind: "ramp", variant: "cand", weight: 1000, modelId: "m2" });
    const snapshot = new Map([...api.store].map(([k, v]) => [k, Buffer.from(v)]));
    const putsBefore = api.count("PUT", "/bulk");
    const printed: string[] = [];
    for (const action of [
      { kind: "ramp", variant: "cand", weight: 5000 },
      { kind: "promote", variant: "cand" },
      { kind: "rollback" },
      { kind: "set", config: { ...initial, salt: "other" } },
    ] as RolloutAction[]) {
      const r = await run(action, true, (l) => printed.push(l));
      expect(r.written).toBe(false);
    }
    expect(api.count("PUT", "/bulk")).toBe(putsBefore);
    expect(api.count("POST", "/bulk/delete")).toBe(0);
    expect([...api.store.keys()].sort()).toEqual([...snapshot.keys()].sort());
    for (const [k, v] of snapshot) expect(api.store.get(k)!.equals(v)).toBe(true);
    const text = printed.join("\n");
    expect(text).toMatch(/dry run: would apply ramp/);
    expect(text).toMatch(/buckets \[5000, 10000\)/);
    expect(text).toMatch(/sampled users who would switch variant: \d+ of 20000/);
    expect(text).toMatch(/champion -> cand: 40\.00%/);
    expect(text).toMatch(/salt changes/);
  });

  it("refuses to point users at a model that is not published, and a dry run warns", async () => {
    await run({ kind: "set", config: initial });
    const before = Buffer.from(api.store.get(kvKeys.rolloutConfig())!);
    const putsBefore = api.count("PUT", "/bulk");
    await expect(run({ kind: "ramp", variant: "cand", weight: 1000, modelId: "kser-din-v3" })).rejects.toThrow(
      /model kser-din-v3 is not published on .*\(no model\/kser-din-v3\): publish the bundle first/,
    );
    const unpublishedSet = { ...initial, variants: [{ name: "champion", modelId: "nowhere", weight: 10_000 }] };
    await expect(run({ kind: "set", config: unpublishedSet })).rejects.toThrow(/model nowhere is not published/);
    expect(api.count("PUT", "/bulk")).toBe(putsBefore);
    expect(api.store.get(kvKeys.rolloutConfig())!.equals(before)).toBe(true);
    const printed: string[] = [];
    const dry = await run({ kind: "ramp", variant: "cand", weight: 1000, modelId: "kser-din-v3" }, true, (l) => printed.push(l));
    expect(dry.written).toBe(false);
    expect(printed.join("\n")).toMatch(/warning: model kser-din-v3 is not published .*would be refused/);
    // Once its manifest is there, the same ramp goes through.
    api.store.set(kvKeys.model("kser-din-v3"), Buffer.from("{}"));
    expect((await run({ kind: "ramp", variant: "cand", weight: 1000, modelId: "kser-din-v3" })).written).toBe(true);
    // status flags a live model whose manifest has gone since.
    api.store.delete(kvKeys.model("kser-din-v3"));
    const status: string[] = [];
    await run({ kind: "status" }, false, (l) => status.push(l));
    expect(status.filter((l) => l.startsWith("warning:"))).toEqual([
      expect.stringMatching(/^warning: model kser-din-v3 has no manifest on .*: its users get the fallback or a 503$/),
    ]);
  });

  it("keeps at most the last 20 configs in the history", async () => {
    await run({ kind: "set", config: initial });
    for (let w = 1; w <= HISTORY_LIMIT + 5; w++) await run({ kind: "ramp", variant: "cand", weight: w * 10, modelId: "m2" });
    const history: RolloutConfig[] = await readRolloutHistory(target());
    expect(history.length).toBe(HISTORY_LIMIT);
    expect(history.at(-1)!.variants[1].weight).toBe((HISTORY_LIMIT + 4) * 10);
    expect(history[0].variants[1].weight).toBe(5 * 10);
  });

  it("rollback restores each previous assignment exactly over 100,000 ids, back into configs the old code wrote", async () => {
    const v1 = V1_CASES.filter((c) => c.scenario === "two challengers");
    for (const id of ["m0", "m1", "m2", "m3"]) api.store.set(kvKeys.model(id), Buffer.from(JSON.stringify({ modelId: id })));
    // As the old CLI left KV: the last config live, the ones before it in the history.
    api.store.set(kvKeys.rolloutConfig(), Buffer.from(v1.at(-1)!.json));
    api.store.set(kvKeys.rolloutHistory(), Buffer.from(`[${v1.slice(0, -1).map((c) => c.json)}]`));
    const digest = (config: RolloutConfig) =>
      createHash("sha256")
        .update(IDS.map((id) => assignVariant(config, id).name).join("\n"))
        .digest("hex");
    const seen = [digest((await readRolloutConfig(target()))!)];
    expect(seen[0]).toBe(v1.at(-1)!.sha256);
    const steps: RolloutAction[] = [
      { kind: "ramp", variant: "kser", weight: 2500 },
      { kind: "ramp", variant: "kser3", weight: 500, modelId: "m3" },
      { kind: "remove", variant: "kser2" },
      { kind: "ramp", variant: "kser", weight: 500 },
    ];
    for (const step of steps) seen.push(digest((await run(step)).after!));
    expect(new Set(seen).size).toBe(seen.length);
    for (let i = seen.length - 2; i >= 0; i--) expect(digest((await run({ kind: "rollback" })).after!)).toBe(seen[i]);
    // Further back: the history entries the old code wrote.
    for (let i = v1.length - 2; i >= 0; i--) expect(digest((await run({ kind: "rollback" })).after!)).toBe(v1[i].sha256);
    await expect(run({ kind: "rollback" })).rejects.toThrow(/history is empty/);
  });

  it("rolling back any random sequence of ramp, add and remove restores every config exactly (fast-check)", async () => {
    const action = fc.oneof(
      fc.record({ kind: fc.constant("ramp" as const), variant: fc.constantFrom("a", "b", "c"), weight: fc.nat(3000) }),
      fc.record({ kind: fc.constant("remove" as const), variant: fc.constantFrom("a", "b", "c") }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 6 }), async (actions) => {
        api.store.delete(kvKeys.rolloutConfig());
        api.store.delete(kvKeys.rolloutHistory());
        await run({ kind: "set", config: initial });
        const written = [api.store.get(kvKeys.rolloutConfig())!.toString()];
        for (const a of actions) {
          const live = (await readRolloutConfig(target()))!;
          const present = live.variants.some((v) => v.name === a.variant);
          if (a.kind === "remove" && !present) continue;
          await run(a.kind === "ramp" && !present ? { ...a, modelId: a.variant } : a);
          written.push(api.store.get(kvKeys.rolloutConfig())!.toString());
        }
        for (let i = written.length - 2; i >= 0; i--) {
          const back = await run({ kind: "rollback" });
          expect(serializeRolloutConfig(back.after!)).toBe(written[i]);
          expect(api.store.get(kvKeys.rolloutConfig())!.toString()).toBe(written[i]);
        }
      }),
      { numRuns: 12, seed: 25 },
    );
  });
});
