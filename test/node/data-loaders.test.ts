import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { parquetWriteFile } from "hyparquet-writer";
import { afterAll, describe, expect, it } from "vitest";
import { loadAmazonBooks, locateAmazonBooks } from "../../trainer/data/amazon-books.ts";
import { loadGeneric } from "../../trainer/data/generic.ts";
import { loadMovieLens } from "../../trainer/data/movielens.ts";
import { InputFormatError } from "../../trainer/util/errors.ts";
import { makeTempDir } from "./data-helpers.ts";

const temp = makeTempDir("loaders");
afterAll(temp.cleanup);
let counter = 0;
/** A fresh folder with the given files (strings written as UTF-8 unless latin-1 is asked for). */
function folder(files: Record<string, string | Buffer>): string {
  const dir = join(temp.dir, `case-${counter++}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}
const latin1 = (text: string) => Buffer.from(text, "latin1");

/** Expects an InputFormatError naming this file, line and field. */
async function expectInputError(promise: Promise<unknown>, file: string, line: number | undefined, field: string | undefined) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InputFormatError);
  const e = error as InputFormatError;
  expect(e.file).toBe(file);
  expect(e.line).toBe(line);
  expect(e.field).toBe(field);
  expect(e.message).toContain(line === undefined ? file : `${file}:${line}`);
}

const flags = (on: number[]) => Array.from({ length: 19 }, (_, k) => (on.includes(k) ? "1" : "0")).join("|");
const ML100K = {
  "u.item": latin1(
    `1|Café Society (1995)|01-Jan-1995||http://x|${flags([5, 14])}\n2|Heat (1995)|15-Dec-1995||http://y|${flags([1, 6, 16])}\n3|unknown|||x|${flags([0])}\n`,
  ),
  "u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n",
  "u.data": "1\t1\t5\t881250949\n1\t2\t3\t881250950\n2\t3\t1\t881250951\n",
};

describe("MovieLens-100K", () => {
  it("loads latin-1 titles, 19 genre flags, bucketed ages", async () => {
    const d = await loadMovieLens("ml-100k", folder(ML100K));
    expect(d.items[0]).toEqual({
      id: "1",
      title: "Café Society (1995)",
      year: 1995,
      genres: ["Comedy", "Romance"],
      attributes: { genre: "Comedy" },
    });
    expect(d.items[2].attributes.genre).toBe("unknown");
    expect(d.users[1]).toEqual({ id: "2", attributes: { age: "50", gender: "F", occupation: "other" } });
    expect(d.interactions).toHaveLength(3);
    expect(d.interactions[1]).toEqual({ userId: "1", itemId: "2", rating: 3, timestamp: 881250950 });
    expect(d.minPositiveRating).toBe(4);
  });

  it("names file, line and field of a bad record", async () => {
    let dir = folder({ ...ML100K, "u.data": "1\t1\t5\t881250949\n1\t2\tfive\t881250950\n" });
    await expectInputError(loadMovieLens("ml-100k", dir), join(dir, "u.data"), 2, "rating");
    dir = folder({ ...ML100K, "u.data": "1\t1\t5\n" });
    await expectInputError(loadMovieLens("ml-100k", dir), join(dir, "u.data"), 1, "timestamp");
    dir = folder({ ...ML100K, "u.data": "1\t9\t5\t1\n" });
    await expectInputError(loadMovieLens("ml-100k", dir), join(dir, "u.data"), 1, "item_id");
    dir = folder({ ...ML100K, "u.user": "1|24|M|technician|85711\n2|old|F|other|94043\n" });
    await expectInputError(loadMovieLens("ml-100k", dir), join(dir, "u.user"), 2, "age");
    dir = folder({ ...ML100K, "u.item": latin1(`1|Short|01-Jan-1995||http://x|0|1\n`) });
    await expectInputError(loadMovieLens("ml-100k", dir), join(dir, "u.item"), 1, "genre:Adventure");
    dir = folder({ "u.item": ML100K["u.item"], "u.data": ML100K["u.data"] });
    await expectInputError(loadMovieLens("ml-100k", dir), join(dir, "u.user"), undefined, undefined);
  });
});

const ML1M = {
  "movies.dat": latin1("1::Amélie (2001)::Comedy|Romance\n2::Heat (1995)::Action|Crime|Thriller\n"),
  "users.dat": "1::F::1::10::48067\n2::M::56::16::70072\n",
  "ratings.dat": "1::1::5::978300760\n2::2::3::978302109\n2::1::4::978301968\n",
};

describe("MovieLens-1M", () => {
  it("loads `::` files, latin-1 titles, occupation names", async () => {
    const d = await loadMovieLens("ml-1m", folder(ML1M));
    expect(d.items[0]).toEqual({
      id: "1",
      title: "Amélie (2001)",
      year: 2001,
      genres: ["Comedy", "Romance"],
      attributes: { genre: "Comedy" },
    });
    expect(d.users[1]).toEqual({ id: "2", attributes: { age: "56", gender: "M", occupation: "self-employed" } });
    expect(d.interactions[2]).toEqual({ userId: "2", itemId: "1", rating: 4, timestamp: 978301968 });
  });

  it("names file, line and field of a bad record", async () => {
    let dir = folder({ ...ML1M, "ratings.dat": "1::1::5::978300760\n1::1::9::978300760\n" });
    await expectInputError(loadMovieLens("ml-1m", dir), join(dir, "ratings.dat"), 2, "Rating");
    dir = folder({ ...ML1M, "users.dat": "1::F::1::10::48067\n2::M::33::16::70072\n" });
    await expectInputError(loadMovieLens("ml-1m", dir), join(dir, "users.dat"), 2, "Age");
    dir = folder({ ...ML1M, "movies.dat": latin1("1::Amélie (2001)\n") });
    await expectInputError(loadMovieLens("ml-1m", dir), join(dir, "movies.dat"), 1, "Genres");
  });
});

describe("Amazon-Books", () => {
  const reviews = [
    { reviewerID: "A1", asin: "B01", overall: 5.0, unixReviewTime: 1400000000 },
    { reviewerID: "A1", asin: "B02", overall: 3.0, unixReviewTime: 1400000100 },
    { reviewerID: "A2", asin: "B03", overall: 4.0, unixReviewTime: 1400000200 },
  ];
  const meta = [
    { asin: "B01", title: "Dune", category: ["Books", "Science Fiction & Fantasy", "Science Fiction"], brand: "Frank Herbert" },
    { asin: "B02", title: "Emma", category: ["Books", "Literature & Fiction"] },
    { asin: "B99", title: "Never reviewed", category: ["Books"] },
  ];
  const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";

  it("loads JSON lines (plain and gzipped), label rule rating = 5", async () => {
    for (const gz of [false, true]) {
      const files: Record<string, string | Buffer> = gz
        ? { "Books_5.json.gz": gzipSync(jsonl(reviews)), "meta_Books.json.gz": gzipSync(jsonl(meta)) }
        : { "Books_5.json": jsonl(reviews), "meta_Books.json": jsonl(meta) };
      const d = await loadAmazonBooks(locateAmazonBooks(folder(files)));
      expect(d.minPositiveRating).toBe(5);
      expect(d.userFieldNames).toEqual([]);
      expect(d.items.map((i) => i.id).sort()).toEqual(["B01", "B02", "B03"]);
      const dune = d.items.find((i) => i.id === "B01")!;
      expect(dune.attributes).toEqual({ genre: "Science Fiction & Fantasy", brand: "Frank Herbert" });
      expect(d.items.find((i) => i.id === "B03")!.attributes.genre).toBe("unknown");
      expect(d.interactions[0]).toEqual({ userId: "A1", itemId: "B01", rating: 5, timestamp: 1400000000 });
    }
  });

  it("names file, line and field of a bad record", async () => {
    let dir = folder({ "Books_5.json": `${JSON.stringify(reviews[0])}\n{"reviewerID": "A1", "asin": \n` });
    await expectInputError(loadAmazonBooks(locateAmazonBooks(dir)), join(dir, "Books_5.json"), 2, undefined);
    dir = folder({ "Books_5.json": jsonl([reviews[0], { reviewerID: "A3", asin: "B1", unixReviewTime: 1 }]) });
    await expectInputError(loadAmazonBooks(locateAmazonBooks(dir)), join(dir, "Books_5.json"), 2, "overall");
    dir = folder({ "Books_5.json": jsonl(reviews), "meta_Books.json": jsonl([{ asin: "B01", category: "Books" }]) });
    await expectInputError(loadAmazonBooks(locateAmazonBooks(dir)), join(dir, "meta_Books.json"), 1, "category");
  });
});

describe("generic CSV and Parquet", () => {
  const config = {
    name: "shop",
    file: "events.csv",
    columns: { user: "uid", item: "sku", timestamp: "ts", rating: "stars" },
    minPositiveRating: 4,
    itemFeatures: ["category"],
    userFeatures: ["country"],
    itemTitle: "name",
  };
  const csv =
    'uid,sku,ts,stars,category,country,name\nu1,s1,10,5,shoes,FR,"Boots, ""red"""\nu1,s2,2024-01-02T00:00:00Z,2,hats,FR,Cap\nu2,s1,30,4,shoes,,Boots\n';

  it("loads CSV with quoting, ISO or numeric timestamps, side features", async () => {
    const dir = folder({ "events.csv": csv, "config.json": JSON.stringify(config) });
    const d = await loadGeneric(join(dir, "config.json"));
    expect(d.name).toBe("shop");
    expect(d.itemFieldNames).toEqual(["category"]);
    expect(d.userFieldNames).toEqual(["country"]);
    expect(d.items[0]).toEqual({ id: "s1", title: 'Boots, "red"', genres: ["shoes"], attributes: { category: "shoes" } });
    expect(d.users[1]).toEqual({ id: "u2", attributes: {} });
    expect(d.interactions[1]).toEqual({ userId: "u1", itemId: "s2", rating: 2, timestamp: Date.parse("2024-01-02T00:00:00Z") / 1000 });
  });

  it("loads a 0/1 label column as ratings 1/2", async () => {
    const cfg = { columns: { user: "u", item: "i", timestamp: "t", label: "click" } };
    const dir = folder({ "log.csv": "u;i;t;click\na;x;1;1\na;y;2;0\n", "c.json": JSON.stringify({ ...cfg, delimiter: ";" }) });
    const d = await loadGeneric(join(dir, "c.json"), join(dir, "log.csv"));
    expect(d.interactions.map((i) => i.rating)).toEqual([2, 1]);
    expect([d.minPositiveRating, d.ratingLevels]).toEqual([2, 2]);
  });

  it("loads Parquet written by hyparquet-writer, row group by row group", async () => {
    const dir = folder({ "config.json": JSON.stringify({ ...config, file: "events.parquet" }) });
    parquetWriteFile({
      filename: join(dir, "events.parquet"),
      columnData: [
        { name: "uid", data: ["u1", "u1", "u2"], type: "STRING" },
        { name: "sku", data: ["s1", "s2", "s1"], type: "STRING" },
        { name: "ts", data: [10n, 20n, 30n], type: "INT64" },
        { name: "stars", data: [5, 2, 4], type: "INT32" },
        { name: "category", data: ["shoes", "hats", "shoes"], type: "STRING" },
        { name: "country", data: ["FR", "FR", null], type: "STRING" },
        { name: "name", data: ["Boots", "Cap", "Boots"], type: "STRING" },
      ],
      rowGroupSize: 2,
    });
    const d = await loadGeneric(join(dir, "config.json"));
    expect(d.interactions).toEqual([
      { userId: "u1", itemId: "s1", rating: 5, timestamp: 10 },
      { userId: "u1", itemId: "s2", rating: 2, timestamp: 20 },
      { userId: "u2", itemId: "s1", rating: 4, timestamp: 30 },
    ]);
    expect(d.users).toEqual([
      { id: "u1", attributes: { country: "FR" } },
      { id: "u2", attributes: {} },
    ]);
  });

  it("names file, row and column of bad input (CSV, Parquet, config)", async () => {
    let dir = folder({ "events.csv": csv.replace("u2,s1,30,4", "u2,s1,30,lots"), "config.json": JSON.stringify(config) });
    await expectInputError(loadGeneric(join(dir, "config.json")), join(dir, "events.csv"), 4, "stars");
    dir = folder({ "events.csv": csv.replace("country", "land"), "config.json": JSON.stringify(config) });
    await expectInputError(loadGeneric(join(dir, "config.json")), join(dir, "events.csv"), 1, "country");
    dir = folder({ "events.csv": csv.replace(",2,hats", ",2"), "config.json": JSON.stringify(config) });
    await expectInputError(loadGeneric(join(dir, "config.json")), join(dir, "events.csv"), 3, undefined);
    dir = folder({ "events.csv": 'uid,sku,ts,stars,category,country,name\nu1,"s1,10,5,a,b,c\n', "config.json": JSON.stringify(config) });
    await expectInputError(loadGeneric(join(dir, "config.json")), join(dir, "events.csv"), 2, "column 2");
    dir = folder({ "config.json": JSON.stringify({ ...config, minPositiveRating: undefined }) });
    await expectInputError(loadGeneric(join(dir, "config.json")), join(dir, "config.json"), undefined, "minPositiveRating");
    dir = folder({ "config.json": JSON.stringify({ ...config, itemFeatures: ["item_id"] }) });
    await expectInputError(loadGeneric(join(dir, "config.json")), join(dir, "config.json"), undefined, "itemFeatures.0");

    dir = folder({ "config.json": JSON.stringify({ ...config, file: "e.parquet" }) });
    parquetWriteFile({
      filename: join(dir, "e.parquet"),
      columnData: [
        { name: "uid", data: ["u1", "u2"], type: "STRING" },
        { name: "sku", data: ["s1", null], type: "STRING" },
        { name: "ts", data: [1, 2], type: "INT32" },
        { name: "stars", data: [5, 4], type: "INT32" },
        { name: "category", data: ["a", "b"], type: "STRING" },
        { name: "country", data: ["FR", "DE"], type: "STRING" },
        { name: "name", data: ["x", "y"], type: "STRING" },
      ],
    });
    await expectInputError(loadGeneric(join(dir, "config.json")), join(dir, "e.parquet"), 2, "sku");
    writeFileSync(join(dir, "e.parquet"), "not parquet at all");
    await expectInputError(loadGeneric(join(dir, "config.json")), join(dir, "e.parquet"), undefined, undefined);
  });
});
