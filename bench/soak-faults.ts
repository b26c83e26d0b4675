/**
 * The KV faults the soak injects into the local state `wrangler dev` serves, and their exact restoration: the
 * candidate model's backbone blob overwritten with random bytes, its knowledge shards (user knowledge and
 * precomputed item vectors) overwritten likewise, and the rollout config replaced by text that is not JSON.
 */
import { randomBytes } from "node:crypto";
import { kvKeys } from "../shared/kv-keys.ts";
import { parseManifest } from "../shared/manifest.ts";
import type { KvTarget } from "../trainer/kv/types.ts";

export interface Fault {
  name: "modelBlob" | "knowledgeShards" | "rolloutConfig";
  inject(): Promise<void>;
  restore(): Promise<void>;
}

async function mustGet(target: KvTarget, key: string): Promise<Uint8Array> {
  const value = await target.get(key);
  if (value === null) throw new Error(`the published state has no ${key}`);
  return value;
}

/** A fault that overwrites `keys` with `corrupt(original)` and puts the original bytes back. */
async function overwrite(target: KvTarget, name: Fault["name"], keys: string[], corrupt: (b: Uint8Array) => Uint8Array): Promise<Fault> {
  const originals = await Promise.all(keys.map(async (key) => ({ key, value: await mustGet(target, key) })));
  return {
    name,
    inject: () => target.putMany(originals.map(({ key, value }) => ({ key, value: corrupt(value) }))),
    restore: () => target.putMany(originals),
  };
}

const randomOfSameLength = (b: Uint8Array) => new Uint8Array(randomBytes(b.length));

/** The three faults for the model `modelId` of the published state. */
export async function soakFaults(target: KvTarget, modelId: string): Promise<Fault[]> {
  const manifest = parseManifest(JSON.parse(new TextDecoder().decode(await mustGet(target, kvKeys.model(modelId)))));
  if (!manifest.knowledge) throw new Error(`model ${modelId} has no knowledge bank: the shard fault needs one`);
  const shardKeys = [...(await target.list(`kn/${manifest.knowledge.bankId}/user/`)), ...(await target.list(`iv/${modelId}/`))];
  if (shardKeys.length === 0) throw new Error(`no knowledge shards of ${modelId} in the published state`);
  return [
    await overwrite(target, "modelBlob", [kvKeys.blob(manifest.graphs.backbone.blob)], randomOfSameLength),
    await overwrite(target, "knowledgeShards", shardKeys, randomOfSameLength),
    await overwrite(target, "rolloutConfig", [kvKeys.rolloutConfig()], () => new TextEncoder().encode("{ not json")),
  ];
}
