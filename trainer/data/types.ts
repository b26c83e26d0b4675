/**
 * The data contracts inside the trainer: a raw dataset as loaded (any source), the prepared dataset the models
 * train on, and the knowledge bank the extractors read. Loaders produce RawDataset; prepare turns it into
 * PreparedDataset; knowledge steps produce KnowledgeBank.
 */
import type { EncodedRows } from "../../shared/feature-encoding.ts";
import type { FeatureSpec, VocabularyBlob } from "../../shared/manifest.ts";
import type { UserProfile } from "../../shared/user-profile.ts";

export interface RawUser {
  id: string;
  /** Raw side features by field name (e.g. age, gender, occupation). */
  attributes: Record<string, string>;
}

export interface RawItem {
  id: string;
  title: string;
  year?: number;
  genres: string[];
  /** Raw categorical attributes by field name, besides the id (e.g. genre = first genre). */
  attributes: Record<string, string>;
}

export interface RawInteraction {
  userId: string;
  itemId: string;
  rating: number;
  /** Seconds since the epoch (or any monotone clock); sorts each user's history. */
  timestamp: number;
  /** The data's own split of this row, for prepare's split "given" (absent: the user split decides). */
  split?: "train" | "valid" | "test";
}

/** How a multi-valued field's raw value is split into values, and how many of them a row keeps. */
export interface MultiValuedRule {
  separator: string;
  maxValues: number;
}

export interface RawDataset {
  name: string;
  domain: "movies" | "books" | "generic";
  users: RawUser[];
  items: RawItem[];
  interactions: RawInteraction[];
  /** User-side categorical fields, in model order. */
  userFieldNames: string[];
  /** Item-side categorical fields besides item_id, in model order. */
  itemFieldNames: string[];
  /** Label rule: positive when rating >= minPositiveRating (MovieLens: > 3 means >= 4). */
  minPositiveRating: number;
  /** Highest rating value; ratings are 1..ratingLevels (in steps of ratingStep). */
  ratingLevels: number;
  /** Size of one rating step (0.5 = half stars); absent = 1. Ratings are whole multiples of it (shared/rating.ts). */
  ratingStep?: number;
  /** Multi-valued fields (item or user side) by field name: their raw values hold several values. */
  multiValued?: Record<string, MultiValuedRule>;
  /** What the loader changed or could not use, for the person running it (printed by `kser data prepare`). */
  notes?: string[];
  /** The source's own knowledge prefix, when it differs from KAR's (dbbook: 0, its profiles come from all train rows). */
  knowledgePrefix?: number;
}

/** One split's CTR samples: the feature rows (shared/feature-encoding.ts's layout) and, per sample, its label and ids. */
export interface SampleSplit extends EncodedRows {
  labels: Float32Array;
  /** Index into PreparedDataset.userIds of each sample's user. */
  userIndex: Int32Array;
  /**
   * Index into PreparedDataset.itemIds of each sample's target item: the raw id even when the item is out of the
   * vocabulary (a new item still has knowledge). Absent in datasets saved before it was recorded.
   */
  targetItem?: Int32Array;
}

export interface PreparedDataset {
  name: string;
  seed: number;
  spec: FeatureSpec;
  vocabulary: VocabularyBlob;
  /** Every user id, in a fixed order; samples refer to users by index. */
  userIds: string[];
  /** Every item id, in a fixed order; samples refer to their target items by index (SampleSplit.targetItem). */
  itemIds?: string[];
  train: SampleSplit;
  valid: SampleSplit;
  test: SampleSplit;
  /** Each user's profile as of the end of the data (attributes and latest history), for serving. */
  profiles: UserProfile[];
  /** Each user's first interactions: they feed only that user's knowledge, never a CTR sample. */
  knowledgePrefix: Record<string, RawInteraction[]>;
}

export type ChunkKind = "informative" | "hallucinated" | "redundant" | "homogeneous";
export const CHUNK_KINDS: ChunkKind[] = ["informative", "hallucinated", "redundant", "homogeneous"];

/** One knowledge field of a bank: per entity, K chunk vectors of dimension d, and a mask. */
export interface KnowledgeBankField {
  ids: string[];
  chunks: number;
  dim: number;
  /** ids.length * chunks * dim, entity-major then chunk-major. */
  values: Float32Array;
  /** ids.length * chunks; 1 = chunk present. */
  mask: Float32Array;
  /** ids.length * chunks indices into CHUNK_KINDS when known (simulated knowledge), else absent. */
  kinds?: Uint8Array;
}

export interface KnowledgeBank {
  bankId: string;
  encoder: string;
  user: KnowledgeBankField;
  item: KnowledgeBankField;
}
