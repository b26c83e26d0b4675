/**
 * The publish target of a nightly run (local wrangler state or Cloudflare KV), optionally wrapped so that it fails
 * after N written pairs: KSER_NIGHTLY_FAIL_AFTER_WRITES=N is a fault drill (and what the tests use) showing that a
 * publish cut off halfway leaves the live rollout pointer on the previous, complete version.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { openTarget } from "../kv/open.ts";
import type { KvPair, KvTarget } from "../kv/types.ts";
import type { NightlyConfig } from "./config.ts";

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export class InjectedPublishFault extends Error {
  constructor(after: number) {
    super(`injected fault: the target failed after ${after} writes (KSER_NIGHTLY_FAIL_AFTER_WRITES)`);
    this.name = "InjectedPublishFault";
  }
}

/** Passes writes through until `limit` pairs have been written, then writes nothing more and throws. */
export function failingAfter(inner: KvTarget, limit: number): KvTarget {
  let written = 0;
  return {
    description: `${inner.description} (failing after ${limit} writes)`,
    cheapReads: inner.cheapReads,
    get: (key) => inner.get(key),
    ...(inner.getTexts ? { getTexts: (keys: string[]) => inner.getTexts!(keys) } : {}),
    list: (prefix) => inner.list(prefix),
    delete: (keys) => inner.delete(keys),
    close: () => inner.close(),
    async putMany(pairs: KvPair[]) {
      const room = Math.max(0, limit - written);
      if (room > 0) await inner.putMany(pairs.slice(0, room));
      written += Math.min(room, pairs.length);
      if (pairs.length > room) throw new InjectedPublishFault(limit);
    },
  };
}

export async function openNightlyTarget(
  config: NightlyConfig,
  env: NodeJS.ProcessEnv = process.env,
  log?: (line: string) => void,
): Promise<{ target: KvTarget; secrets: string[] }> {
  const p = config.publish;
  const opened =
    p.target === "local"
      ? await openTarget({ kind: "local", configPath: p.wranglerConfig ?? path.join(projectRoot, "wrangler.toml"), persistTo: p.persistTo })
      : await openTarget({ kind: "cloudflare", env, log });
  const limit = env.KSER_NIGHTLY_FAIL_AFTER_WRITES;
  if (limit !== undefined && limit !== "") return { ...opened, target: failingAfter(opened.target, Number.parseInt(limit, 10)) };
  return opened;
}
