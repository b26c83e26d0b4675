/** The nightly config: every error names the file and the field path, and the CLI exits 2 without starting a run. */
import { existsSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadNightlyConfig, parseNightlyConfig } from "../../trainer/nightly/config.ts";
import { kserNightly, projectRoot, smallConfig, tempRoot, writeConfig } from "./nightly-fixtures.ts";

let root: string;
beforeAll(async () => {
  root = await tempRoot("config");
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("nightly config", () => {
  it("fills defaults and resolves paths against the config file's directory", () => {
    const c = parseNightlyConfig(
      {
        runsDir: "r",
        data: { source: "ml-100k", path: "../d" },
        knowledge: { kind: "simulator" },
        publish: { target: "local", persistTo: "kv" },
      },
      "/etc/kser/nightly.json",
    );
    expect(c.runsDir).toBe("/etc/kser/r");
    expect(c.data).toEqual({ source: "ml-100k", path: "/etc/d" });
    expect(c.model.strategy).toBe("extractor-only");
    expect(c.gate.minAucGain).toBe(0);
    expect(c.rollout.rampPercent).toBe(10);
  });

  it.each([
    [{ gate: { minAucGain: "high" } }, "gate.minAucGain"],
    [{ model: { strategy: "everything" } }, "model.strategy"],
    [{ model: { epochz: 3 } }, "model"],
    [{ rollout: { rampPercent: 140 } }, "rollout.rampPercent"],
    [{ rollout: { candidateVariant: "control" } }, "rollout.candidateVariant"],
    [{ data: { source: "synthetic", users: 3 } }, "data.users"],
    [{ publish: { target: "s3" } }, "publish.target"],
  ])("names the bad field: %j", (patch, field) => {
    const base = smallConfig("/tmp/x") as Record<string, unknown>;
    const merged = Object.fromEntries(
      Object.entries({ ...base, ...patch }).map(([k, v]) => [
        k,
        k in patch &&
        typeof base[k] === "object" &&
        !("source" in (patch as Record<string, object>)[k]) &&
        !("target" in (patch as Record<string, object>)[k])
          ? { ...(base[k] as object), ...(v as object) }
          : v,
      ]),
    );
    expect(() => parseNightlyConfig(merged, "bad.json")).toThrow(
      new RegExp(`^bad\\.json: invalid nightly config: .*${field.replace(".", "\\.")}`),
    );
  });

  it("says which file is missing or not JSON", async () => {
    await expect(loadNightlyConfig(path.join(root, "absent.json"))).rejects.toThrow(/absent\.json: cannot read/);
    const file = path.join(root, "broken.json");
    await writeFile(file, "{");
    await expect(loadNightlyConfig(file)).rejects.toThrow(/broken\.json: not JSON/);
  });

  it("the CLI exits 2 naming the field, and starts no run", async () => {
    const config = smallConfig(root, { model: { epochs: 0 } });
    const file = await writeConfig(root, "bad-epochs.json", config);
    const r = await kserNightly(["--config", file]);
    expect(r.code).toBe(2);
    expect(r.out).toContain("bad-epochs.json: invalid nightly config: model.epochs");
    expect(existsSync(path.join(root, "runs"))).toBe(false);
    expect(projectRoot).toBeTruthy();
  });
});
