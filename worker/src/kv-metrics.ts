/**
 * Counts one request's KV reads: a thin wrapper around the KV binding's get that tallies reads, bytes returned and,
 * separately, the bytes of knowledge values (raw knowledge shards kn/..., precomputed item vectors iv/...). Reads
 * answered from the isolate's caches never reach KV and so are not counted. Only get is forwarded: the scoring path
 * reads nothing else.
 */
export interface KvReadStats {
  reads: number;
  bytes: number;
  knowledgeReads: number;
  knowledgeBytes: number;
}

function sizeOf(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (value instanceof ArrayBuffer) return value.byteLength;
  if (typeof value === "string") return value.length; // UTF-16 units: close enough for ASCII JSON
  return 0;
}

export function countingKv(kv: KVNamespace): { kv: KVNamespace; stats: KvReadStats } {
  const stats: KvReadStats = { reads: 0, bytes: 0, knowledgeReads: 0, knowledgeBytes: 0 };
  const get = async (key: string, options?: unknown) => {
    const value: unknown = await (kv.get as (k: string, o?: unknown) => Promise<unknown>)(key, options);
    const size = sizeOf(value);
    stats.reads++;
    stats.bytes += size;
    if (key.startsWith("kn/") || key.startsWith("iv/")) {
      stats.knowledgeReads++;
      stats.knowledgeBytes += size;
    }
    return value;
  };
  return { kv: { get } as unknown as KVNamespace, stats };
}
