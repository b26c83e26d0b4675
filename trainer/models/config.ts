/** What fixes a model's shape: features, sizes, and which backbone and extractor it combines. */
import type { FeatureSpec } from "../../shared/manifest.ts";

export interface KnowledgeShape {
  chunks: number;
  dim: number;
}

export interface ModelConfig {
  backbone: string;
  extractor: string;
  embeddingDim: number;
  spec: FeatureSpec;
  /** Chunk shapes of the knowledge fields; null when the extractor uses no knowledge. */
  knowledge: { user: KnowledgeShape; item: KnowledgeShape } | null;
  seed: number;
}

/** The model section's defaults, stated once (trainModel, the experiment config, the CLI flags). */
export const MODEL_DEFAULTS = {
  backbone: "deepfm",
  extractor: "kser",
  embeddingDim: 32,
  /** Hidden layer sizes of the backbones' DNN towers (DeepFM, xDeepFM, FiBiNET, DCN v1/v2). */
  hidden: [256, 128] as readonly number[],
} as const;

/** Parameter groups by name prefix: extractor-only training freezes core/ and trains the rest. */
export const PARAM_GROUPS = ["emb/", "core/", "out/", "ext/"] as const;
