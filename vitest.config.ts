import { defineConfig } from "vitest/config";

// Two projects: trainer/shared tests in Node, worker tests inside workerd (test/worker/vitest.config.ts).
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
    ],
  },
});
