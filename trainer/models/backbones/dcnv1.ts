/**
 * DCN (Wang et al., ADKDD 2017): cross layers x_{l+1} = x0 (x_l . w_l) + b_l + x_l with a weight VECTOR w_l (rank-1,
 * unlike DCNv2), in the shared cross-network body.
 */
import type { Ops } from "../../ops/ops.ts";
import { crossNetwork } from "./cross-network.ts";

const CROSS_LAYERS = 3;

function cross<T>(ops: Ops<T>, x0: T, x: T, l: number, D: number): T {
  const w = ops.param(`core/cross/${l}/w`, [D, 1], { kind: "glorot" });
  const b = ops.param(`core/cross/${l}/b`, [D], { kind: "zeros" });
  // x0 * (x_l w) broadcasts the [B, 1] scalar over the D features.
  return ops.add(ops.mul(x0, ops.dense(x, w, null, "linear")), b);
}

export const dcnv1 = crossNetwork("dcnv1", CROSS_LAYERS, cross);
