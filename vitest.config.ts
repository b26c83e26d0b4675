import { defineConfig } from "vitest/config";
import { CHROMIUM_HELP, findChromium } from "./test/browser/find-chromium.ts";

// Without a Chromium the browser project is left out, in one line rather than a failure: a machine with only Node
// passes `npm test`, and CI runs `npm run test:browser` where Chromium is installed.
const browserProject = findChromium() ? ["test/browser/vitest.config.ts"] : [];
if (browserProject.length === 0) {
  console.log(`Browser test (test/browser) not run, left to npm run test:browser: no Chromium found. ${CHROMIUM_HELP}`);
}

// Trainer/shared tests in Node, worker tests inside workerd (test/worker/vitest.config.ts), browser tests in Node
// driving Chromium (test/browser/vitest.config.ts).
export default defineConfig({
  test: {
    // Console output (the worker's structured log lines) only for failing tests: a readable summary in CI.
    silent: "passed-only",
    projects: [
      {
        test: {
          name: "node",
          include: ["test/node/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 300_000,
          pool: "forks",
        },
      },
      "test/worker/vitest.config.ts",
      ...browserProject,
    ],
  },
});
