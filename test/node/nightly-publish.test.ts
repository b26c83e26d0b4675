/**
 * Publishing cut off halfway (a real local target wrapped to fail after N writes) leaves the live pointer on the
 * previous, complete version and exits 3; the next invocation finishes the same run; `rollback` then restores the
 * config that was live before it, exactly.
 */
import { rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kvKeys } from "../../shared/kv-keys.ts";
import { openLocalTarget } from "../../trainer/kv/local.ts";
import { parseNightlyConfig } from "../../trainer/nightly/config.ts";
import { EXIT, runNightly } from "../../trainer/nightly/run.ts";
import { readJson } from "../../trainer/nightly/run-dir.ts";
import { runRollout } from "../../trainer/rollout/actions.ts";
import { serializeRolloutConfig } from "../../trainer/rollout/store.ts";
import { projectRoot, readLive, smallConfig, tempRoot } from "./nightly-fixtures.ts";

let root: string;
beforeAll(async () => {
  root = await tempRoot("publish");
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const quiet = () => {};

describe("kser nightly publish", () => {
  it("an interrupted publish keeps the old live version; resume finishes; rollback restores the previous config", async () => {
    const kv = path.join(root, "kv");
    const first = await runNightly({ config: parseNightlyConfig(smallConfig(root), "nightly.json"), print: quiet });
    expect(first.exitCode, first.message).toBe(EXIT.OK);
    const c1 = (await readLive(kv)).rollout!;
    const oldIds = c1.variants.map((v) => v.modelId);

    const config2 = parseNightlyConfig(smallConfig(root, { model: { seed: 43 } }), "nightly.json");
    const failed = await runNightly({ config: config2, print: quiet, env: { ...process.env, KSER_NIGHTLY_FAIL_AFTER_WRITES: "20" } });
    expect(failed.exitCode).toBe(EXIT.PUBLISH_FAILED);
    expect(failed.message).toMatch(/injected fault/);
    const { modelId } = await readJson<{ modelId: string }>(path.join(failed.runDir!, "export.json"));
    expect(oldIds).not.toContain(modelId);

    const during = await readLive(kv, [...oldIds, modelId]);
    expect(serializeRolloutConfig(during.rollout!)).toBe(serializeRolloutConfig(c1));
    for (const id of oldIds) expect(during.manifests[id]).toBe(true);
    // The cut came in the data stage: the manifest (written after all data) of the new model is not there.
    expect(during.manifests[modelId]).toBe(false);

    const resumed = await runNightly({ config: config2, print: quiet });
    expect(resumed.exitCode, resumed.message).toBe(EXIT.OK);
    expect(resumed.runDir).toBe(failed.runDir);
    const state = await readJson<{ attempts: number; stages: { train: { summary: { strategy: string } } } }>(
      path.join(resumed.runDir!, "state.json"),
    );
    expect(state.attempts).toBe(2);
    // The default strategy: the candidate trained its extractor on the champion's frozen backbone.
    expect(state.stages.train.summary.strategy).toBe("extractor-only");
    const c2 = (await readLive(kv, [modelId])).rollout!;
    expect(c2.variants.map((v) => v.modelId)).toEqual([c1.variants[0].modelId, modelId]);
    // The new candidate takes over the previous candidate's buckets: the same users, now on the new model.
    expect(c2.variants.map((v) => [v.name, v.buckets])).toEqual(c1.variants.map((v) => [v.name, v.buckets]));
    expect(c2.variants[1].weight).toBe(1000);

    const target = await openLocalTarget({ configPath: path.join(projectRoot, "wrangler.toml"), persistTo: kv });
    try {
      const manifest = await target.get(kvKeys.model(modelId));
      expect(manifest).not.toBeNull();
      // The published manifest says how the candidate was trained.
      expect(JSON.parse(new TextDecoder().decode(manifest!)).strategy).toBe("extractor-only");
      const r = await runRollout(target, { kind: "rollback" });
      expect(r.written).toBe(true);
    } finally {
      await target.close();
    }
    const restored = (await readLive(kv)).rollout!;
    expect(serializeRolloutConfig(restored)).toBe(serializeRolloutConfig(c1));
  }, 180_000);
});
