/**
 * Project "worker": tests inside workerd (vitest-pool-workers) against the real worker, real ORT-web and
 * miniflare's KV. The fixture (ONNX graphs, manifests, shards) is built here in Node and handed to the tests
 * through vitest's provide/inject; tests write it into KV with seedKv (fixtures/kv-bundle.ts).
 */
import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineProject } from "vitest/config";
import { buildFixtureBundle } from "./fixtures/build-fixture.ts";
import { type SerializedKvBundle, serializeKvBundle } from "./fixtures/kv-bundle.ts";

export const ADMIN_TOKEN = "test-admin-token-0123456789";
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

declare module "vitest" {
  export interface ProvidedContext {
    fixtureBundle: SerializedKvBundle;
    adminToken: string;
  }
}

export default defineProject({
  plugins: [
    cloudflareTest({
      main: here("../../worker/src/index.ts"),
      wrangler: { configPath: here("../../wrangler.toml") },
      miniflare: {
        // Secrets are not in wrangler.toml; the tests' token stands in for `wrangler secret put ADMIN_TOKEN`.
        bindings: { ADMIN_TOKEN, ROLLOUT_CACHE_MS: "0" },
      },
    }),
  ],
  test: {
    name: "worker",
    root: here("../.."),
    include: ["test/worker/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    provide: { fixtureBundle: serializeKvBundle(buildFixtureBundle()), adminToken: ADMIN_TOKEN },
  },
});
