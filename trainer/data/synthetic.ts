/**
 * A synthetic MovieLens-like world for the demo and the tests: movies with genres, years, titles and a hidden theme;
 * users with demographics and latent tastes. Ratings follow taste x item + noise. Users rate their favourite kinds of
 * movies first (as on MovieLens sign-up) and drift to popularity-driven choices later, so a user's early interactions
 * (the knowledge prefix) reveal the taste more than the last few history items do: knowledge can help a CTR model.
 *
 * Each movie's hidden theme (which moves ratings) is kept in `attributes.latent_theme`, NOT a model field: "world
 * knowledge" an LLM would have about a film and the backbone lacks. Users' latent tastes are not exposed anywhere.
 */

import { Rng } from "../util/random.ts";
import { ML100K_GENRES, movieLensShaped } from "./movielens.ts";
import type { RawDataset, RawInteraction, RawItem, RawUser } from "./types.ts";

/** The synthetic world uses MovieLens's genres (without its "unknown" placeholder). */
export const SYNTHETIC_GENRES = ML100K_GENRES.filter((g) => g !== "unknown");
// Relative frequency of each genre as a primary genre (Drama and Comedy dominate, as in MovieLens).
const GENRE_WEIGHTS = [8, 5, 2, 3, 12, 4, 1, 15, 2, 1, 4, 2, 2, 6, 4, 6, 2, 1];
const THEMES = ["feel-good", "dark", "cerebral", "spectacle", "romantic", "gritty"];
const AGE_BUCKETS = ["1", "18", "25", "35", "45", "50", "56"];
const AGE_WEIGHTS = [4, 18, 35, 20, 10, 8, 5];
const OCCUPATIONS = [
  "administrator",
  "artist",
  "educator",
  "engineer",
  "entertainment",
  "executive",
  "healthcare",
  "homemaker",
  "lawyer",
  "librarian",
  "marketing",
  "other",
  "programmer",
  "retired",
  "salesman",
  "scientist",
  "student",
  "technician",
  "writer",
];
const TITLE_WORDS_A = ["Silent", "Last", "Broken", "Golden", "Dark", "Lost", "Wild", "Secret", "Red", "Endless", "Hidden", "Midnight"];
const TITLE_WORDS_B = [
  "River",
  "Empire",
  "Promise",
  "Horizon",
  "Garden",
  "Shadow",
  "Road",
  "Storm",
  "Kingdom",
  "Harbor",
  "Letter",
  "Dream",
];

export interface SyntheticOptions {
  seed: number;
  users?: number;
  items?: number;
  /** Mean interactions per user (log-normal, at least minInteractions). */
  interactionsPerUser?: number;
  minInteractions?: number;
  /** Rating noise (standard deviation before rounding). */
  noise?: number;
}

/** Items: genres, year, theme, quality and a long-tailed popularity. */
function makeItems(rng: Rng, itemCount: number) {
  const items: RawItem[] = [];
  const genresOf: number[][] = [];
  const themeOf: number[] = [];
  const quality: number[] = [];
  const popularity: number[] = [];
  for (let i = 0; i < itemCount; i++) {
    const count = rng.next() < 0.5 ? 1 : rng.next() < 0.7 ? 2 : 3;
    const genres: number[] = [];
    while (genres.length < count) {
      const g = weightedIndex(rng, GENRE_WEIGHTS);
      if (!genres.includes(g)) genres.push(g);
    }
    const year = 1930 + Math.floor(70 * Math.sqrt(rng.next()));
    const theme = rng.int(THEMES.length);
    genresOf.push(genres);
    themeOf.push(theme);
    quality.push(0.4 * rng.normal());
    popularity.push(Math.exp(1.1 * rng.normal()));
    const names = genres.map((g) => SYNTHETIC_GENRES[g]);
    items.push({
      id: String(i + 1),
      title: `${rng.pick(TITLE_WORDS_A)} ${rng.pick(TITLE_WORDS_B)} ${i + 1} (${year})`,
      year,
      genres: names,
      attributes: { genre: names[0], latent_theme: THEMES[theme] },
    });
  }
  const globalSampler = new WeightedSampler(popularity.map((w, i) => [i, w]));
  const genreSamplers = SYNTHETIC_GENRES.map(
    (_, g) => new WeightedSampler(popularity.flatMap((w, i) => (genresOf[i].includes(g) ? [[i, w] as [number, number]] : []))),
  );
  return { items, genresOf, themeOf, quality, globalSampler, genreSamplers };
}

type SyntheticItems = ReturnType<typeof makeItems>;

/** A user's demographics, then tastes that lean a little on demographics (so user fields carry some signal). */
function makeUserTaste(rng: Rng, genreSamplers: SyntheticItems["genreSamplers"]) {
  const G = SYNTHETIC_GENRES.length;
  const age = weightedIndex(rng, AGE_WEIGHTS);
  const gender = rng.next() < 0.7 ? "M" : "F";
  const occupation = rng.pick(OCCUPATIONS);
  const genreBias = SYNTHETIC_GENRES.map((name) => demographicLean(name, age, gender));
  const liked = pickDistinct(rng, 2 + rng.int(2), (g) => Math.exp(genreBias[g]) * (genreSamplers[g].size > 0 ? 1 : 0), G);
  const disliked = pickDistinct(rng, 1 + rng.int(2), (g) => (liked.includes(g) ? 0 : Math.exp(-genreBias[g])), G);
  const pref = SYNTHETIC_GENRES.map((_, g) => 0.25 * rng.normal() + 0.3 * genreBias[g]);
  for (const g of liked) pref[g] = 1 + 0.5 * rng.next();
  for (const g of disliked) pref[g] = -1 - 0.3 * rng.next();
  const themePref = THEMES.map(() => 0.2 * rng.normal());
  const likedTheme = rng.int(THEMES.length);
  const dislikedTheme = (likedTheme + 1 + rng.int(THEMES.length - 1)) % THEMES.length;
  themePref[likedTheme] = 0.8;
  themePref[dislikedTheme] = -0.7;
  const bias = 0.3 * rng.normal();
  // The latent tastes stay hidden: a user's taste is known only through behaviour (the knowledge prefix).
  return { attributes: { age: AGE_BUCKETS[age], gender, occupation }, liked, pref, themePref, bias };
}

/** n interactions of one user: sign-up picks mostly from favourite genres, later ones mostly what is popular. */
function userInteractions(
  rng: Rng,
  it: SyntheticItems,
  userId: string,
  taste: ReturnType<typeof makeUserTaste>,
  n: number,
  noise: number,
): RawInteraction[] {
  const itemCount = it.items.length;
  const out: RawInteraction[] = [];
  const seen = new Set<number>();
  let ts = 946_684_800 + rng.int(2 * 365 * 86_400);
  for (let t = 0; t < n; t++) {
    const tasteShare = t < 15 ? 0.85 : 0.3;
    let item = -1;
    for (let attempt = 0; attempt < 50 && (item < 0 || seen.has(item)); attempt++) {
      item = rng.next() < tasteShare ? it.genreSamplers[rng.pick(taste.liked)].draw(rng) : it.globalSampler.draw(rng);
    }
    if (seen.has(item)) item = firstUnseen(seen, itemCount, rng.int(itemCount));
    seen.add(item);
    const genres = it.genresOf[item];
    let affinity = 0;
    for (const g of genres) affinity += taste.pref[g];
    affinity = affinity / genres.length + taste.themePref[it.themeOf[item]];
    const score = 3.3 + 1.1 * affinity + taste.bias + it.quality[item] + noise * rng.normal();
    const rating = Math.max(1, Math.min(5, Math.round(score)));
    ts += t < 15 ? 30 + rng.int(600) : 3600 + rng.int(20 * 86_400);
    out.push({ userId, itemId: it.items[item].id, rating, timestamp: ts });
  }
  return out;
}

export function generateSyntheticDataset(options: SyntheticOptions): RawDataset {
  const { seed, users: userCount = 600, items: itemCount = 800, interactionsPerUser = 66, minInteractions = 20, noise = 0.55 } = options;
  if (!Number.isInteger(userCount) || userCount < 1) throw new Error("users must be a positive integer");
  if (!Number.isInteger(itemCount) || itemCount < minInteractions) throw new Error(`items must be an integer >= ${minInteractions}`);
  const rng = new Rng(seed);
  const it = makeItems(rng, itemCount);
  const users: RawUser[] = [];
  const interactions: RawInteraction[] = [];
  const sigma = 0.6;
  const mu = Math.log(interactionsPerUser) - (sigma * sigma) / 2;
  for (let u = 0; u < userCount; u++) {
    const taste = makeUserTaste(rng, it.genreSamplers);
    const id = String(u + 1);
    users.push({ id, attributes: taste.attributes });
    const n = Math.min(itemCount, Math.max(minInteractions, Math.round(Math.exp(mu + sigma * rng.normal()))));
    interactions.push(...userInteractions(rng, it, id, taste, n, noise));
  }
  return movieLensShaped(`synthetic-${seed}`, users, it.items, interactions);
}

/** A small, fixed lean of some genres by age bucket and gender (younger: animation/action; older: drama/war...). */
function demographicLean(genre: string, age: number, gender: string): number {
  const young = age <= 2 ? 1 : age >= 4 ? -1 : 0;
  const lean: Record<string, number> = {
    Animation: 0.6 * young,
    "Children's": 0.5 * young,
    Action: 0.3 * young + (gender === "M" ? 0.3 : -0.2),
    "Sci-Fi": 0.3 * young + (gender === "M" ? 0.2 : 0),
    Horror: 0.3 * young,
    Drama: -0.3 * young,
    War: -0.4 * young + (gender === "M" ? 0.2 : 0),
    Western: -0.4 * young,
    "Film-Noir": -0.3 * young,
    Romance: gender === "F" ? 0.5 : -0.1,
    Musical: gender === "F" ? 0.3 : 0,
  };
  return lean[genre] ?? 0;
}

function weightedIndex(rng: Rng, weights: readonly number[]): number {
  let total = 0;
  for (const w of weights) total += w;
  let r = rng.next() * total;
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i];
    if (r < 0) return i;
  }
  return weights.length - 1;
}

function pickDistinct(rng: Rng, count: number, weight: (i: number) => number, n: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < count; k++) {
    const weights = Array.from({ length: n }, (_, i) => (out.includes(i) ? 0 : weight(i)));
    if (weights.every((w) => w <= 0)) break;
    out.push(weightedIndex(rng, weights));
  }
  return out;
}

function firstUnseen(seen: Set<number>, n: number, start: number): number {
  for (let k = 0; k < n; k++) {
    const i = (start + k) % n;
    if (!seen.has(i)) return i;
  }
  throw new Error("no unseen item left");
}

/** Draws indices proportionally to weights by binary search over the cumulative sums. */
class WeightedSampler {
  private readonly ids: number[];
  private readonly cumulative: Float64Array;

  constructor(entries: [number, number][]) {
    this.ids = entries.map((e) => e[0]);
    this.cumulative = new Float64Array(entries.length);
    let sum = 0;
    entries.forEach(([, w], i) => {
      sum += w;
      this.cumulative[i] = sum;
    });
  }

  get size(): number {
    return this.ids.length;
  }

  draw(rng: Rng): number {
    const target = rng.next() * this.cumulative[this.cumulative.length - 1];
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cumulative[mid] > target) hi = mid;
      else lo = mid + 1;
    }
    return this.ids[lo];
  }
}
