/**
 * DBbook with real LLM-written user profiles (the layout of swapUniba/LLM-user-profiles-for-recsys,
 * data/01_user_profiles/dbbook): `train_sorted.tsv` and `test_sorted.tsv` (user<TAB>item<TAB>label, the authors'
 * split, the same users in both), `mapping_items.tsv` (item<TAB>title;dbpedia-uri), `outputs/user{N}_sysprompt2.json`
 * ({"plain": profile}), optional `broken.txt` (users whose profile failed upstream).
 *
 * Interactions keep the authors' split (`split` on every row; prepare's split "given" carves validation out of
 * train). The knowledge prefix is 0: the profiles were written from every train like, so no row is set aside. Labels are 0/1; as the generic source does for labels, a row's rating is label + 1 (1 = not liked,
 * 2 = liked), so a history rating never collides with the padding index 0. The files carry no time: each user's
 * train rows get a seeded random order (their "time"), test rows come after them.
 *
 * The profiles, as knowledge, are read by trainer/knowledge/import-dbbook.ts.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { InputFormatError, UserFacingError } from "../util/errors.ts";
import { Rng } from "../util/random.ts";
import { parseIdField, readLines, splitFields } from "./lines.ts";
import type { RawDataset, RawInteraction, RawItem } from "./types.ts";

const FILES = { train: "train_sorted.tsv", test: "test_sorted.tsv", items: "mapping_items.tsv" };

export interface DbbookOptions {
  /** Seed of the train rows' order within each user. */
  seed?: number;
}

export async function loadDbbook(dir: string, options: DbbookOptions = {}): Promise<RawDataset> {
  for (const f of [FILES.train, FILES.test, FILES.items]) {
    if (!existsSync(join(dir, f)))
      throw new UserFacingError(`${dir}: no ${f} (expected the dbbook folder of LLM-user-profiles-for-recsys)`);
  }
  const items = await readItems(join(dir, FILES.items));
  const train = await readRatings(join(dir, FILES.train), "train");
  const test = await readRatings(join(dir, FILES.test), "test");
  // A few rated books have no row in the mapping: they are items without a title (and without item knowledge).
  const known = new Set(items.map((i) => i.id));
  for (const r of [...train, ...test]) {
    if (known.has(r.itemId)) continue;
    known.add(r.itemId);
    items.push({ id: r.itemId, title: "", genres: [], attributes: {} });
  }
  // Train rows in a seeded order per user (their "time"); test rows after every train row.
  const rng = new Rng(options.seed ?? 1);
  const byUser = new Map<string, RawInteraction[]>();
  for (const r of train) byUser.set(r.userId, [...(byUser.get(r.userId) ?? []), r]);
  const ordered: RawInteraction[] = [...byUser.values()].flatMap((rows) => rng.shuffle(rows).map((r, i) => ({ ...r, timestamp: i })));
  ordered.push(...test.map((r, i) => ({ ...r, timestamp: 1e9 + i })));
  const userIds = [...new Set(ordered.map((r) => r.userId))];
  return {
    name: "dbbook",
    domain: "books",
    users: userIds.map((id) => ({ id, attributes: {} })),
    items,
    interactions: ordered,
    userFieldNames: [],
    itemFieldNames: [],
    minPositiveRating: 2,
    ratingLevels: 2,
    knowledgePrefix: 0,
  };
}

async function readItems(file: string): Promise<RawItem[]> {
  const items: RawItem[] = [];
  for await (const line of readLines(file)) {
    if (line.text.trim() === "") continue;
    const [id, rest] = splitFields(file, line, "\t", ["item", "title;uri"]);
    // Titles may hold ";": the URI is what follows the last one.
    const cut = rest.lastIndexOf(";");
    const title = (cut >= 0 ? rest.slice(0, cut) : rest).trim();
    if (title === "") throw new InputFormatError(file, line.number, "title", "is empty");
    items.push({ id: parseIdField(file, line.number, "item", id), title, genres: [], attributes: {} });
  }
  return items;
}

async function readRatings(file: string, split: "train" | "test"): Promise<RawInteraction[]> {
  const rows: RawInteraction[] = [];
  for await (const line of readLines(file)) {
    if (line.text.trim() === "") continue;
    const [user, item, label] = splitFields(file, line, "\t", ["user", "item", "label"]);
    if (label.trim() !== "0" && label.trim() !== "1")
      throw new InputFormatError(file, line.number, "label", `must be 0 or 1, got ${JSON.stringify(label)}`);
    rows.push({
      userId: parseIdField(file, line.number, "user", user),
      itemId: parseIdField(file, line.number, "item", item),
      rating: Number(label) + 1,
      timestamp: 0,
      split,
    });
  }
  return rows;
}
