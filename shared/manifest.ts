/**
 * The model manifest: everything the worker needs to serve one trained model version, written by the trainer at
 * publish time and stored in KV under kvKeys.model(modelId). Blobs it names are content-addressed (sha256).
 */
import { z } from "zod";

export const MANIFEST_SCHEMA = "kser-model/1";

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "must be a sha256 hex digest");
export const identifier = z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, "must be 1-100 of A-Z a-z 0-9 . _ -");

export const categoricalFieldSchema = z.object({
  name: identifier,
  /** Rows in the embedding table; index 0 is the out-of-vocabulary row. */
  vocabSize: z.number().int().min(2),
  /**
   * A multi-valued field (genres "Action|Comedy"): `size` slots of value indices per row (known values in the order
   * given, 0-padded), pooled by mean in the model; a raw value is split at `separator`. Absent: one value, one slot.
   */
  bag: z.object({ size: z.number().int().min(1).max(64), separator: z.string().min(1).max(8) }).optional(),
});

export const featureSpecSchema = z.object({
  /** History window length L (most recent items, padded and masked). */
  historyLength: z.number().int().min(1).max(200),
  /** Item-side categorical fields; the first is always the item id. */
  itemFields: z.array(categoricalFieldSchema).min(1),
  /** User-side categorical fields (demographics); may be empty. */
  userFields: z.array(categoricalFieldSchema),
  /** Rating vocabulary for history ratings: 0 = padding/unknown, then one row per rating step (shared/rating.ts). */
  ratingVocab: z.number().int().min(2),
  /** Size of one rating step (0.5 = half stars); absent = 1. */
  ratingStep: z.number().positive().optional(),
});

export const knowledgeFieldSpecSchema = z.object({
  chunks: z.number().int().min(1).max(64),
  dim: z.number().int().min(1).max(4096),
  codec: z.enum(["f32", "f16", "i8"]),
  shards: z.number().int().min(1),
});

export const graphRefSchema = z.object({
  blob: sha256Hex,
  bytes: z.number().int().positive(),
  inputs: z.array(z.string()).min(1),
  outputs: z.array(z.string()).min(1),
  /** Inputs the graph also takes with batch 1 for a whole request (one row shared by every candidate). */
  requestInputs: z.array(z.string()).optional(),
});

export const manifestSchema = z.object({
  schema: z.literal(MANIFEST_SCHEMA),
  modelId: identifier,
  createdAt: z.string(),
  backbone: z.string(),
  extractor: z.string(),
  strategy: z.enum(["all-params", "extractor-only"]),
  /** Size of the backbone's feature embeddings and of each aligned knowledge vector. */
  embeddingDim: z.number().int().positive(),
  features: featureSpecSchema,
  /** Raw knowledge used by the extractors; null for a backbone without knowledge. */
  knowledge: z
    .object({
      bankId: identifier,
      user: knowledgeFieldSpecSchema,
      item: knowledgeFieldSpecSchema,
    })
    .nullable(),
  graphs: z.object({
    backbone: graphRefSchema,
    userExtractor: graphRefSchema.nullable(),
    itemExtractor: graphRefSchema.nullable(),
  }),
  /** JSON blob: see VocabularyBlob. */
  vocabulary: z.object({ blob: sha256Hex, bytes: z.number().int().positive() }),
  /**
   * The profile set this model reads users' stored profiles from (kvKeys.userProfile(set, userId)); null when the
   * model was published without profiles (requests then carry attributes and history themselves).
   */
  profiles: z
    .object({ set: identifier, count: z.number().int().min(0) })
    .nullable()
    .default(null),
  /** Precomputed item-side extractor outputs (aligned vectors), sharded under kvKeys.itemVectorShard. */
  itemVectors: z.object({ shards: z.number().int().min(1), dim: z.number().int().positive(), count: z.number().int().min(0) }).nullable(),
  metrics: z.record(z.string(), z.number()).optional(),
});

export type CategoricalField = z.infer<typeof categoricalFieldSchema>;
export type FeatureSpec = z.infer<typeof featureSpecSchema>;
export type KnowledgeFieldSpec = z.infer<typeof knowledgeFieldSpecSchema>;
export type GraphRef = z.infer<typeof graphRefSchema>;
export type ModelManifest = z.infer<typeof manifestSchema>;

/**
 * The vocabulary blob: raw values per field (index i holds the raw value of row i; row 0 is "<oov>"), and the
 * item-side feature rows of every known item so the worker can build candidate features from item ids alone.
 */
export const vocabularyBlobSchema = z.object({
  fields: z.record(z.string(), z.array(z.string())),
  /** itemFeatures[itemIndex] = indices of every item field (itemFields order), item id first. */
  itemFeatures: z.array(z.array(z.number().int().min(0))),
});
export type VocabularyBlob = z.infer<typeof vocabularyBlobSchema>;

export const OOV_TOKEN = "<oov>";

/** Validates a manifest; the error lists each bad field by path. */
export function parseManifest(value: unknown): ModelManifest {
  const result = manifestSchema.safeParse(value);
  if (!result.success) throw new Error(`invalid model manifest: ${formatIssues(result.error.issues)}`);
  return result.data;
}

export function formatIssues(issues: readonly { path: PropertyKey[]; message: string }[]): string {
  return issues.map((i) => `${i.path.length ? i.path.map(String).join(".") : "(root)"}: ${i.message}`).join("; ");
}
