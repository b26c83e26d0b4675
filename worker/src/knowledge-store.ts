/**
 * Packed vector shards from KV (raw knowledge chunks and precomputed item vectors): read as arrayBuffer, decoded
 * and verified with decodeShard, kept decoded in a byte-budgeted LRU. KV's multi-key get cannot return binary, so
 * one shard per distinct shard index is fetched, in parallel. The cache holds decoded shards only; a read in
 * progress is shared within its request alone (request-reads.ts).
 */
import { shardOf } from "../../shared/kv-keys.ts";
import { type DecodedShard, decodeShard, type EntityVectors } from "../../shared/vector-codec.ts";
import { ByteLru } from "./byte-lru.ts";
import { errorMessage, logRepeated } from "./log.ts";
import type { RequestReads } from "./request-reads.ts";

export interface ShardLookup {
  /** Per requested id: its vectors, or undefined when absent (missing shard, id not in shard, corrupt shard). */
  vectors: (EntityVectors | undefined)[];
  /** Shards that could not be used, with why (logged already). */
  faults: { key: string; reason: string }[];
}

export interface ShardShape {
  chunks: number;
  dim: number;
}

/** Missing shards are remembered briefly so a hot missing key does not cost a KV read per request. */
const MISSING_TTL_MS = 30_000;

export class ShardStore {
  private readonly cache: ByteLru<DecodedShard>;
  private readonly missing = new Map<string, number>();

  constructor(budgetBytes: number) {
    this.cache = new ByteLru(budgetBytes);
  }

  /** Vectors of each id, reading the shards they hash to (kvKeys + shardOf, the trainer's placement). */
  async lookup(
    kv: KVNamespace,
    reads: RequestReads,
    keyOf: (shard: number) => string,
    shardCount: number,
    ids: string[],
    shape: ShardShape,
  ): Promise<ShardLookup> {
    const keys = ids.map((id) => keyOf(shardOf(id, shardCount)));
    const distinct = [...new Set(keys)];
    const faults: ShardLookup["faults"] = [];
    const shards = new Map<string, DecodedShard | null>();
    await Promise.all(
      distinct.map(async (key) => {
        try {
          const shard = await this.shard(kv, reads, key);
          if (shard && (shard.chunks !== shape.chunks || shard.dim !== shape.dim)) {
            throw new Error(`shard shape ${shard.chunks}x${shard.dim}, manifest says ${shape.chunks}x${shape.dim}`);
          }
          shards.set(key, shard);
        } catch (e) {
          const reason = errorMessage(e);
          faults.push({ key, reason });
          logRepeated("warn", "shard_unusable", `${key}\u0000${reason}`, { key, reason });
          shards.set(key, null);
        }
      }),
    );
    return { vectors: ids.map((id, i) => shards.get(keys[i])?.get(id)), faults };
  }

  /**
   * Starts reading the shards `ids` hash to, without waiting and without reporting: a later lookup of the same
   * shards in the same request joins these reads (or finds them cached) and reports what was wrong with them.
   */
  warm(kv: KVNamespace, reads: RequestReads, keyOf: (shard: number) => string, shardCount: number, ids: string[]): void {
    for (const key of new Set(ids.map((id) => keyOf(shardOf(id, shardCount))))) this.shard(kv, reads, key).catch(() => undefined);
  }

  /** One decoded shard, null when the key is absent; throws ShardFormatError when the value is corrupt. */
  async shard(kv: KVNamespace, reads: RequestReads, key: string): Promise<DecodedShard | null> {
    const cached = this.cache.get(key);
    if (cached) return cached;
    const missingSince = this.missing.get(key);
    if (missingSince !== undefined && Date.now() - missingSince < MISSING_TTL_MS) return null;
    return reads.once(`shard:${key}`, () => this.read(kv, key));
  }

  private async read(kv: KVNamespace, key: string): Promise<DecodedShard | null> {
    const buffer = await kv.get(key, "arrayBuffer");
    if (buffer === null) {
      this.missing.set(key, Date.now());
      return null;
    }
    this.missing.delete(key);
    const shard = decodeShard(buffer);
    // Decoded shards keep the encoded bytes plus an id index: count the bytes twice as a rough upper bound.
    this.cache.set(key, shard, shard.byteLength * 2);
    return shard;
  }

  clear(): void {
    this.cache.clear();
    this.missing.clear();
  }

  stats() {
    return { ...this.cache.stats(), missingRemembered: this.missing.size };
  }
}
