/** Which AdamW moments and update a new optimizer gets: our wasm kernel on the wasm heap where it runs, else JS. */
import { type AdamMoments, JsAdamMoments } from "./adam-moments.ts";
import { HeapAdamMoments } from "./adamw-heap.ts";

/**
 * `kernel` "auto": the wasm kernel when the active backend is wasm with the kernel enabled (backend/wasm.ts), else
 * the JS loop; "js": the JS loop always (comparisons, tests). Both give the same bits.
 */
export function adamMoments(kernel: "auto" | "js" = "auto"): { moments: AdamMoments; kernel: "wasm" | "js" } {
  const heap = kernel === "js" ? null : HeapAdamMoments.forActiveBackend();
  return heap ? { moments: heap, kernel: "wasm" } : { moments: new JsAdamMoments(), kernel: "js" };
}
