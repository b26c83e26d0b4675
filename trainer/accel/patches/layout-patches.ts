/**
 * The layout patches of every backward pass, registered together (KSER_NO_LAYOUT_FIXES=1 leaves wasm's own, for
 * comparison in bench:train): Transpose, Concat and SplitV, Sum, Slice, the fills and Pad, and the broadcasting
 * binary ops. They copy on the heap with the layout kernel where the backend set-up enabled it, else with JS loops
 * where those exist (Transpose, Concat, SplitV, 2-D Sum), else leave wasm's own kernel.
 */
import { registerBroadcastBinaryPatches } from "./broadcast-binary.ts";
import { registerConcatSplitPatches } from "./concat-split.ts";
import { registerFillPatches } from "./fills.ts";
import { registerSlicePatch } from "./slice.ts";
import { registerSumPatch } from "./sum.ts";
import { registerTransposePatch } from "./transpose.ts";

export function registerLayoutPatches(): void {
  registerTransposePatch();
  registerConcatSplitPatches();
  registerSumPatch();
  registerSlicePatch();
  registerFillPatches();
  registerBroadcastBinaryPatches();
}
