/**
 * The generic source beyond one interaction file: an items table joined by id with pipe-separated genres as a bag of
 * values, half-star ratings read the same way by label and history (and by the worker's encoder), a given split
 * (column or files), Parquet with every common codec, `kser data init-config`, and bad input named by file, line
 * and column.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parquetMetadataAsync } from "hyparquet";
import { parquetWriteFile } from "hyparquet-writer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FeatureEncoder, itemFeatureWidth } from "../../shared/feature-encoding.ts";
import { scoreRequestSchema } from "../../shared/score-api.ts";
import { loadGeneric } from "../../trainer/data/generic.ts";
import { initGenericConfig } from "../../trainer/data/init-config.ts";
import { prepareDataset } from "../../trainer/data/prepare.ts";
import { InputFormatError } from "../../trainer/util/errors.ts";
import { makeTempDir } from "./data-helpers.ts";
import { MOVIELENS_LATEST_CONFIG, type MovieLensLatestFiles, writeMovieLensLatest } from "./fixtures/movielens-latest.ts";
import { CODECS, parquetCompressors } from "./fixtures/parquet-codecs.ts";

const temp = makeTempDir("generic");
afterAll(temp.cleanup);
let counter = 0;
function folder(files: Record<string, string> = {}): string {
  const dir = join(temp.dir, `case-${counter++}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

async function inputError(promise: Promise<unknown>): Promise<InputFormatError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InputFormatError);
  return error as InputFormatError;
}

let ml: string;
let files: MovieLensLatestFiles;
beforeAll(() => {
  ml = folder();
  files = writeMovieLensLatest(ml, { seed: 3 });
  writeFileSync(join(ml, "config.json"), JSON.stringify(MOVIELENS_LATEST_CONFIG));
});

describe("ratings + items table (MovieLens latest shape)", () => {
  it("joins movies.csv by id; genres become single values, not combinations", async () => {
    const raw = await loadGeneric(join(ml, "config.json"));
    expect(raw.interactions.length).toBe(files.ratingCount);
    expect(raw.items.length).toBe(80); // every movie of the table, rated or not
    const story = raw.items.find((i) => i.id === "1")!;
    expect(story.title).toBe("Story, The 0 (1980)");
    expect(story.genres.length).toBeGreaterThan(0);
    expect(story.attributes.genres).toBe(story.genres.join("|"));
    const data = prepareDataset(raw, { seed: 1 });
    const genres = data.spec.itemFields.find((f) => f.name === "genres")!;
    expect(genres.bag).toEqual({ size: 4, separator: "|" });
    // 8 genres and "(no genres listed)" (when a train item has it): values, never "Action|Comedy".
    expect(data.vocabulary.fields.genres.slice(1).every((g) => !g.includes("|"))).toBe(true);
    expect(data.vocabulary.fields.genres.length).toBeLessThanOrEqual(10);
    expect(itemFeatureWidth(data.spec)).toBe(5);
    const row = data.vocabulary.itemFeatures[data.vocabulary.fields.item_id.indexOf("1")];
    const known = story.genres.map((g) => data.vocabulary.fields.genres.indexOf(g));
    expect(row).toEqual([row[0], ...known, ...new Array(4 - known.length).fill(0)]);
  });

  it("reads half stars with one rule: 3.5 is negative in the label and 7 (not 8) in the history, in trainer and worker", async () => {
    const raw = await loadGeneric(join(ml, "config.json"));
    expect(raw.ratingStep).toBe(0.5);
    const data = prepareDataset(raw, { seed: 1, knowledgePrefix: 2 });
    expect(data.spec.ratingVocab).toBe(11);
    expect(data.spec.ratingStep).toBe(0.5);
    const encoder = new FeatureEncoder(data.spec, data.vocabulary);
    expect([0.5, 3.5, 4, 5].map((r) => encoder.ratingIndex(r))).toEqual([1, 7, 8, 10]);
    // Each sample's label and each history rating come from the same ratings; check them against the raw log.
    const profile = data.profiles.find((p) => p.history.some((h) => h.rating === 3.5))!;
    expect(profile).toBeDefined();
    const rows = encoder.encode({ attributes: {}, history: profile.history, candidates: ["1"] });
    const L = data.spec.historyLength;
    const last = profile.history.slice(-L);
    expect([...rows.histRatings]).toEqual(last.map((h) => Math.round(h.rating! * 2)));
    const labels = [...data.train.labels, ...data.valid.labels, ...data.test.labels];
    const positives = raw.interactions.filter((i) => i.rating >= 4).length;
    const prefix = Object.values(data.knowledgePrefix).flat();
    expect(labels.filter((l) => l === 1).length).toBe(positives - prefix.filter((i) => i.rating >= 4).length);
    // The score API takes the same half-star history.
    const request = scoreRequestSchema(10).safeParse({ userId: "1", history: [{ itemId: "1", rating: 3.5 }], candidates: ["4"] });
    expect(request.success).toBe(true);
  });

  it("refuses a rating off the step grid, naming file, line and column", async () => {
    const dir = folder({
      "r.csv": "userId,movieId,rating,timestamp\n1,1,4.0,10\n1,4,3.7,11\n",
      "movies.csv": "movieId,title,genres\n1,A,Drama\n",
    });
    const config = { ...MOVIELENS_LATEST_CONFIG, file: "r.csv" };
    writeFileSync(join(dir, "c.json"), JSON.stringify(config));
    const e = await inputError(loadGeneric(join(dir, "c.json")));
    expect(e.message).toBe(`${join(dir, "r.csv")}:3 (field rating): 3.7 is not a multiple of ratingStep 0.5`);
  });

  it("names a duplicate id of the items table and notes interactions whose item it lacks", async () => {
    const dir = folder({
      "r.csv": "userId,movieId,rating,timestamp\n1,1,4.0,10\n1,9,3.5,11\n",
      "movies.csv": "movieId,title,genres\n1,A,Drama\n2,B,Comedy\n",
      "dup.csv": "movieId,title,genres\n1,A,Drama\n1,B,Comedy\n",
    });
    writeFileSync(join(dir, "c.json"), JSON.stringify({ ...MOVIELENS_LATEST_CONFIG, file: "r.csv" }));
    const raw = await loadGeneric(join(dir, "c.json"));
    expect(raw.notes).toEqual(["1 items of the interactions are not in the items table: their features are unknown (OOV)"]);
    writeFileSync(
      join(dir, "c.json"),
      JSON.stringify({ ...MOVIELENS_LATEST_CONFIG, file: "r.csv", items: { file: "dup.csv", id: "movieId" } }),
    );
    const e = await inputError(loadGeneric(join(dir, "c.json")));
    expect(e.message).toBe(`${join(dir, "dup.csv")}:3 (field movieId): id "1" is already on line 2`);
  });

  it("joins a users table with a multi-valued user field; the worker's encoder splits it the same way", async () => {
    const dir = folder({
      "log.csv": "u,i,t,click\na,x,1,1\na,y,2,0\nb,x,3,1\nb,y,4,1\nc,y,5,0\n",
      "users.csv": "u,country,langs\na,FR,fr|en\nb,DE,de\nc,FR,en\nz,IT,it\n",
    });
    const config = {
      file: "log.csv",
      columns: { user: "u", item: "i", timestamp: "t", label: "click" },
      users: { file: "users.csv", id: "u" },
      userFeatures: ["country", "langs"],
      multiValued: { langs: {} },
    };
    writeFileSync(join(dir, "c.json"), JSON.stringify(config));
    const raw = await loadGeneric(join(dir, "c.json"));
    expect(raw.users.map((u) => u.id)).toEqual(["a", "b", "c"]); // z has no interactions
    const data = prepareDataset(raw, { seed: 1, knowledgePrefix: 0, splits: [1, 0, 0] });
    const langs = data.spec.userFields.find((f) => f.name === "langs")!;
    expect(langs.bag).toEqual({ size: 2, separator: "|" });
    const encoder = new FeatureEncoder(data.spec, data.vocabulary);
    const a = data.profiles.find((p) => p.userId === "a")!;
    const rows = encoder.encode({ attributes: a.attributes, history: [], candidates: ["x"] });
    const sample = [...data.train.userIndex].indexOf(data.userIds.indexOf("a"));
    expect([...rows.userFeats]).toEqual([...data.train.userFeats.subarray(sample * 3, sample * 3 + 3)]);
    expect(rows.userFeats[1] * rows.userFeats[2]).toBeGreaterThan(0); // both languages known
  });
});

describe("a given split", () => {
  const log = "u,i,t,r,part\na,x,1,5,train\na,y,2,1,train\na,z,3,4,train\na,x,4,5,valid\na,y,5,2,test\nb,x,1,4,train\nb,z,2,5,test\n";
  const base = { columns: { user: "u", item: "i", timestamp: "t", rating: "r", split: "part" }, minPositiveRating: 4 };

  it("puts each interaction in the split its column names; the knowledge prefix comes from train only", async () => {
    const dir = folder({ "log.csv": log, "c.json": JSON.stringify(base) });
    const raw = await loadGeneric(join(dir, "c.json"), join(dir, "log.csv"));
    expect(raw.interactions.map((i) => i.split)).toEqual(["train", "train", "train", "valid", "test", "train", "test"]);
    const data = prepareDataset(raw, { seed: 1, knowledgePrefix: 1 });
    expect([data.train.count, data.valid.count, data.test.count]).toEqual([2, 1, 2]);
    expect(data.knowledgePrefix.a.map((i) => i.itemId)).toEqual(["x"]);
    expect([...data.test.labels]).toEqual([0, 1]);
    // a's test sample (item y at t=5) has the train interactions before it as history, never the valid one.
    expect([...data.test.histMask.subarray(0, 5)]).toEqual([0, 0, 1, 1, 1]);
    // Item z appears in train (a, t=3), so it is in the vocabulary; the vocabulary never counts valid/test rows.
    expect(data.vocabulary.fields.item_id.slice(1).sort()).toEqual(["x", "y", "z"]);
  });

  it("reads separate split files and names a value that is not a split", async () => {
    const rows = log.split("\n");
    const pick = (part: string) => [rows[0], ...rows.filter((r) => r.endsWith(`,${part}`))].join("\n");
    const dir = folder({ "train.csv": pick("train"), "valid.csv": pick("valid"), "test.csv": pick("test") });
    const config = {
      ...base,
      columns: { ...base.columns, split: undefined },
      file: "train.csv",
      splitFiles: { valid: "valid.csv", test: "test.csv" },
    };
    writeFileSync(join(dir, "c.json"), JSON.stringify(config));
    const data = prepareDataset(await loadGeneric(join(dir, "c.json")), { seed: 1, knowledgePrefix: 1 });
    expect([data.train.count, data.valid.count, data.test.count]).toEqual([2, 1, 2]);

    const bad = folder({ "log.csv": log.replace("b,z,2,5,test", "b,z,2,5,holdout"), "c.json": JSON.stringify(base) });
    const e = await inputError(loadGeneric(join(bad, "c.json"), join(bad, "log.csv")));
    expect(e.message).toBe(`${join(bad, "log.csv")}:8 (field part): "holdout" is not one of "train", "valid", "test"`);
    const both = folder({ "c.json": JSON.stringify({ ...base, splitFiles: { valid: "v.csv", test: "t.csv" } }) });
    expect((await inputError(loadGeneric(join(both, "c.json"), join(dir, "train.csv")))).message).toMatch(
      /\(field splitFiles\): give a split column or split files, not both$/,
    );
  });
});

describe("Parquet codecs", () => {
  it("reads every common codec to the same rows", async () => {
    const compressors = await parquetCompressors();
    const dir = folder({
      "c.json": JSON.stringify({ ...MOVIELENS_LATEST_CONFIG, file: "r.parquet", items: undefined, itemFeatures: ["genres"] }),
    });
    const n = 300;
    const columnData = [
      { name: "userId", data: Array.from({ length: n }, (_, i) => `u${i % 17}`), type: "STRING" as const },
      { name: "movieId", data: Array.from({ length: n }, (_, i) => i % 23), type: "INT32" as const },
      { name: "rating", data: Array.from({ length: n }, (_, i) => 0.5 + (i % 10) / 2), type: "DOUBLE" as const },
      { name: "timestamp", data: Array.from({ length: n }, (_, i) => BigInt(1_000_000 + i)), type: "INT64" as const },
      { name: "genres", data: Array.from({ length: n }, (_, i) => (i % 3 ? "Drama|Comedy" : "Horror")), type: "STRING" as const },
      { name: "title", data: Array.from({ length: n }, (_, i) => `Film ${i % 23}`), type: "STRING" as const },
    ];
    let reference: string | undefined;
    for (const codec of CODECS) {
      const file = join(dir, "r.parquet");
      parquetWriteFile({ filename: file, columnData, codec, compressors, rowGroupSize: 128 });
      const { asyncBufferFromFile } = await import("hyparquet");
      const meta = await parquetMetadataAsync(await asyncBufferFromFile(file));
      expect(meta.row_groups[0].columns[0].meta_data?.codec, codec).toBe(codec);
      const raw = await loadGeneric(join(dir, "c.json"));
      expect(raw.interactions.length, codec).toBe(n);
      const digest = JSON.stringify([raw.interactions, raw.items]);
      reference ??= digest;
      expect(digest, codec).toBe(reference);
    }
    expect(JSON.parse(reference!)[1][1]).toEqual({
      id: "1",
      title: "Film 1",
      genres: ["Drama", "Comedy"],
      attributes: { genres: "Drama|Comedy" },
    });
  });

  it("names the file when a page cannot be decoded", async () => {
    const dir = folder({ "c.json": JSON.stringify({ columns: { user: "u", item: "i", timestamp: "t", label: "l" }, file: "x.parquet" }) });
    const columnData = ["u", "i", "t", "l"].map((name) => ({ name, data: ["1", "1", "1", "1"], type: "STRING" as const }));
    // A GZIP page whose bytes are not gzip: the reader fails inside the codec.
    parquetWriteFile({ filename: join(dir, "x.parquet"), columnData, codec: "GZIP", compressors: { GZIP: (b: Uint8Array) => b } });
    const e = await inputError(loadGeneric(join(dir, "c.json")));
    expect(e.message).toMatch(new RegExp(`^${join(dir, "x.parquet").replaceAll("/", "\\/")}: cannot read rows 1-4 \\(`));
  });
});

describe("kser data init-config", () => {
  it("writes a config for ratings.csv + movies.csv that loads as written", async () => {
    const out = join(ml, "guessed.json");
    const { config, notes } = await initGenericConfig({ data: files.ratings, items: files.movies, out });
    expect(config).toEqual({ ...MOVIELENS_LATEST_CONFIG, name: "ratings", multiValued: { genres: { separator: "|" } } });
    expect(notes.join("\n")).toMatch(/ratings up to 5 in half steps; positive when rating >= 4/);
    writeFileSync(out, JSON.stringify(config));
    expect((await loadGeneric(out)).items.length).toBe(80);
  });

  it("guesses a click log and a Parquet file, and asks for what it cannot guess", async () => {
    const dir = folder({ "clicks.csv": "visitor_id;sku;event_time;clicked;page\nv1;s1;2024-01-01;1;home\n" });
    const clicks = await initGenericConfig({ data: join(dir, "clicks.csv"), delimiter: ";", out: join(dir, "c.json") });
    expect(clicks.config.columns).toEqual({ user: "visitor_id", item: "sku", timestamp: "event_time", label: "clicked" });
    expect(clicks.notes).toContain("columns not used: page (add item columns to itemFeatures, user columns to userFeatures)");
    parquetWriteFile({
      filename: join(dir, "log.parquet"),
      columnData: [
        { name: "who", data: ["a"], type: "STRING" },
        { name: "item_id", data: ["x"], type: "STRING" },
        { name: "ts", data: [1], type: "INT32" },
        { name: "stars", data: [3], type: "INT32" },
      ],
    });
    const guess = initGenericConfig({ data: join(dir, "log.parquet"), out: join(dir, "p.json") });
    await expect(guess).rejects.toThrow(/cannot tell which column is user \(columns: who, item_id, ts, stars\); name them with --user COL/);
    const named = await initGenericConfig({ data: join(dir, "log.parquet"), out: join(dir, "p.json"), columns: { user: "who" } });
    expect(named.config).toMatchObject({ format: "parquet", columns: { user: "who", item: "item_id", timestamp: "ts", rating: "stars" } });
  });
});
