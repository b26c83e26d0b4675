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
import type { RealModelFixture } from "./fixtures/real-model-types.ts";

export const ADMIN_TOKEN = "test-admin-token-0123456789";
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

declare module "vitest" {
  export interface ProvidedContext {
    fixtureBundle: SerializedKvBundle;
    adminToken: string;
    /** A real trained DeepFM + KSER bundle and the trainer's tfjs scores (global-setup.ts). */
    realModel: RealModelFixture;
  }
}

/** Module of the recording Analytics Engine binding: points are kept per isolate, deep-copied as they arrive. */
const ANALYTICS_RECORDER = `
const points = [];
export default function () {
  return {
    writeDataPoint(point) { points.push(JSON.parse(JSON.stringify(point ?? {}))); },
    recorded() { return points.map((p) => JSON.parse(JSON.stringify(p))); },
    reset() { points.length = 0; },
  };
}
`;

export default defineProject({
  plugins: [
    cloudflareTest({
      main: here("../../worker/src/index.ts"),
      wrangler: { configPath: here("../../wrangler.toml") },
      miniflare: {
        // Secrets are not in wrangler.toml; the tests' token stands in for `wrangler secret put ADMIN_TOKEN`.
        bindings: { ADMIN_TOKEN, ROLLOUT_CACHE_MS: "0" },
        // ANALYTICS: miniflare's own Analytics Engine stand-in discards every point, so nothing could be checked.
        // Instead the binding is a wrapped binding (the mechanism miniflare uses for that stand-in) backed by a
        // tiny recording Worker: the same writeDataPoint API, plus recorded()/reset() for the tests.
        wrappedBindings: { ANALYTICS: { scriptName: "analytics-recorder" } },
        workers: [{ name: "analytics-recorder", modules: true, script: ANALYTICS_RECORDER }],
      },
    }),
  ],
  test: {
    name: "worker",
    root: here("../.."),
    include: ["test/worker/**/*.test.ts"],
    globalSetup: [here("./global-setup.ts")],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    provide: { fixtureBundle: serializeKvBundle(buildFixtureBundle()), adminToken: ADMIN_TOKEN },
  },
});
