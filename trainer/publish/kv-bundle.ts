/**
 * A KV bundle: every key/value the trainer wants published, tagged with the stage that fixes its upload order.
 * Blobs (content-addressed, immutable) go first, then data (knowledge shards, item vectors, user profiles), then
 * manifests, then pointers (rollout/config) last, so a reader never follows a pointer to something missing.
 * On disk a bundle is a directory: one file per value under values/ and an index.json with keys, stages, sizes and
 * sha256, written to a temporary sibling and renamed into place so a reader never sees half a bundle.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { kvKeys } from "../../shared/kv-keys.ts";
import { formatIssues } from "../../shared/manifest.ts";
import { keyProblem, MAX_VALUE_BYTES } from "../kv/limits.ts";
import { writeDirectoryAtomic } from "../util/atomic-write.ts";
import { UserFacingError } from "../util/errors.ts";

export const STAGES = ["blob", "data", "manifest", "pointer"] as const;
export type Stage = (typeof STAGES)[number];

export interface KvEntry {
  key: string;
  value: Uint8Array | string;
  stage: Stage;
}

export interface KvBundle {
  entries: KvEntry[];
}

export const BUNDLE_SCHEMA = "kser-kv-bundle/1";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function valueBytes(value: Uint8Array | string): Uint8Array {
  return typeof value === "string" ? encoder.encode(value) : value;
}

export function sha256Hex(value: Uint8Array | string): string {
  return createHash("sha256").update(valueBytes(value)).digest("hex");
}

/** A content-addressed blob entry: the key is derived from the bytes, so the same bytes always land on one key. */
export function blobEntry(bytes: Uint8Array): KvEntry {
  return { key: kvKeys.blob(sha256Hex(bytes)), value: bytes, stage: "blob" };
}

export function jsonEntry(key: string, value: unknown, stage: Exclude<Stage, "blob">): KvEntry {
  return { key, value: JSON.stringify(value), stage };
}

/** Checks KV limits, unique keys and content addressing of blobs; throws listing every problem found. */
export function validateBundle(bundle: KvBundle): void {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const [i, e] of bundle.entries.entries()) {
    const where = `entries.${i} (${e.key.slice(0, 80)})`;
    if (!STAGES.includes(e.stage)) problems.push(`${where}: unknown stage ${String(e.stage)}`);
    const kp = keyProblem(e.key);
    if (kp) problems.push(`${where}: key ${kp}`);
    if (seen.has(e.key)) problems.push(`${where}: duplicate key`);
    seen.add(e.key);
    const bytes = valueBytes(e.value);
    if (bytes.length > MAX_VALUE_BYTES) problems.push(`${where}: value of ${bytes.length} bytes exceeds KV's 25 MiB`);
    const isBlobKey = e.key.startsWith("blob/");
    if (e.stage === "blob" && e.key !== kvKeys.blob(sha256Hex(bytes))) problems.push(`${where}: blob key is not blob/<sha256 of value>`);
    if (e.stage !== "blob" && isBlobKey) problems.push(`${where}: blob/ keys must be in the blob stage`);
  }
  if (problems.length) throw new UserFacingError(`invalid KV bundle: ${problems.slice(0, 20).join("; ")}`);
}

/** Entries grouped by stage, in upload order. */
export function entriesByStage(bundle: KvBundle): Map<Stage, KvEntry[]> {
  const out = new Map<Stage, KvEntry[]>(STAGES.map((s) => [s, []]));
  for (const e of bundle.entries) out.get(e.stage)!.push(e);
  return out;
}

const indexSchema = z.object({
  schema: z.literal(BUNDLE_SCHEMA),
  entries: z.array(
    z.object({
      key: z.string(),
      stage: z.enum(STAGES),
      file: z.string().regex(/^values\/[0-9]{6,}\.bin$/),
      /** "utf8" values are read back as strings, "binary" as bytes, so a round trip keeps the value's type. */
      encoding: z.enum(["utf8", "binary"]),
      bytes: z.number().int().min(0),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
    }),
  ),
});
export type BundleIndex = z.infer<typeof indexSchema>;

/** Writes the bundle to `dir` (replacing any bundle there) through a temporary sibling directory and a rename. */
export async function writeBundle(dir: string, bundle: KvBundle): Promise<BundleIndex> {
  validateBundle(bundle);
  return writeDirectoryAtomic(dir, async (tmp) => {
    await mkdir(join(tmp, "values"));
    const index: BundleIndex = { schema: BUNDLE_SCHEMA, entries: [] };
    for (const [i, e] of bundle.entries.entries()) {
      const bytes = valueBytes(e.value);
      const file = `values/${String(i).padStart(6, "0")}.bin`;
      await writeFile(join(tmp, file), bytes);
      index.entries.push({
        key: e.key,
        stage: e.stage,
        file,
        encoding: typeof e.value === "string" ? "utf8" : "binary",
        bytes: bytes.length,
        sha256: sha256Hex(bytes),
      });
    }
    // index.json last: a directory without it is recognisably incomplete.
    await writeFile(join(tmp, "index.json"), `${JSON.stringify(index, null, 1)}\n`);
    return index;
  });
}

/** Reads a bundle written by writeBundle, checking every value's size and sha256 against the index. */
export async function readBundle(dir: string): Promise<KvBundle> {
  let raw: string;
  try {
    raw = await readFile(join(dir, "index.json"), "utf8");
  } catch {
    throw new UserFacingError(`${dir}: not a KV bundle (no index.json)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new UserFacingError(`${join(dir, "index.json")}: not JSON (${(error as Error).message})`);
  }
  const parsed = indexSchema.safeParse(json);
  if (!parsed.success) throw new UserFacingError(`${join(dir, "index.json")}: ${formatIssues(parsed.error.issues)}`);
  const entries: KvEntry[] = [];
  for (const meta of parsed.data.entries) {
    const bytes = new Uint8Array(await readFile(join(dir, meta.file)));
    if (bytes.length !== meta.bytes || sha256Hex(bytes) !== meta.sha256) {
      throw new UserFacingError(`${join(dir, meta.file)} (key ${meta.key}): size or sha256 differs from index.json`);
    }
    entries.push({ key: meta.key, stage: meta.stage, value: meta.encoding === "utf8" ? decoder.decode(bytes) : bytes });
  }
  const bundle = { entries };
  validateBundle(bundle);
  return bundle;
}
