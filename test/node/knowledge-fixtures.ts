/**
 * Small datasets for the knowledge tests, built here because the data loaders are developed in parallel:
 * a synthetic movie set with known tastes, and a plain reader of MovieLens-100K for speed checks.
 */
import { existsSync, readFileSync } from "node:fs";
import { movieLensShaped } from "../../trainer/data/movielens.ts";
import type { PreparedDataset, RawDataset, RawInteraction, RawItem, RawUser } from "../../trainer/data/types.ts";
import { mulberry32 } from "../../trainer/util/random.ts";

export const GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller", "Western"];

export interface Fixture {
  raw: RawDataset;
  prepared: Pick<PreparedDataset, "knowledgePrefix">;
}

/** Each user loves one genre (rates it 5) and rates the rest 1-3; the first `prefix` events of a user form the prefix. */
export function syntheticMovies(users = 40, items = 60, perUser = 15, prefix = 6, seed = 7): Fixture {
  const rng = mulberry32(seed);
  const rawItems: RawItem[] = Array.from({ length: items }, (_, i) => {
    const g1 = GENRES[i % GENRES.length];
    const g2 = GENRES[(i * 3 + 1) % GENRES.length];
    const genres = g1 === g2 ? [g1] : [g1, g2];
    return { id: `m${i}`, title: `Movie Number ${i}`, year: 1950 + ((i * 7) % 50), genres, attributes: { genre: g1 } };
  });
  const rawUsers: RawUser[] = Array.from({ length: users }, (_, u) => ({
    id: `u${u}`,
    attributes: { age: String(18 + (u % 40)), gender: u % 2 ? "F" : "M", occupation: ["writer", "engineer", "student"][u % 3] },
  }));
  const interactions: RawInteraction[] = [];
  const knowledgePrefix: Record<string, RawInteraction[]> = {};
  rawUsers.forEach((user, u) => {
    const loved = GENRES[u % GENRES.length];
    const events: RawInteraction[] = [];
    for (let t = 0; t < perUser; t++) {
      const item = rawItems[Math.floor(rng() * items)];
      const rating = item.genres[0] === loved ? 5 : 1 + Math.floor(rng() * 3);
      events.push({ userId: user.id, itemId: item.id, rating, timestamp: 1000 * u + t });
    }
    interactions.push(...events);
    knowledgePrefix[user.id] = events.slice(0, prefix);
  });
  const raw = movieLensShaped("synthetic-movies", rawUsers, rawItems, interactions);
  return { raw, prepared: { knowledgePrefix } };
}

export const ML100K_DIR = "/work/shared/data/ml-100k";
export const hasMl100k = existsSync(`${ML100K_DIR}/u.data`);

/** MovieLens-100K read directly (latin1), with the first 20 ratings of each user as the knowledge prefix. */
export function readMl100k(): Fixture {
  const text = (name: string) => readFileSync(`${ML100K_DIR}/${name}`, "latin1");
  const genreNames = text("u.genre")
    .split("\n")
    .filter((l) => l.includes("|"))
    .map((l) => l.split("|")[0]);
  const items: RawItem[] = text("u.item")
    .split("\n")
    .filter((l) => l.trim())
    .map((line) => {
      const f = line.split("|");
      const flags = f.slice(5);
      const genres = genreNames.filter((_, g) => flags[g] === "1");
      const year = Number(/(\d{4})$/.exec(f[2])?.[1]);
      return {
        id: f[0],
        title: f[1],
        year: Number.isFinite(year) ? year : undefined,
        genres,
        attributes: { genre: genres[0] ?? "unknown" },
      };
    });
  const users: RawUser[] = text("u.user")
    .split("\n")
    .filter((l) => l.trim())
    .map((line) => {
      const [id, age, gender, occupation] = line.split("|");
      return { id, attributes: { age, gender, occupation } };
    });
  const interactions: RawInteraction[] = text("u.data")
    .split("\n")
    .filter((l) => l.trim())
    .map((line) => {
      const [userId, itemId, rating, timestamp] = line.split("\t");
      return { userId, itemId, rating: Number(rating), timestamp: Number(timestamp) };
    });
  const byUser = new Map<string, RawInteraction[]>();
  for (const e of interactions) byUser.set(e.userId, [...(byUser.get(e.userId) ?? []), e]);
  const knowledgePrefix: Record<string, RawInteraction[]> = {};
  for (const [u, events] of byUser) knowledgePrefix[u] = events.sort((a, b) => a.timestamp - b.timestamp).slice(0, 20);
  const raw = movieLensShaped("ml-100k", users, items, interactions);
  return { raw, prepared: { knowledgePrefix } };
}
