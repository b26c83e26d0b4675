/**
 * MovieLens-100K loader: u.data (user \t item \t rating \t timestamp), u.item (latin-1, `|`-separated, 19 genre flags),
 * u.user (id|age|gender|occupation|zip). Ages are bucketed like MovieLens-1M's so both share one user vocabulary shape.
 */
import { join } from "node:path";
import { InputFormatError } from "../util/errors.ts";
import { parseIdField, parseNumberField, readLines, splitFields } from "./lines.ts";
import { loadMovieLensRatings, type RatingsFormat } from "./movielens-ratings.ts";
import type { RawDataset, RawItem, RawUser } from "./types.ts";

export const ML100K_GENRES = [
  "unknown",
  "Action",
  "Adventure",
  "Animation",
  "Children's",
  "Comedy",
  "Crime",
  "Documentary",
  "Drama",
  "Fantasy",
  "Film-Noir",
  "Horror",
  "Musical",
  "Mystery",
  "Romance",
  "Sci-Fi",
  "Thriller",
  "War",
  "Western",
];
const ITEM_COLUMNS = ["movie_id", "title", "release_date", "video_release_date", "imdb_url", ...ML100K_GENRES.map((g) => `genre:${g}`)];

const RATINGS_FORMAT: RatingsFormat = {
  separator: "\t",
  columns: ["user_id", "item_id", "rating", "timestamp"],
  usersFile: "u.user",
  itemsFile: "u.item",
};

export async function loadMovieLens100k(dir: string): Promise<RawDataset> {
  const items = await loadItems(join(dir, "u.item"));
  const users = await loadUsers(join(dir, "u.user"));
  const interactions = await loadMovieLensRatings(
    join(dir, "u.data"),
    RATINGS_FORMAT,
    new Set(users.map((u) => u.id)),
    new Set(items.map((i) => i.id)),
  );
  return {
    name: "ml-100k",
    domain: "movies",
    users,
    items,
    interactions,
    userFieldNames: ["age", "gender", "occupation"],
    itemFieldNames: ["genre"],
    minPositiveRating: 4,
    ratingLevels: 5,
  };
}

async function loadItems(file: string): Promise<RawItem[]> {
  const out: RawItem[] = [];
  for await (const line of readLines(file, "latin1")) {
    if (line.text.trim() === "") continue;
    const parts = splitFields(file, line, "|", ITEM_COLUMNS);
    const id = parseIdField(file, line.number, "movie_id", parts[0]);
    const genres: string[] = [];
    ML100K_GENRES.forEach((g, k) => {
      const flag = parts[5 + k];
      if (flag !== "0" && flag !== "1")
        throw new InputFormatError(file, line.number, `genre:${g}`, `must be 0 or 1, got ${JSON.stringify(flag)}`);
      if (flag === "1") genres.push(g);
    });
    const year = yearOf(parts[2]) ?? yearOf(parts[1]);
    out.push({ id, title: parts[1], year, genres, attributes: { genre: genres.find((g) => g !== "unknown") ?? "unknown" } });
  }
  return out;
}

async function loadUsers(file: string): Promise<RawUser[]> {
  const out: RawUser[] = [];
  for await (const line of readLines(file, "latin1")) {
    if (line.text.trim() === "") continue;
    const [id, age, gender, occupation] = splitFields(file, line, "|", ["user_id", "age", "gender", "occupation", "zip_code"]);
    const years = parseNumberField(file, line.number, "age", age, { integer: true, min: 0, max: 150 });
    if (gender !== "M" && gender !== "F")
      throw new InputFormatError(file, line.number, "gender", `must be M or F, got ${JSON.stringify(gender)}`);
    out.push({
      id: parseIdField(file, line.number, "user_id", id),
      attributes: { age: ageBucket(years), gender, occupation: parseIdField(file, line.number, "occupation", occupation) },
    });
  }
  return out;
}

/** MovieLens-1M's age buckets: 1 (<18), 18, 25, 35, 45, 50, 56 (56+). */
export function ageBucket(years: number): string {
  const bounds = [18, 25, 35, 45, 50, 56];
  let bucket = "1";
  for (const b of bounds) if (years >= b) bucket = String(b);
  return bucket;
}

/** A four-digit year at the end of a date (01-Jan-1995) or in a title's parentheses (Toy Story (1995)). */
function yearOf(text: string): number | undefined {
  const m = /(\d{4})\)?\s*$/.exec(text.trim());
  return m ? Number(m[1]) : undefined;
}
