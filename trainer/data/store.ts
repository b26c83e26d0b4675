/**
 * Saves a prepared dataset to a directory and loads it back: typed arrays as raw little-endian binary files (one per
 * split and array, with a CRC-32 each), everything else as JSON. Everything is written into a temporary sibling
 * directory which is renamed into place at the end, so a crash or an error never leaves a half-written dataset.
 */
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { endianness } from "node:os";
import { join, resolve } from "node:path";
import { itemFeatureWidth, userFeatureWidth } from "../../shared/feature-encoding.ts";
import { crc32 } from "../../shared/hash.ts";
import { featureSpecSchema, vocabularyBlobSchema } from "../../shared/manifest.ts";
import { writeDirectoryAtomic } from "../util/atomic-write.ts";
import { UserFacingError } from "../util/errors.ts";
import type { PreparedDataset, SampleSplit } from "./types.ts";

export const PREPARED_FORMAT = "kser-prepared/1";
const SPLITS = ["train", "valid", "test"] as const;
const ARRAYS = ["itemFeats", "userFeats", "histFeats", "histRatings", "histMask", "labels", "userIndex", "targetItem"] as const;
/** Arrays a dataset saved before they were recorded may lack. */
const OPTIONAL: ReadonlySet<ArrayName> = new Set(["targetItem"]);
type ArrayName = (typeof ARRAYS)[number];
const DTYPE: Record<ArrayName, "int32" | "float32"> = {
  itemFeats: "int32",
  userFeats: "int32",
  histFeats: "int32",
  histRatings: "int32",
  histMask: "float32",
  labels: "float32",
  userIndex: "int32",
  targetItem: "int32",
};

interface Meta {
  format: string;
  name: string;
  seed: number;
  spec: unknown;
  counts: Record<string, number>;
  arrays: Record<string, { dtype: string; length: number; crc32: number }>;
}

if (endianness() !== "LE") throw new Error("the prepared-dataset format is little-endian; this machine is big-endian");

/** `--out` is replaced as a whole: only a new path, an empty folder or a previous prepared dataset may be named. */
async function checkOut(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined);
  if (!info) return;
  if (!info.isDirectory()) throw new UserFacingError(`--out ${dir} is a file; give a folder for the prepared dataset`);
  const names = await readdir(dir);
  if (names.length > 0 && !names.includes("meta.json"))
    throw new UserFacingError(
      `--out ${dir} is a folder with other files in it; give a new folder (a previous prepared dataset is replaced)`,
    );
}

export async function saveDataset(dir: string, data: PreparedDataset): Promise<void> {
  await checkOut(dir);
  await writeDirectoryAtomic(resolve(dir), async (temp) => {
    const meta: Meta = { format: PREPARED_FORMAT, name: data.name, seed: data.seed, spec: data.spec, counts: {}, arrays: {} };
    for (const split of SPLITS) {
      meta.counts[split] = data[split].count;
      for (const name of ARRAYS) {
        const array = data[split][name];
        if (!array) continue;
        const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
        const file = `${split}.${name}.bin`;
        await writeFile(join(temp, file), bytes);
        meta.arrays[file] = { dtype: DTYPE[name], length: array.length, crc32: crc32(bytes) };
      }
    }
    await writeFile(join(temp, "vocabulary.json"), JSON.stringify(data.vocabulary));
    await writeFile(
      join(temp, "users.json"),
      JSON.stringify({ userIds: data.userIds, itemIds: data.itemIds, profiles: data.profiles, knowledgePrefix: data.knowledgePrefix }),
    );
    // meta.json last: a directory without it is never a dataset.
    await writeFile(join(temp, "meta.json"), JSON.stringify(meta, null, 2));
  });
}

export async function loadDataset(dir: string): Promise<PreparedDataset> {
  const readJson = async (file: string): Promise<unknown> => {
    let text: string;
    try {
      text = await readFile(join(dir, file), "utf8");
    } catch {
      throw new UserFacingError(`${dir}: not a prepared dataset (no ${file}); run \`kser data prepare\``);
    }
    return JSON.parse(text);
  };
  const meta = (await readJson("meta.json")) as Meta;
  if (meta.format !== PREPARED_FORMAT) throw new UserFacingError(`${dir}: format ${meta.format}, expected ${PREPARED_FORMAT}`);
  const spec = featureSpecSchema.parse(meta.spec);
  const vocabulary = vocabularyBlobSchema.parse(await readJson("vocabulary.json"));
  const users = (await readJson("users.json")) as Pick<PreparedDataset, "userIds" | "itemIds" | "profiles" | "knowledgePrefix">;
  const Fi = itemFeatureWidth(spec);
  const Fu = userFeatureWidth(spec);
  const L = spec.historyLength;
  const width: Record<ArrayName, number> = {
    itemFeats: Fi,
    userFeats: Fu,
    histFeats: L * Fi,
    histRatings: L,
    histMask: L,
    labels: 1,
    userIndex: 1,
    targetItem: 1,
  };
  const splits = {} as Record<(typeof SPLITS)[number], SampleSplit>;
  for (const split of SPLITS) {
    const count = meta.counts[split];
    const arrays: Partial<Record<ArrayName, Int32Array | Float32Array>> = {};
    for (const name of ARRAYS) {
      const file = `${split}.${name}.bin`;
      const info = meta.arrays[file];
      if (!info && OPTIONAL.has(name)) continue;
      const bytes = await readFile(join(dir, file));
      const expected = count * width[name];
      if (!info || info.length !== expected || bytes.byteLength !== expected * 4) {
        throw new UserFacingError(`${join(dir, file)}: expected ${expected} values, found ${bytes.byteLength / 4}`);
      }
      if (crc32(bytes) !== info.crc32) throw new UserFacingError(`${join(dir, file)}: checksum mismatch (file damaged)`);
      // Copy into a fresh, aligned buffer (readFile's buffer may be pooled and unaligned).
      const aligned = new ArrayBuffer(bytes.byteLength);
      new Uint8Array(aligned).set(bytes);
      arrays[name] = DTYPE[name] === "int32" ? new Int32Array(aligned) : new Float32Array(aligned);
    }
    splits[split] = { count, ...arrays } as SampleSplit;
  }
  return {
    name: meta.name,
    seed: meta.seed,
    spec,
    vocabulary,
    userIds: users.userIds,
    ...(users.itemIds ? { itemIds: users.itemIds } : {}),
    train: splits.train,
    valid: splits.valid,
    test: splits.test,
    profiles: users.profiles,
    knowledgePrefix: users.knowledgePrefix,
  };
}
