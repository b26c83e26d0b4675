/**
 * MovieLens-1M loader: ratings.dat (UserID::MovieID::Rating::Timestamp), movies.dat (latin-1,
 * MovieID::Title::Genre|Genre), users.dat (UserID::Gender::Age::Occupation::Zip-code, age already bucketed,
 * occupation as a code that we turn into its name so knowledge prompts can read it).
 */
import { join } from "node:path";
import { InputFormatError } from "../util/errors.ts";
import { parseIdField, parseNumberField, readLines, splitFields } from "./lines.ts";
import { loadMovieLensRatings, type RatingsFormat } from "./movielens-ratings.ts";
import type { RawDataset, RawItem, RawUser } from "./types.ts";

// The occupation codes of the dataset's README, in code order.
const OCCUPATIONS = [
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
const AGE_BUCKETS = new Set(["1", "18", "25", "35", "45", "50", "56"]);

const RATINGS_FORMAT: RatingsFormat = {
  separator: "::",
  columns: ["UserID", "MovieID", "Rating", "Timestamp"],
  usersFile: "users.dat",
  itemsFile: "movies.dat",
};

export async function loadMovieLens1m(dir: string): Promise<RawDataset> {
  const items = await loadMovies(join(dir, "movies.dat"));
  const users = await loadUsers(join(dir, "users.dat"));
  const interactions = await loadMovieLensRatings(
    join(dir, "ratings.dat"),
    RATINGS_FORMAT,
    new Set(users.map((u) => u.id)),
    new Set(items.map((i) => i.id)),
  );
  return {
    name: "ml-1m",
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

async function loadMovies(file: string): Promise<RawItem[]> {
  const out: RawItem[] = [];
  for await (const line of readLines(file, "latin1")) {
    if (line.text.trim() === "") continue;
    const [id, title, genreText] = splitFields(file, line, "::", ["MovieID", "Title", "Genres"]);
    const genres = genreText.split("|").filter((g) => g !== "");
    if (genres.length === 0) throw new InputFormatError(file, line.number, "Genres", "is empty");
    const m = /\((\d{4})\)\s*$/.exec(title);
    out.push({
      id: parseIdField(file, line.number, "MovieID", id),
      title,
      year: m ? Number(m[1]) : undefined,
      genres,
      attributes: { genre: genres[0] },
    });
  }
  return out;
}

async function loadUsers(file: string): Promise<RawUser[]> {
  const out: RawUser[] = [];
  for await (const line of readLines(file, "latin1")) {
    if (line.text.trim() === "") continue;
    const [id, gender, age, occupation] = splitFields(file, line, "::", ["UserID", "Gender", "Age", "Occupation", "Zip-code"]);
    if (gender !== "M" && gender !== "F")
      throw new InputFormatError(file, line.number, "Gender", `must be M or F, got ${JSON.stringify(gender)}`);
    if (!AGE_BUCKETS.has(age))
      throw new InputFormatError(file, line.number, "Age", `must be one of 1, 18, 25, 35, 45, 50, 56, got ${JSON.stringify(age)}`);
    const code = parseNumberField(file, line.number, "Occupation", occupation, { integer: true, min: 0, max: OCCUPATIONS.length - 1 });
    out.push({ id: parseIdField(file, line.number, "UserID", id), attributes: { age, gender, occupation: OCCUPATIONS[code] } });
  }
  return out;
}
