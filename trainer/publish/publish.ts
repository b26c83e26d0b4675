/**
 * Publishes a KV bundle to a target, stage by stage (blob, data, manifest, pointer), so the pointers a reader
 * follows are written only after everything they point to is in place and verified. Any failure stops the run
 * before the pointer stage: the old rollout/config stays live. Re-running is safe: blobs are content-addressed
 * and skipped when already present, everything else is simply overwritten with the same bytes.
 * Every log line and error this module emits goes through the redactor.
 */

import { hash32 } from "../../shared/hash.ts";
import { kvKeys } from "../../shared/kv-keys.ts";
import { parseRolloutConfig, type RolloutConfig } from "../../shared/rollout.ts";
import { readRolloutConfig, recordInHistory } from "../rollout/store.ts";
import { UserFacingError } from "../util/errors.ts";
import { createRedactor, redactError } from "../util/redact.ts";
import { entriesByStage, type KvBundle, type KvEntry, STAGES, type Stage, sha256Hex, validateBundle, valueBytes } from "./kv-bundle.ts";
import type { KvTarget } from "./targets/types.ts";

export interface PublishOptions {
  /** Read written values back and compare sha256 (default true). */
  verify?: boolean;
  log?: (line: string) => void;
  /** Data entries read back per publish when verifying; blobs, manifests and pointers are all read back. */
  dataSample?: number;
  /** Values to mask in every message (the API token, for one). */
  secrets?: Iterable<string | undefined>;
  /** Called after each stage with (entries written so far, entries to write), for a progress bar. */
  onProgress?: (done: number, total: number) => void;
  /** Read-back attempts per key: KV is eventually consistent, so a remote read can briefly lag the write. */
  verifyAttempts?: number;
}

export interface PublishReport {
  written: Record<Stage, number>;
  /** Blobs already present with the same bytes. */
  skipped: number;
  verified: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A deterministic sample (by key hash) so a re-run checks the same keys and a failure can be reproduced. */
function sample(entries: KvEntry[], n: number): KvEntry[] {
  if (entries.length <= n) return entries;
  return [...entries].sort((a, b) => hash32(`verify:${a.key}`) - hash32(`verify:${b.key}`)).slice(0, n);
}

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

    for (const stage of STAGES) {
      let entries = stages.get(stage)!;
      if (entries.length === 0) continue;
      if (stage === "blob") {
        const before = entries.length;
        entries = await blobsToWrite(entries, target);
        report.skipped += before - entries.length;
        if (before > entries.length) log(`blob: ${before - entries.length} already present, skipped`);
      }
      if (stage === "pointer" && nextRollout) {
        // Keep the live config for `kser rollout rollback` before replacing it.
        await recordInHistory(target, await readRolloutConfig(target), nextRollout);
      }
      await target.putMany(entries.map(({ key, value }) => ({ key, value })));
      report.written[stage] += entries.length;
      log(`${stage}: wrote ${entries.length}`);
      options.onProgress?.(
        STAGES.slice(0, STAGES.indexOf(stage) + 1).reduce((n, s) => n + stages.get(s)!.length, 0),
        bundle.entries.length,
      );
      if (verify) {
        const checked = stage === "data" ? sample(entries, options.dataSample ?? 64) : entries;
        await verifyEntries(checked, target, options.verifyAttempts ?? (target.cheapReads ? 1 : 4));
        report.verified += checked.length;
        log(`${stage}: verified ${checked.length}`);
      }
    }
    log(`published: ${JSON.stringify(report.written)}, ${report.skipped} blobs skipped, ${report.verified} verified`);
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

/** Blobs not yet in the target. Presence of blob/<sha256> means the same bytes (KV writes are whole-value);
 * where reads are cheap the bytes are compared anyway, to repair anything written outside this tool. */
async function blobsToWrite(entries: KvEntry[], target: KvTarget): Promise<KvEntry[]> {
  const present = new Set(await target.list("blob/"));
  const out: KvEntry[] = [];
  for (const e of entries) {
    if (!present.has(e.key)) out.push(e);
    else if (target.cheapReads) {
      const existing = await target.get(e.key);
      if (existing === null || sha256Hex(existing) !== sha256Hex(e.value)) out.push(e);
    }
  }
  return out;
}

async function verifyEntries(entries: KvEntry[], target: KvTarget, attempts: number): Promise<void> {
  const bad: string[] = [];
  for (const e of entries) {
    const want = sha256Hex(e.value);
    let problem = "";
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const got = await target.get(e.key);
      problem = got === null ? "missing" : sha256Hex(got) === want ? "" : "sha256 differs";
      if (!problem) break;
      if (attempt < attempts) await sleep(500 * 2 ** (attempt - 1));
    }
    if (problem) bad.push(`${e.key} (${problem})`);
  }
  if (bad.length) {
    throw new UserFacingError(`verification failed for ${bad.length} of ${entries.length} keys: ${bad.slice(0, 10).join(", ")}`, 3);
  }
}
