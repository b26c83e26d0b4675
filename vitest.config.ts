import { defineConfig } from "vitest/config";

// Two projects: trainer/shared tests in Node, worker tests inside workerd (test/worker/vitest.config.ts).
export default defineConfig({
  test: {
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
