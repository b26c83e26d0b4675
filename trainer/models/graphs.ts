/**
 * The three graphs a model is served as, with the input/output names the worker depends on:
 *   user extractor: user_chunks, user_chunk_mask (+ user_feats, hist_*) -> user_know [B,E], user_gate [B,K]
 *   item extractor: item_chunks, item_chunk_mask, item_feats -> item_know [B,E], item_gate [B,K]
 *   backbone: item_feats, user_feats (when Fu > 0), hist_feats, hist_ratings, hist_mask (+ user_know, item_know)
 *             -> score [B] (sigmoid), logit [B]
 * Training and tfjs inference chain the same three functions through the feeds map.
 */
import type { Ops } from "../ops/ops.ts";
import type { ModelConfig } from "./config.ts";
import { getBackbone, getExtractor } from "./registry.ts";

export function userExtractorGraph<T>(ops: Ops<T>, cfg: ModelConfig): { user_know: T; user_gate: T } {
  const out = getExtractor(cfg.extractor).user(ops, cfg);
  return { user_know: out.know, user_gate: out.gate };
}

export function itemExtractorGraph<T>(ops: Ops<T>, cfg: ModelConfig): { item_know: T; item_gate: T } {
  const out = getExtractor(cfg.extractor).item(ops, cfg);
  return { item_know: out.know, item_gate: out.gate };
}

export function backboneGraph<T>(ops: Ops<T>, cfg: ModelConfig): { score: T; logit: T } {
  const E = cfg.embeddingDim;
  const knowledge = getExtractor(cfg.extractor).usesKnowledge
    ? { user: ops.input("user_know", "float32", [-1, E]), item: ops.input("item_know", "float32", [-1, E]) }
    : null;
  const logit = getBackbone(cfg.backbone).logit(ops, cfg, knowledge);
  return { score: ops.sigmoid(logit), logit };
}
