/**
 * Worker entry. ORT's wasm backend starts at isolate start (top-level await), so the first request does not pay for
 * its start-up. If it fails, requests still get JSON errors and /v1/health reports why.
 */
import { app } from "./app.ts";
import { errorMessage, logEvent } from "./log.ts";
import { ortReady } from "./ort-runtime.ts";

try {
  await ortReady();
} catch (e) {
  logEvent("error", "ort_start_failed", { reason: errorMessage(e) });
}

export default app;
