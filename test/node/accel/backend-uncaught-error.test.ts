/**
 * An error nobody catches after the wasm backend started is reported by Node as usual: the error and its stack,
 * exit code 1, not emscripten's handler rethrowing it under ~57 KB of its minified glue (exit code 7).
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

const script = new URL("./throw-after-backend.ts", import.meta.url).pathname;

function runScript(sharedHeap: "on" | "off", kind: "exception" | "rejection") {
  return spawnSync(process.execPath, ["--import", "tsx", script, kind], {
    encoding: "utf8",
    env: { ...process.env, KSER_WASM_SHARED_HEAP: sharedHeap },
    timeout: 60_000,
  });
}

describe("an uncaught error after the wasm backend started", () => {
  for (const sharedHeap of ["on", "off"] as const) {
    for (const kind of ["exception", "rejection"] as const) {
      it(`is reported plainly (${kind}, shared heap ${sharedHeap})`, () => {
        const result = runScript(sharedHeap, kind);
        expect(result.status).toBe(1);
        expect(result.stderr).toContain("Error: deliberate failure after the backend started");
        expect(result.stderr).toContain("throw-after-backend.ts");
        expect(result.stderr).not.toContain("tfjs-backend-wasm");
        expect(result.stderr.length).toBeLessThan(4000);
      });
    }
  }
});
