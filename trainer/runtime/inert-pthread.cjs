// A pthread worker for tfjs-wasm's threaded build that never runs a thread (shared-heap.ts): it answers
// emscripten's "load" with "loaded", which is all emscripten waits for at start-up, and ends.
const { parentPort } = require("node:worker_threads");
parentPort.once("message", () => {
  parentPort.postMessage({ cmd: "loaded" });
  parentPort.close();
});
