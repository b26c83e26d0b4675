/**
 * `kser publish` and `kser rollout` as real processes against the KV REST API served on 127.0.0.1: the token only
 * reaches the server, a dry run writes nothing, a bad variant is named, and a bundle publishes end to end.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kvKeys } from "../../shared/kv-keys.ts";
import { blobEntry, jsonEntry, writeBundle } from "../../trainer/publish/kv-bundle.ts";
import { FakeKvApi } from "./publish-kv-server.ts";

const TOKEN = `cfut_${randomBytes(16).toString("hex")}`;
let api: FakeKvApi;
let dir: string;

async function kser(args: string[]): Promise<{ code: number; out: string }> {
  const env = {
    ...process.env,
    CLOUDFLARE_ACCOUNT_ID: "acc1",
    KSER_KV_NAMESPACE_ID: "ns1",
    CLOUDFLARE_API_TOKEN: TOKEN,
    KSER_CLOUDFLARE_API_BASE: api.baseUrl,
    KSER_KV_MAX_ATTEMPTS: "2",
  };
  try {
    const { stdout, stderr } = await promisify(execFile)("node", ["bin/kser.js", ...args, "--target", "cloudflare"], { env });
    return { code: 0, out: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

beforeAll(async () => {
  api = new FakeKvApi("acc1", "ns1", TOKEN);
  await api.start();
  dir = await mkdtemp(join(tmpdir(), "kser-cli-"));
});
afterAll(async () => {
  await api.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("kser publish / kser rollout (processes)", () => {
  it("publishes a bundle, ramps with a dry run first, and never prints the token", async () => {
    const bundleDir = join(dir, "bundle");
    const graph = new Uint8Array(randomBytes(5000));
    await writeBundle(bundleDir, {
      entries: [
        blobEntry(graph),
        jsonEntry(kvKeys.model("m1"), { modelId: "m1" }, "manifest"),
        jsonEntry(
          kvKeys.rolloutConfig(),
          { schema: "kser-rollout/1", salt: "s1", variants: [{ name: "champion", modelId: "m1", weight: 10_000 }], updatedAt: "t0" },
          "pointer",
        ),
      ],
    });
    const outputs: string[] = [];
    const pub = await kser(["publish", "--bundle", bundleDir]);
    outputs.push(pub.out);
    expect(pub.code).toBe(0);
    expect(Buffer.from(api.store.get(blobEntry(graph).key)!).equals(Buffer.from(graph))).toBe(true);

    const puts = api.count("PUT", "/bulk");
    const dry = await kser(["rollout", "ramp", "cand", "10", "--model", "m2", "--dry-run"]);
    outputs.push(dry.out);
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/cand\s+m2\s+10%\s+buckets \[9000, 10000\)/);
    expect(api.count("PUT", "/bulk")).toBe(puts);

    const bad = await kser(["rollout", "set", "--variant", "a:m1:60", "--variant", "b/x:m2:40"]);
    outputs.push(bad.out);
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/variants\.1\.name/);

    // The server fails every request and echoes the Authorization header in its error bodies.
    api.echoAuthInErrors = true;
    api.failures = [{ status: 500, times: 1000 }];
    const failing = await kser(["rollout", "status"]);
    outputs.push(failing.out);
    expect(failing.code).not.toBe(0);
    expect(failing.out).toContain("[redacted]");
    for (const out of outputs) expect(out).not.toContain(TOKEN);
  });

  it("shows before writing whom ramp and remove move; a reshuffling set needs --allow-reshuffle", async () => {
    api.echoAuthInErrors = false;
    api.failures = [];
    for (const id of ["m1", "m2", "m3"]) api.store.set(kvKeys.model(id), Buffer.from(JSON.stringify({ modelId: id })));
    const ok = async (args: string[]) => {
      const r = await kser(args);
      expect(r.code, r.out).toBe(0);
      return r.out;
    };
    await ok(["rollout", "set", "--variant", "control:m1", "--variant", "kser:m2:10", "--variant", "kser2:m3:10", "--salt", "s2"]);
    const ramp = await ok(["rollout", "ramp", "kser", "20"]);
    expect(ramp).toMatch(/kser2\s+10\.00% ->\s+10\.00%\s+keeps all its users/);
    expect(ramp).toMatch(/control -> kser: 10\.00%/);
    const remove = await ok(["rollout", "remove", "kser", "--dry-run"]);
    expect(remove).toMatch(/dry run: would apply remove/);
    expect(remove).toMatch(/kser -> control: 20\.00%/);
    expect(remove).toMatch(/kser2\s+10\.00% ->\s+10\.00%\s+keeps all its users/);

    const file = join(dir, "layout.json");
    const layout = {
      schema: "kser-rollout/1",
      salt: "s2",
      variants: [
        { name: "control", modelId: "m1", weight: 7000 },
        { name: "kser2", modelId: "m3", weight: 1000 },
        { name: "kser", modelId: "m2", weight: 2000 },
      ],
    };
    await writeFile(file, JSON.stringify(layout));
    const refused = await kser(["rollout", "set", "--file", file]);
    expect(refused.code).toBe(2);
    expect(refused.out).toMatch(/reshuffles the users of kser2, kser: pass --allow-reshuffle/);
    expect(await ok(["rollout", "set", "--file", file, "--allow-reshuffle"])).toMatch(/done; history holds/);
    expect(await ok(["rollout", "rollback"])).toMatch(/kser2\s+10\.00% ->\s+10\.00% {2}in 10\.00%, out 10\.00%/);
  });
});
