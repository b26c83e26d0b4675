import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { prepareDataset } from "../../trainer/data/prepare.ts";
import { loadDataset, saveDataset } from "../../trainer/data/store.ts";
import { generateSyntheticDataset } from "../../trainer/data/synthetic.ts";
import type { PreparedDataset } from "../../trainer/data/types.ts";
import { makeTempDir } from "./data-helpers.ts";

const temp = makeTempDir("store");
afterAll(temp.cleanup);
const prepared = prepareDataset(generateSyntheticDataset({ seed: 3, users: 80, items: 120 }), { seed: 5 });

describe("prepared dataset store", () => {
  it("round-trips every array, the vocabulary, profiles and knowledge prefixes", async () => {
    const dir = join(temp.dir, "roundtrip");
    await saveDataset(dir, prepared);
    const loaded = await loadDataset(dir);
    expect(loaded).toEqual(prepared);
    expect(loaded.train.histFeats).toBeInstanceOf(Int32Array);
    expect(loaded.train.labels).toBeInstanceOf(Float32Array);
  });

  it("replaces an existing dataset and leaves no temporary folders", async () => {
    const dir = join(temp.dir, "replace");
    await saveDataset(dir, prepared);
    const other = prepareDataset(generateSyntheticDataset({ seed: 4, users: 50, items: 100 }), { seed: 5 });
    await saveDataset(dir, other);
    expect((await loadDataset(dir)).train.count).toBe(other.train.count);
    expect(readdirSync(temp.dir).filter((n) => n.includes(".tmp-") || n.includes(".old-"))).toEqual([]);
  });

  it("never replaces a file or a folder with other files in it", async () => {
    const file = join(temp.dir, "ratings.csv");
    writeFileSync(file, "userId,movieId\n");
    await expect(saveDataset(file, prepared)).rejects.toThrow(`--out ${file} is a file; give a folder for the prepared dataset`);
    expect(readFileSync(file, "utf8")).toBe("userId,movieId\n");
    const busy = join(temp.dir, "busy");
    await saveDataset(join(busy, "inner"), prepared);
    await expect(saveDataset(busy, prepared)).rejects.toThrow(/busy is a folder with other files in it/);
    expect(existsSync(join(busy, "inner", "meta.json"))).toBe(true);
  });

  it("leaves the previous dataset intact when a save fails half-way", async () => {
    const dir = join(temp.dir, "atomic");
    await saveDataset(dir, prepared);
    const before = readFileSync(join(dir, "meta.json"), "utf8");
    // The binary arrays are written first; a BigInt in a profile makes the JSON step throw after them.
    const broken: PreparedDataset = { ...prepared, profiles: [{ userId: "x", attributes: { age: 1n as unknown as string }, history: [] }] };
    await expect(saveDataset(dir, broken)).rejects.toThrow(/BigInt/);
    expect(readFileSync(join(dir, "meta.json"), "utf8")).toBe(before);
    expect(await loadDataset(dir)).toEqual(prepared);
    expect(readdirSync(temp.dir).filter((n) => n.startsWith(".atomic"))).toEqual([]);
    // A first save that fails leaves nothing at all.
    const fresh = join(temp.dir, "fresh");
    await expect(saveDataset(fresh, broken)).rejects.toThrow();
    expect(existsSync(fresh)).toBe(false);
  });

  it("detects a damaged or foreign directory", async () => {
    const dir = join(temp.dir, "damaged");
    await saveDataset(dir, prepared);
    const file = join(dir, "train.labels.bin");
    const bytes = readFileSync(file);
    bytes[0] ^= 0xff;
    writeFileSync(file, bytes);
    await expect(loadDataset(dir)).rejects.toThrow(/checksum mismatch/);
    writeFileSync(file, bytes.subarray(4));
    await expect(loadDataset(dir)).rejects.toThrow(/expected \d+ values/);
    await expect(loadDataset(temp.dir)).rejects.toThrow(/not a prepared dataset/);
  });
});
