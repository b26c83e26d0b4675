/**
 * The local target writes the state `wrangler dev --persist-to X` reads: publish through getPlatformProxy into a
 * temporary persist dir, then read it back with a fresh, independent getPlatformProxy on X/v3.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { getPlatformProxy } from "wrangler";
import { kvKeys } from "../../shared/kv-keys.ts";
import { rolloutConfigFromWeights } from "../../shared/rollout.ts";
import { localPersistPath, withRetries } from "../../trainer/kv/local.ts";
import { withTarget } from "../../trainer/kv/open.ts";
import { blobEntry, jsonEntry, type KvBundle, valueBytes } from "../../trainer/publish/kv-bundle.ts";
import { publishBundle } from "../../trainer/publish/publish.ts";
import { UserFacingError } from "../../trainer/util/errors.ts";

describe("local wrangler state target", () => {
  it("publishes binary values that a separate getPlatformProxy on --persist-to X/v3 reads back intact", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kser-local-"));
    try {
      const configPath = join(dir, "wrangler.toml");
      await writeFile(join(dir, "worker.js"), "export default { fetch() { return new Response('ok') } }\n");
      await writeFile(
        configPath,
        `name = "kser-test"\nmain = "worker.js"\ncompatibility_date = "2025-01-01"\n\n[[kv_namespaces]]\nbinding = "KSER_KV"\nid = "kser-test-kv"\n`,
      );
      const persistTo = join(dir, "state");
      const graph = new Uint8Array(randomBytes(300_000));
      graph.set(Array.from({ length: 256 }, (_, i) => 255 - i));
      const bundle: KvBundle = {
        entries: [
          blobEntry(graph),
          { key: kvKeys.itemVectorShard("m1", 0), value: new Uint8Array(randomBytes(4096)), stage: "data" },
          jsonEntry(kvKeys.model("m1"), { modelId: "m1" }, "manifest"),
          jsonEntry(
            kvKeys.rolloutConfig(),
            rolloutConfigFromWeights({ salt: "s", variants: [{ name: "a", modelId: "m1", weight: 10_000 }], updatedAt: "t" }),
            "pointer",
          ),
        ],
      };
      const report = await withTarget({ kind: "local", configPath, persistTo }, async (target) => {
        expect(target.description).toContain(join(persistTo, "v3"));
        expect(await target.get(kvKeys.rolloutConfig())).toBeNull();
        const r = await publishBundle(bundle, target);
        expect((await target.list("blob/")).length).toBe(1);
        return r;
      });
      expect(report.verified).toBe(4);
      expect(localPersistPath(configPath, persistTo)).toBe(join(persistTo, "v3"));
      expect(existsSync(join(persistTo, "v3", "kv"))).toBe(true);

      const proxy = await getPlatformProxy<{ KSER_KV: { get(k: string, t: "arrayBuffer"): Promise<ArrayBuffer | null> } }>({
        configPath,
        persist: { path: join(persistTo, "v3") },
      });
      try {
        for (const e of bundle.entries) {
          const got = await proxy.env.KSER_KV.get(e.key, "arrayBuffer");
          expect(got).not.toBeNull();
          expect(Buffer.from(got!).equals(Buffer.from(valueBytes(e.value)))).toBe(true);
        }
      } finally {
        await proxy.dispose();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("retries a failed binding call and names the call when every attempt fails", async () => {
    let calls = 0;
    const flaky = async () => {
      calls++;
      if (calls < 3) throw new Error("false == true");
      return "value";
    };
    expect(await withRetries("get k", flaky, 3, 1)).toBe("value");
    expect(calls).toBe(3);

    calls = 0;
    const broken = async () => {
      calls++;
      throw new Error("false == true");
    };
    const failure = await withRetries("put blob/abc", broken, 3, 1).catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect(failure).toBeInstanceOf(UserFacingError);
    expect((failure as UserFacingError).exitCode).toBe(3);
    expect((failure as Error).message).toBe(
      "local KV put blob/abc failed after 3 attempts (wrangler's platform proxy): Error: false == true",
    );
  });
});
