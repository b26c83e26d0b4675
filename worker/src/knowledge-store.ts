/**
 * Packed vector shards from KV (raw knowledge chunks and precomputed item vectors): read as arrayBuffer, decoded
 * and verified with decodeShard, kept decoded in a byte-budgeted LRU. KV's multi-key get cannot return binary, so
 * one shard per distinct shard index is fetched, in parallel.
 */
import { shardOf } from "../../shared/kv-keys.ts";
import { type DecodedShard, decodeShard, type EntityVectors } from "../../shared/vector-codec.ts";
import { ByteLru } from "./byte-lru.ts";
import { errorMessage, logEvent } from "./log.ts";

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
  private readonly inflight = new Map<string, Promise<DecodedShard | null>>();

  constructor(budgetBytes: number) {
    this.cache = new ByteLru(budgetBytes);
  }

  /** Vectors of each id, reading the shards they hash to (kvKeys + shardOf, the trainer's placement). */
  async lookup(
    kv: KVNamespace,
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
          const shard = await this.shard(kv, key);
          if (shard && (shard.chunks !== shape.chunks || shard.dim !== shape.dim)) {
            throw new Error(`shard shape ${shard.chunks}x${shard.dim}, manifest says ${shape.chunks}x${shape.dim}`);
          }
          shards.set(key, shard);
        } catch (e) {
          const reason = errorMessage(e);
          faults.push({ key, reason });
          logEvent("warn", "shard_unusable", { key, reason });
          shards.set(key, null);
        }
      }),
    );
    return { vectors: ids.map((id, i) => shards.get(keys[i])?.get(id)), faults };
  }

  /**
   * Starts reading the shards `ids` hash to, without waiting and without reporting: a later lookup of the same
   * shards joins these reads (or finds them cached) and reports what was wrong with them.
   */
  warm(kv: KVNamespace, keyOf: (shard: number) => string, shardCount: number, ids: string[]): void {
    for (const key of new Set(ids.map((id) => keyOf(shardOf(id, shardCount))))) this.shard(kv, key).catch(() => undefined);
  }

  /** One decoded shard, null when the key is absent; throws ShardFormatError when the value is corrupt. */
  async shard(kv: KVNamespace, key: string): Promise<DecodedShard | null> {
    const cached = this.cache.get(key);
    if (cached) return cached;
    const missingSince = this.missing.get(key);
    if (missingSince !== undefined && Date.now() - missingSince < MISSING_TTL_MS) return null;
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.read(kv, key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
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
