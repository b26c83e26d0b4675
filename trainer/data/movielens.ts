/**
 * The MovieLens loader, for both releases. Files are latin-1, one record a line:
 *   ML-100K: u.data (user \t item \t rating \t timestamp), u.item (`|`-separated, 19 genre flags), u.user
 *            (id|age|gender|occupation|zip). Ages are bucketed like ML-1M's so both share one user vocabulary shape.
 *   ML-1M:   ratings.dat (UserID::MovieID::Rating::Timestamp), movies.dat (MovieID::Title::Genre|Genre), users.dat
 *            (UserID::Gender::Age::Occupation::Zip-code, age already bucketed, occupation as a code that is turned into
 *            its name so knowledge prompts can read it).
 * Every rating's user and item is checked against the users and items loaded first.
 */
import { join } from "node:path";
import { InputFormatError } from "../util/errors.ts";
import { type Line, parseIdField, parseNumberField, readLines, splitFields } from "./lines.ts";
import type { RawDataset, RawInteraction, RawItem, RawUser } from "./types.ts";

export type MovieLensRelease = "ml-100k" | "ml-1m";

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
const ML100K_ITEM_COLUMNS = [
  "movie_id",
  "title",
  "release_date",
  "video_release_date",
  "imdb_url",
  ...ML100K_GENRES.map((g) => `genre:${g}`),
];

// ML-1M's occupation codes, in code order (the dataset's README).
const ML1M_OCCUPATIONS = [
  "other",
  "academic/educator",
  "artist",
  "clerical/admin",
  "college/grad student",
  "customer service",
  "doctor/health care",
  "executive/managerial",
  "farmer",
  "homemaker",
  "K-12 student",
  "lawyer",
  "programmer",
  "retired",
  "sales/marketing",
  "scientist",
  "self-employed",
  "technician/engineer",
  "tradesman/craftsman",
  "unemployed",
  "writer",
];
/** ML-1M's age buckets: 1 (<18), 18, 25, 35, 45, 50, 56 (56+). */
const AGE_BUCKETS = ["1", "18", "25", "35", "45", "50", "56"];

type ParseRow<T> = (file: string, line: Line) => T;

interface ReleaseFormat {
  files: { items: string; users: string; ratings: string };
  ratings: { separator: string; columns: readonly [user: string, item: string, rating: string, timestamp: string] };
  item: ParseRow<RawItem>;
  user: ParseRow<RawUser>;
}

const RELEASES: Record<MovieLensRelease, ReleaseFormat> = {
  "ml-100k": {
    files: { items: "u.item", users: "u.user", ratings: "u.data" },
    ratings: { separator: "\t", columns: ["user_id", "item_id", "rating", "timestamp"] },
    item: (file, line) => {
      const parts = splitFields(file, line, "|", ML100K_ITEM_COLUMNS);
      const id = parseIdField(file, line.number, "movie_id", parts[0]);
      const genres: string[] = [];
      ML100K_GENRES.forEach((g, k) => {
        const flag = parts[5 + k];
        if (flag !== "0" && flag !== "1")
          throw new InputFormatError(file, line.number, `genre:${g}`, `must be 0 or 1, got ${JSON.stringify(flag)}`);
        if (flag === "1") genres.push(g);
      });
      const year = yearOf(parts[2]) ?? yearOf(parts[1]);
      return { id, title: parts[1], year, genres, attributes: { genre: genres.find((g) => g !== "unknown") ?? "unknown" } };
    },
    user: (file, line) => {
      const [id, age, gender, occupation] = splitFields(file, line, "|", ["user_id", "age", "gender", "occupation", "zip_code"]);
      const years = parseNumberField(file, line.number, "age", age, { integer: true, min: 0, max: 150 });
      checkGender(file, line, "gender", gender);
      return {
        id: parseIdField(file, line.number, "user_id", id),
        attributes: { age: ageBucket(years), gender, occupation: parseIdField(file, line.number, "occupation", occupation) },
      };
    },
  },
  "ml-1m": {
    files: { items: "movies.dat", users: "users.dat", ratings: "ratings.dat" },
    ratings: { separator: "::", columns: ["UserID", "MovieID", "Rating", "Timestamp"] },
    item: (file, line) => {
      const [id, title, genreText] = splitFields(file, line, "::", ["MovieID", "Title", "Genres"]);
      const genres = genreText.split("|").filter((g) => g !== "");
      if (genres.length === 0) throw new InputFormatError(file, line.number, "Genres", "is empty");
      const m = /\((\d{4})\)\s*$/.exec(title);
      return {
        id: parseIdField(file, line.number, "MovieID", id),
        title,
        year: m ? Number(m[1]) : undefined,
        genres,
        attributes: { genre: genres[0] },
      };
    },
    user: (file, line) => {
      const [id, gender, age, occupation] = splitFields(file, line, "::", ["UserID", "Gender", "Age", "Occupation", "Zip-code"]);
      checkGender(file, line, "Gender", gender);
      if (!AGE_BUCKETS.includes(age))
        throw new InputFormatError(file, line.number, "Age", `must be one of ${AGE_BUCKETS.join(", ")}, got ${JSON.stringify(age)}`);
      const code = parseNumberField(file, line.number, "Occupation", occupation, {
        integer: true,
        min: 0,
        max: ML1M_OCCUPATIONS.length - 1,
      });
      return { id: parseIdField(file, line.number, "UserID", id), attributes: { age, gender, occupation: ML1M_OCCUPATIONS[code] } };
    },
  },
};

export async function loadMovieLens(release: MovieLensRelease, dir: string): Promise<RawDataset> {
  const format = RELEASES[release];
  const items = await readRecords(join(dir, format.files.items), format.item);
  const users = await readRecords(join(dir, format.files.users), format.user);
  const known = { users: new Set(users.map((u) => u.id)), items: new Set(items.map((i) => i.id)) };
  const interactions = await readRecords(join(dir, format.files.ratings), (file, line) => parseRating(format, known, file, line));
  return movieLensShaped(release, users, items, interactions);
}

/** What every MovieLens-like dataset shares (the releases, the synthetic world): its fields and 1-5 stars, 4+ positive. */
export function movieLensShaped(name: string, users: RawUser[], items: RawItem[], interactions: RawInteraction[]): RawDataset {
  return {
    name,
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

/** The records of a file's non-blank lines. */
async function readRecords<T>(file: string, parse: ParseRow<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const line of readLines(file, "latin1")) if (line.text.trim() !== "") out.push(parse(file, line));
  return out;
}

function parseRating(format: ReleaseFormat, known: { users: Set<string>; items: Set<string> }, file: string, line: Line): RawInteraction {
  const { separator, columns } = format.ratings;
  const [userCol, itemCol, ratingCol, timeCol] = columns;
  const [u, i, r, t] = splitFields(file, line, separator, columns);
  const userId = parseIdField(file, line.number, userCol, u);
  const itemId = parseIdField(file, line.number, itemCol, i);
  if (!known.users.has(userId))
    throw new InputFormatError(file, line.number, userCol, `unknown user ${userId} (not in ${format.files.users})`);
  if (!known.items.has(itemId))
    throw new InputFormatError(file, line.number, itemCol, `unknown item ${itemId} (not in ${format.files.items})`);
  const rating = parseNumberField(file, line.number, ratingCol, r, { integer: true, min: 1, max: 5 });
  const timestamp = parseNumberField(file, line.number, timeCol, t, { integer: true, min: 0 });
  return { userId, itemId, rating, timestamp };
}

function checkGender(file: string, line: Line, field: string, gender: string): void {
  if (gender !== "M" && gender !== "F")
    throw new InputFormatError(file, line.number, field, `must be M or F, got ${JSON.stringify(gender)}`);
}

/** The ML-1M age bucket of an age in years. */
export function ageBucket(years: number): string {
  let bucket = AGE_BUCKETS[0];
  for (const b of AGE_BUCKETS.slice(1)) if (years >= Number(b)) bucket = b;
  return bucket;
}

/** A four-digit year at the end of a date (01-Jan-1995) or in a title's parentheses (Toy Story (1995)). */
function yearOf(text: string): number | undefined {
  const m = /(\d{4})\)?\s*$/.exec(text.trim());
  return m ? Number(m[1]) : undefined;
}
