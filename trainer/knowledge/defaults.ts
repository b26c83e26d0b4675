/**
 * The knowledge bank's defaults, stated once: K chunks per entity and field, the text encoder's and the compressed
 * vectors' dimensions, and their storage codec (the simulators, `kser knowledge`, the nightly and experiment configs).
 */
export const KNOWLEDGE_DEFAULTS = {
  /** K: chunks per entity and field. */
  chunks: 6,
  /** Dimension of the hash encoder's vectors. */
  encoderDim: 128,
  /** Dimension after PCA compression. */
  dim: 32,
  codec: "i8",
} as const;
