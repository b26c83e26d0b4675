/**
 * The KV key layout shared by the publisher (trainer) and the reader (worker).
 * Immutable, content-addressed values first; mutable pointers (rollout config) last, so a reader that follows a
 * pointer never finds a missing target.
 */
import { hash32 } from "./hash.ts";

export type KnowledgeField = "user" | "item";

export const kvKeys = {
  /** An immutable binary blob (ONNX graph, vocabulary JSON) addressed by the sha256 hex of its bytes. */
  blob: (sha256: string) => `blob/${sha256}`,
  /** A model manifest (JSON), immutable once published. */
  model: (modelId: string) => `model/${modelId}`,
  /** The live rollout config (JSON): the one mutable pointer readers follow. */
  rolloutConfig: () => "rollout/config",
  /** Previous rollout configs, newest last (JSON array), kept for rollback. */
  rolloutHistory: () => "rollout/history",
  /** One shard of a knowledge bank: raw (compressed) chunk vectors of many entities. */
  knowledgeShard: (bankId: string, field: KnowledgeField, shard: number) => `kn/${bankId}/${field}/${shard}`,
  /** One shard of precomputed, aligned item-side extractor outputs for one model. */
  itemVectorShard: (modelId: string, shard: number) => `iv/${modelId}/${shard}`,
  /**
   * A user's profile (side features and recent history, JSON) in one profile set. A set is written whole with the
   * model whose manifest names it (manifest.profiles.set) and never changed after, so a live model never reads
   * profiles published for another one.
   */
  userProfile: (profileSet: string, userId: string) => `user/${profileSet}/${entityKeyPart(userId)}`,
} as const;

/** How an entity id appears inside a KV key (the one place that decides it, for every id-keyed value). */
export function entityKeyPart(id: string): string {
  return id;
}

/** Which shard an entity lives in; the same function places (trainer) and finds (worker) it. */
export function shardOf(entityId: string, shardCount: number): number {
  if (!Number.isInteger(shardCount) || shardCount < 1) throw new Error(`shardCount must be a positive integer, got ${shardCount}`);
  return hash32(`shard:${entityId}`) % shardCount;
}
