/**
 * Reading and writing the live rollout config and its history in KV. The history (kvKeys.rolloutHistory) holds
 * previous configs, newest last, bounded to HISTORY_LIMIT, so `rollback` can restore the one before.
 * KV has no transactions, so the write order is chosen for what a crash in between leaves behind:
 * - apply: history first, then config. A crash leaves an extra history entry equal to the live config (a later
 *   rollback is then a no-op once), never a lost one.
 * - rollback: config first, then history. A crash leaves the restored config live and its entry still in the
 *   history (rolling back again re-applies it), never a popped entry whose config was not written.
 */
import { kvKeys } from "../../shared/kv-keys.ts";
import { parseRolloutConfig, type RolloutConfig } from "../../shared/rollout.ts";
import type { KvTarget } from "../kv/types.ts";
import { UserFacingError } from "../util/errors.ts";

export const HISTORY_LIMIT = 20;

const decoder = new TextDecoder();

function parseJson(bytes: Uint8Array, key: string): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    throw new UserFacingError(`${key} in KV is not JSON`);
  }
}

export async function readRolloutConfig(target: KvTarget): Promise<RolloutConfig | null> {
  const bytes = await target.get(kvKeys.rolloutConfig());
  if (bytes === null) return null;
  try {
    return parseRolloutConfig(parseJson(bytes, kvKeys.rolloutConfig()));
  } catch (error) {
    throw new UserFacingError(`live ${kvKeys.rolloutConfig()}: ${(error as Error).message}`);
  }
}

export async function readRolloutHistory(target: KvTarget): Promise<RolloutConfig[]> {
  const bytes = await target.get(kvKeys.rolloutHistory());
  if (bytes === null) return [];
  const json = parseJson(bytes, kvKeys.rolloutHistory());
  if (!Array.isArray(json)) throw new UserFacingError(`${kvKeys.rolloutHistory()} in KV is not a JSON array`);
  return json.map((entry, i) => {
    try {
      return parseRolloutConfig(entry);
    } catch (error) {
      throw new UserFacingError(`${kvKeys.rolloutHistory()}[${i}]: ${(error as Error).message}`);
    }
  });
}

/** Canonical serialisation: the worker and the CLI read it back with parseRolloutConfig. */
export function serializeRolloutConfig(config: RolloutConfig): string {
  return JSON.stringify(config);
}

function sameConfig(a: RolloutConfig | null, b: RolloutConfig | null): boolean {
  return a !== null && b !== null && serializeRolloutConfig(a) === serializeRolloutConfig(b);
}

/** Pushes the live config (if any, and if it differs from `next`) onto the bounded history. */
export async function recordInHistory(target: KvTarget, live: RolloutConfig | null, next: RolloutConfig): Promise<void> {
  if (live === null || sameConfig(live, next)) return;
  const history = await readRolloutHistory(target);
  history.push(live);
  await target.putMany([{ key: kvKeys.rolloutHistory(), value: JSON.stringify(history.slice(-HISTORY_LIMIT)) }]);
}

/** Validates `next`, records the live config in the history, then makes `next` live. Returns the previous config. */
export async function applyRolloutConfig(target: KvTarget, next: RolloutConfig): Promise<RolloutConfig | null> {
  const checked = parseRolloutConfig(next);
  const live = await readRolloutConfig(target);
  if (sameConfig(live, checked)) return live;
  await recordInHistory(target, live, checked);
  await target.putMany([{ key: kvKeys.rolloutConfig(), value: serializeRolloutConfig(checked) }]);
  return live;
}

/** The config a rollback would restore (the newest history entry), or null when there is none. */
export async function rollbackCandidate(target: KvTarget): Promise<RolloutConfig | null> {
  const history = await readRolloutHistory(target);
  return history.at(-1) ?? null;
}

/** Restores the newest history entry exactly (same salt, variants, weights and updatedAt) and drops it from the history. */
export async function rollbackRolloutConfig(target: KvTarget): Promise<{ restored: RolloutConfig; replaced: RolloutConfig | null }> {
  const history = await readRolloutHistory(target);
  const restored = history.pop();
  if (!restored) throw new UserFacingError("nothing to roll back to: the rollout history is empty");
  const replaced = await readRolloutConfig(target);
  await target.putMany([{ key: kvKeys.rolloutConfig(), value: serializeRolloutConfig(restored) }]);
  await target.putMany([{ key: kvKeys.rolloutHistory(), value: JSON.stringify(history) }]);
  return { restored, replaced };
}
