/**
 * "raw": the LLM knowledge fed straight in, with no filtering and no alignment. Per field, the chunk vectors are
 * pooled by masked mean and linearly projected to the embedding size. This is the baseline the KSER paper shows
 * deteriorating (hallucinated/redundant chunks weigh as much as good ones). The gate output is the chunk mask
 * itself: nothing is selected, so the three-graph contract (know + gate per side) still holds.
 * Uses no side features, so an entity's vector depends on its knowledge alone.
 */
import { denseLayer } from "../../ops/ops.ts";
import type { Extractor } from "./extractor.ts";
import { pooledKnowledge } from "./pooled.ts";

export const rawExtractor: Extractor = {
  name: "raw",
  usesKnowledge: true,
  user(ops, cfg) {
    const k = pooledKnowledge(ops, cfg, "user", "raw");
    return { know: denseLayer(ops, "ext/user/raw/proj", k.pooled, k.dim, cfg.embeddingDim, "linear"), gate: k.mask };
  },
  item(ops, cfg) {
    const k = pooledKnowledge(ops, cfg, "item", "raw");
    return { know: denseLayer(ops, "ext/item/raw/proj", k.pooled, k.dim, cfg.embeddingDim, "linear"), gate: k.mask };
  },
};
