/**
 * Project "browser": tests that drive a real Chromium (find-chromium.ts says where it is). `npm test` includes it
 * when a Chromium is found; `npm run test:browser` runs it alone and fails, naming how to get one, when none is.
 */
import { fileURLToPath } from "node:url";
import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "browser",
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["test/browser/**/*.test.ts"],
    environment: "node",
    testTimeout: 180_000,
    pool: "forks",
  },
});
