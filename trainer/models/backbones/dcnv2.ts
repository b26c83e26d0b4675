/**
 * DCN-V2 (Wang et al., WWW 2021), parallel form: cross layers x_{l+1} = x0 * (x_l W_l + b_l) + x_l with full-rank
 * W_l [D, D], in the shared cross-network body.
 */
import { denseLayer, type Ops } from "../../ops/ops.ts";
import { crossNetwork } from "./cross-network.ts";

const CROSS_LAYERS = 2;

function cross<T>(ops: Ops<T>, x0: T, x: T, l: number, D: number): T {
  return ops.mul(x0, denseLayer(ops, `core/cross/${l}`, x, D, D, "linear"));
}

export const dcnv2 = crossNetwork("dcnv2", CROSS_LAYERS, cross);
