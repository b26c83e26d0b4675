/** Where a KV bundle is published: local wrangler state or a Cloudflare KV namespace, behind one interface. */
export type KvValue = Uint8Array | string;

export interface KvPair {
  key: string;
  value: KvValue;
}

export interface KvTarget {
  /** Human-readable and safe to log: never contains a token. */
  readonly description: string;
  /** True when get() is cheap (local state): a read-back needs no retries for eventual consistency. */
  readonly cheapReads: boolean;
  /** The value's bytes, or null when the key is absent. */
  get(key: string): Promise<Uint8Array | null>;
  /** Text values of many keys in few requests (null when absent); only where the backend has a bulk read. */
  getTexts?(keys: string[]): Promise<Map<string, string | null>>;
  /** Writes every pair or throws; a throw may leave some of the pairs written (KV has no transactions). */
  putMany(pairs: KvPair[]): Promise<void>;
  /** Every key with the prefix (paginated internally). */
  list(prefix?: string): Promise<string[]>;
  delete(keys: string[]): Promise<void>;
  /** Releases what the target holds (the local workerd process); safe to call twice. */
  close(): Promise<void>;
}
