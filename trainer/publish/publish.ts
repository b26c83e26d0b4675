/**
 * Publishes a KV bundle to a target, stage by stage (blob, data, manifest, pointer), so the pointers a reader
 * follows are written only after everything they point to is in place and verified. Any failure stops the run
 * before the pointer stage: the old rollout/config stays live.
 *
 * "Verified" means: every key of the bundle was read back from the target in this run and its bytes hash to the
 * bundle's sha256. A blob already present is reused only after that read shows the same bytes (otherwise it is
 * rewritten); every other key is written, then read back. Reads that come back missing or different are retried
 * (KV is eventually consistent) up to verifyAttempts rounds; after that the publish fails with exit code 3.
 * With verify: false nothing is read back and every blob is written: use it only on a target made for the run.
 * Every log line and error this module emits goes through the redactor.
 */

import { kvKeys } from "../../shared/kv-keys.ts";
import { parseRolloutConfig, type RolloutConfig } from "../../shared/rollout.ts";
import { mapPool } from "../knowledge/providers/pool.ts";
import type { KvTarget } from "../kv/types.ts";
import { readRolloutConfig, recordInHistory } from "../rollout/store.ts";
import { UserFacingError } from "../util/errors.ts";
import { createRedactor, redactError } from "../util/redact.ts";
import { entriesByStage, type KvBundle, type KvEntry, STAGES, type Stage, sha256Hex, validateBundle, valueBytes } from "./kv-bundle.ts";

export interface PublishOptions {
  /** Read every key back and compare sha256 (default true); false also rewrites every blob. */
  verify?: boolean;
  log?: (line: string) => void;
  /** Values to mask in every message (the API token, for one). */
  secrets?: Iterable<string | undefined>;
  /** Called after each stage with (entries written so far, entries to write), for a progress bar. */
  onProgress?: (done: number, total: number) => void;
  /** Read-back rounds per stage (default 1 where reads are cheap, else 4): a remote read can briefly lag the write. */
  verifyAttempts?: number;
  /** Read-back requests in flight (default 8). */
  verifyConcurrency?: number;
}

export interface PublishReport {
  written: Record<Stage, number>;
  /** Blobs already present whose bytes were read and matched: not written again. */
  skipped: number;
  /** Keys read back with the expected sha256 (every key of the bundle when verifying). */
  verified: number;
}

export const DEFAULT_VERIFY_CONCURRENCY = 8;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function publishBundle(bundle: KvBundle, target: KvTarget, options: PublishOptions = {}): Promise<PublishReport> {
  const redact = createRedactor(options.secrets ?? []);
  const log = (line: string) => options.log?.(redact(line));
  const verify = options.verify ?? true;
  const report: PublishReport = { written: { blob: 0, data: 0, manifest: 0, pointer: 0 }, skipped: 0, verified: 0 };
  try {
    validateBundle(bundle);
    const stages = entriesByStage(bundle);
    const pointers = stages.get("pointer")!;
    // Validate the rollout pointer before anything is written: a bad config must not leave a half-published run.
    const rolloutEntry = pointers.find((e) => e.key === kvKeys.rolloutConfig());
    const nextRollout = rolloutEntry ? parseRolloutConfig(JSON.parse(new TextDecoder().decode(valueBytes(rolloutEntry.value)))) : null;
    if (nextRollout) await requireManifests(nextRollout, stages.get("manifest")!, target);
    log(`publishing ${bundle.entries.length} entries to ${target.description}`);

    const reads = {
      attempts: options.verifyAttempts ?? (target.cheapReads ? 1 : 4),
      concurrency: options.verifyConcurrency ?? DEFAULT_VERIFY_CONCURRENCY,
    };
    for (const stage of STAGES) {
      let entries = stages.get(stage)!;
      if (entries.length === 0) continue;
      if (stage === "blob" && verify) {
        const reusable = await blobsAlreadyThere(entries, target, reads.concurrency, log);
        entries = entries.filter((e) => !reusable.has(e.key));
        report.skipped += reusable.size;
        report.verified += reusable.size;
      }
      if (stage === "pointer" && nextRollout) {
        // Keep the live config for `kser rollout rollback` before replacing it.
        await recordInHistory(target, await readRolloutConfig(target), nextRollout);
      }
      if (entries.length > 0) {
        await target.putMany(entries.map(({ key, value }) => ({ key, value })));
        report.written[stage] += entries.length;
        log(`${stage}: wrote ${entries.length}`);
      }
      options.onProgress?.(
        STAGES.slice(0, STAGES.indexOf(stage) + 1).reduce((n, s) => n + stages.get(s)!.length, 0),
        bundle.entries.length,
      );
      if (verify && entries.length > 0) {
        await verifyEntries(entries, target, reads.attempts, reads.concurrency);
        report.verified += entries.length;
        log(`${stage}: verified ${entries.length}`);
      }
    }
    log(`published: ${JSON.stringify(report.written)}, ${report.skipped} blobs already present, ${report.verified} verified`);
    return report;
  } catch (error) {
    const safe = redactError(error, redact);
    log(`publish failed, pointers not updated past the failed stage: ${safe.message}`);
    throw safe;
  }
}

/**
 * Every model the bundle's rollout config names must have a manifest, in the bundle or already on the target:
 * otherwise the worker would be pointed at a model it cannot load. Checked before anything is written.
 */
async function requireManifests(config: RolloutConfig, manifests: KvEntry[], target: KvTarget): Promise<void> {
  const inBundle = new Set(manifests.map((e) => e.key));
  const missing: string[] = [];
  for (const id of new Set(config.variants.map((v) => v.modelId))) {
    if (!inBundle.has(kvKeys.model(id)) && (await target.get(kvKeys.model(id))) === null) missing.push(id);
  }
  if (missing.length)
    throw new UserFacingError(
      `the bundle's rollout config names model ${missing.join(", ")}, with no manifest in the bundle or on ${target.description}: nothing published`,
    );
}

/**
 * The blobs already on the target with exactly the bundle's bytes (read and hashed here: a key alone proves
 * nothing, since an earlier run may have been cut off or corrupted mid-write). Any other is written again.
 */
async function blobsAlreadyThere(entries: KvEntry[], target: KvTarget, concurrency: number, log: (line: string) => void) {
  const got = await readHashes(entries, target, concurrency);
  const same = new Set(entries.filter((e) => got.get(e.key) === sha256Hex(e.value)).map((e) => e.key));
  const differ = entries.filter((e) => got.get(e.key) !== null && !same.has(e.key));
  if (same.size) log(`blob: ${same.size} already present with the same sha256, not written again`);
  if (differ.length) log(`blob: ${differ.length} present with other bytes, written again: ${differ.map((e) => e.key).join(", ")}`);
  return same;
}

/** sha256 of each entry's stored value (null when absent); text values go through the target's bulk read if it has one. */
async function readHashes(entries: KvEntry[], target: KvTarget, concurrency: number): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  const texts = target.getTexts ? entries.filter((e) => typeof e.value === "string") : [];
  if (texts.length) {
    const values = await target.getTexts!(texts.map((e) => e.key));
    for (const e of texts) {
      const v = values.get(e.key);
      out.set(e.key, v === undefined || v === null ? null : sha256Hex(v));
    }
  }
  const rest = entries.filter((e) => !out.has(e.key));
  await mapPool(rest, concurrency, async (e) => {
    const v = await target.get(e.key);
    out.set(e.key, v === null ? null : sha256Hex(v));
  });
  return out;
}

/** Reads every entry back, up to `attempts` rounds for the ones still missing or different; throws (exit 3) naming them. */
async function verifyEntries(entries: KvEntry[], target: KvTarget, attempts: number, concurrency: number): Promise<void> {
  const want = new Map(entries.map((e) => [e.key, sha256Hex(e.value)]));
  let pending = entries;
  const problems = new Map<string, string>();
  for (let attempt = 1; attempt <= attempts && pending.length > 0; attempt++) {
    if (attempt > 1) await sleep(500 * 2 ** (attempt - 2));
    const got = await readHashes(pending, target, concurrency);
    problems.clear();
    for (const e of pending) {
      const h = got.get(e.key);
      if (h !== want.get(e.key)) problems.set(e.key, h === null || h === undefined ? "missing" : "sha256 differs");
    }
    pending = pending.filter((e) => problems.has(e.key));
  }
  if (problems.size) {
    const named = [...problems].slice(0, 10).map(([key, why]) => `${key} (${why})`);
    throw new UserFacingError(`verification failed for ${problems.size} of ${entries.length} keys: ${named.join(", ")}`, 3);
  }
}
