/** Global setup of the "worker" project (runs in Node): builds or loads the real trained model fixture. */
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import { loadRealModelFixture } from "./fixtures/real-model.ts";

export default function setup(project: TestProject): void {
  project.provide("realModel", loadRealModelFixture(fileURLToPath(new URL("../..", import.meta.url))));
}
