/** The knowledge input both KAR-style extractors start from: a field's chunks pooled by masked mean, one vector per entity. */
import type { Ops } from "../../ops/ops.ts";
import type { ModelConfig } from "../config.ts";

export interface PooledKnowledge<T> {
  /** Masked mean of the chunks [B, d]; zeros when every chunk is missing. */
  pooled: T;
  /** The chunk mask [B, K], passed through as the field's gate (no selection happens). */
  mask: T;
  dim: number;
}

/** Declares `${side}_chunks` and `${side}_chunk_mask`. */
export function pooledKnowledge<T>(ops: Ops<T>, cfg: ModelConfig, side: "user" | "item", extractor: string): PooledKnowledge<T> {
  const shape = cfg.knowledge?.[side];
  if (!shape) throw new Error(`the ${extractor} extractor needs knowledge shapes in the model config`);
  const { chunks: K, dim: d } = shape;
  const chunks = ops.input(`${side}_chunks`, "float32", [-1, K, d]);
  const mask = ops.input(`${side}_chunk_mask`, "float32", [-1, K]);
  const count = ops.add(ops.reduceSum(mask, [1], true), ops.constant([1e-6], [])); // [B, 1]
  const pooled = ops.div(ops.reduceSum(ops.mul(chunks, ops.expandDims(mask, 2)), [1], false), count);
  return { pooled, mask, dim: d };
}
