/**
 * A nightly run that publishes to Cloudflare KV (the REST client against a local server speaking the same API)
 * keeps the API token out of everything it leaves behind: console output, nightly.log, every JSON file and the
 * HTML report in the run directory, and the model registry beside it.
 */
import { readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kvKeys } from "../../shared/kv-keys.ts";
import { parseNightlyConfig } from "../../trainer/nightly/config.ts";
import { EXIT, runNightly } from "../../trainer/nightly/run.ts";
import { smallConfig, tempRoot } from "./nightly-fixtures.ts";
import { FakeKvApi } from "./publish-kv-server.ts";

const TOKEN = "cf-test-token-4b1d0c9e7a52f3";
let root: string;
let api: FakeKvApi;

beforeAll(async () => {
  root = await tempRoot("secrets");
  api = new FakeKvApi("acct-123", "ns-456", TOKEN);
  // Error bodies echo the Authorization header: a failure path must not carry it into the run directory either.
  api.echoAuthInErrors = true;
  await api.start();
});
afterAll(async () => {
  await api.stop();
  await rm(root, { recursive: true, force: true });
});

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

describe("kser nightly with the Cloudflare target", () => {
  it("publishes through the REST API and never writes the token anywhere", async () => {
    const config = { ...smallConfig(root), publish: { target: "cloudflare" } };
    const env = {
      ...process.env,
      CLOUDFLARE_ACCOUNT_ID: "acct-123",
      KSER_KV_NAMESPACE_ID: "ns-456",
      CLOUDFLARE_API_TOKEN: TOKEN,
      KSER_CLOUDFLARE_API_BASE: api.baseUrl,
    };
    const printed: string[] = [];
    // A 429 on the way exercises the retry path's logging too.
    api.failures.push({ method: "PUT", status: 429, times: 1, retryAfter: "0" });
    const result = await runNightly({ config: parseNightlyConfig(config, "nightly.json"), env, print: (l) => printed.push(l) });
    expect(result.exitCode, result.message).toBe(EXIT.OK);
    expect(api.store.has(kvKeys.rolloutConfig())).toBe(true);
    expect(api.requests.length).toBeGreaterThan(0);

    expect(printed.join("\n")).not.toContain(TOKEN);
    const files = await filesUnder(path.join(root, "runs"));
    expect(files.some((f) => f.endsWith("report.html"))).toBe(true);
    expect(files.some((f) => f.endsWith("nightly.log"))).toBe(true);
    for (const file of files) {
      const text = (await readFile(file)).toString("latin1");
      expect(text.includes(TOKEN), file).toBe(false);
    }
  });
});
