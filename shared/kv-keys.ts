/**
 * The KV key layout shared by the publisher (trainer) and the reader (worker).
 * Immutable, content-addressed values first; mutable pointers (rollout config) last, so a reader that follows a
 * pointer never finds a missing target.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { hash32 } from "./hash.ts";
import { loneSurrogateAt } from "./ids.ts";

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

/** Which shard an entity lives in; the same function places (trainer) and finds (worker) it. */
export function shardOf(entityId: string, shardCount: number): number {
  if (!Number.isInteger(shardCount) || shardCount < 1) throw new Error(`shardCount must be a positive integer, got ${shardCount}`);
  return hash32(`shard:${entityId}`) % shardCount;
}

/** Ids of at most this many UTF-8 bytes stand in a KV key as they are (KV keys are limited to 512 bytes). */
export const KV_ID_VERBATIM_BYTES = 128;
const HASHED_PREFIX = "#";
const utf8 = new TextEncoder();

/**
 * How an entity id appears inside a KV key (the one place that decides it, for every id-keyed value): the id itself
 * when it is short enough, else "#" and the sha256 hex of its UTF-8 bytes (an id that itself starts with "#" is
 * hashed too, so the two forms never meet). Publisher and worker both build keys through here. Throws on a lone
 * surrogate, which has no UTF-8 form.
 */
export function entityKeyPart(id: string): string {
  const at = loneSurrogateAt(id);
  if (at >= 0) throw new Error(`id has a lone surrogate at index ${at}: it cannot be a KV key`);
  const bytes = utf8.encode(id);
  if (bytes.length <= KV_ID_VERBATIM_BYTES && !id.startsWith(HASHED_PREFIX)) return id;
  return `${HASHED_PREFIX}${bytesToHex(sha256(bytes))}`;
}
