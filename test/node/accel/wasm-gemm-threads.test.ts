/**
 * The wasm GEMM with helper threads inside tfjs (KSER_WASM_THREADS=3, set before the backend starts; each test file
 * runs in its own process), on tfjs-wasm's threaded build, whose heap is shared memory the helpers work on in place
 * (the default): the products and gradients equal the cpu backend's (gemm-thread-cases.ts).
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../../trainer/accel/index.ts";
import { expectHelperThreadsMatchCpu } from "./gemm-thread-cases.ts";

beforeAll(async () => {
  process.env.KSER_WASM_THREADS = "3";
  await initBackend("wasm");
});

describe("wasm GEMM with helper threads in tfjs, on the shared heap", () => {
  it("gives the cpu backend's products and gradients, with pieces computed in place by the helpers", async () => {
    await expectHelperThreadsMatchCpu(3, true);
  });

  it("leaves worker_threads' Worker and the global scope as they were after starting the threaded build", () => {
    expect(createRequire(import.meta.url)("node:worker_threads").Worker).toBe(Worker);
    expect("Worker" in globalThis).toBe(false);
  });
});
