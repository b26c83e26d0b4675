/**
 * Offline stand-in for an LLM: per user and per item, a knowledge text made of chunks whose kind is known, so the
 * filter's selection can be scored. Kinds:
 * - informative: true facts (item genres, year, attributes; user demographics and preferences computed from the
 *   user's knowledge prefix only, never from CTR samples),
 * - hallucinated: the same templates filled with false facts (wrong genres, wrong year, invented people/preferences),
 * - redundant: a light rewording of another chunk of the same entity,
 * - homogeneous: filler that is nearly the same for everyone.
 * Chunks are shuffled per entity so a chunk's position says nothing about its kind.
 */
import type { ChunkKind, PreparedDataset, RawDataset, RawInteraction, RawItem, RawUser } from "../data/types.ts";
import { entityRandom, pick, type Random, sample, shuffle } from "../util/random.ts";
import { KNOWLEDGE_DEFAULTS } from "./defaults.ts";
import type { EntityKnowledge, KnowledgeChunk, KnowledgeTexts } from "./types.ts";

export interface KindProportions {
  informative: number;
  hallucinated: number;
  redundant: number;
  homogeneous: number;
}

export interface SimulateOptions {
  seed: number;
  /** Chunks per entity and field (K). */
  chunksPerField?: number;
  /** Expected share of each kind among chunks; normalised, need not sum to 1. */
  proportions?: Partial<KindProportions>;
  /** Share of entities with no knowledge at all (new users/items), per field. */
  missingRate?: { user?: number; item?: number };
  /** Chance that each chunk is dropped (answers of varying length); dropped chunks are masked in the bank. */
  dropChunkRate?: number;
}

export const DEFAULT_PROPORTIONS: KindProportions = { informative: 0.5, hallucinated: 0.2, redundant: 0.15, homogeneous: 0.15 };
export const SIMULATED_USER_FACTORS = [
  "profile",
  "genre",
  "dislikes",
  "era",
  "rating habits",
  "mood",
  "themes",
  "favourites",
  "taste",
  "critical acclaim",
];
export const SIMULATED_ITEM_FACTORS = [
  "genre",
  "release",
  "themes",
  "mood",
  "audience",
  "details",
  "directors",
  "critical acclaim",
  "style",
  "production quality",
];

interface GenreWords {
  themes: string[];
  moods: string[];
}

// Genre-specific vocabulary: informative chunks of items sharing a genre share words, as real knowledge would.
const GENRE_WORDS: Record<string, GenreWords> = {
  action: { themes: ["heroic missions", "chases and fights", "survival against odds"], moods: ["fast-paced", "explosive", "tense"] },
  adventure: { themes: ["journeys to distant places", "quests for treasure", "discovery"], moods: ["exciting", "sweeping", "bold"] },
  animation: { themes: ["talking animals", "magical worlds", "friendship"], moods: ["colourful", "whimsical", "playful"] },
  "children's": { themes: ["growing up", "family bonds", "school days"], moods: ["gentle", "innocent", "cheerful"] },
  comedy: { themes: ["awkward misunderstandings", "everyday absurdity", "mismatched friends"], moods: ["funny", "light-hearted", "witty"] },
  crime: { themes: ["heists", "gangsters and detectives", "corruption"], moods: ["gritty", "violent", "cynical"] },
  documentary: { themes: ["real events", "interviews with witnesses", "social issues"], moods: ["informative", "sober", "thoughtful"] },
  drama: { themes: ["family conflict", "personal struggle", "moral choices"], moods: ["serious", "emotional", "intimate"] },
  fantasy: { themes: ["wizards and dragons", "enchanted kingdoms", "prophecies"], moods: ["magical", "otherworldly", "epic"] },
  "film-noir": { themes: ["femmes fatales", "private eyes", "betrayal in the city"], moods: ["shadowy", "fatalistic", "moody"] },
  horror: { themes: ["haunted houses", "monsters and killers", "the supernatural"], moods: ["scary", "gory", "unsettling"] },
  musical: { themes: ["stage performers", "songs about love", "show business"], moods: ["tuneful", "joyful", "theatrical"] },
  mystery: { themes: ["unsolved murders", "hidden clues", "secrets from the past"], moods: ["puzzling", "suspenseful", "brooding"] },
  romance: { themes: ["falling in love", "couples kept apart", "weddings"], moods: ["romantic", "tender", "sentimental"] },
  "sci-fi": { themes: ["space travel", "robots and aliens", "future technology"], moods: ["futuristic", "cerebral", "awe-inspiring"] },
  thriller: { themes: ["conspiracies", "people on the run", "deadly games"], moods: ["suspenseful", "nerve-racking", "dark"] },
  war: { themes: ["soldiers in battle", "the cost of conflict", "comradeship"], moods: ["harrowing", "grim", "patriotic"] },
  western: { themes: ["cowboys and outlaws", "frontier towns", "showdowns"], moods: ["rugged", "dusty", "laconic"] },
};

const FIRST_NAMES = ["James", "Maria", "Robert", "Linda", "Akira", "Sofia", "Pierre", "Ingrid", "Carlos", "Mei", "Viktor", "Helen"];
const LAST_NAMES = ["Hartley", "Moreno", "Kowalski", "Lindqvist", "Okafor", "Tanaka", "Dubois", "Fischer", "Romano", "Brennan"];
const AWARDS = ["the Golden Lion", "three Academy Awards", "the Palme d'Or", "a Golden Globe", "the Hugo Award", "a BAFTA"];

// Homogeneous filler: a few near-identical templates; {noun} is the only substitution.
const ITEM_FILLER = [
  "Production quality: Like most {noun}s of its kind, it has its strengths and weaknesses and offers an enjoyable experience for many people.",
  "Critical acclaim: It received a mix of positive and negative reviews, and many people found it worth their time.",
  "Production quality: Overall it is a well-made {noun} with a good story that many audiences enjoy.",
  "Critical acclaim: It is generally considered an enjoyable {noun} with positive and negative reviews.",
];
const USER_FILLER = [
  "Taste: The user enjoys a good {noun} with an engaging story and appreciates quality and good reviews.",
  "Taste: Like most people, the user likes well-made {noun}s that are entertaining and have a good story.",
  "Critical acclaim: The user appreciates {noun}s with positive reviews and good production quality.",
  "Taste: The user generally enjoys entertaining {noun}s with good stories and good reviews.",
];

// Light rewording for redundant chunks.
const REWORDINGS: [RegExp, string][] = [
  [/\benjoys\b/g, "likes"],
  [/\bdeals with\b/g, "explores"],
  [/\bmood is\b/g, "tone is"],
  [/\bcame out in\b/g, "was released in"],
  [/\bfavours\b/g, "prefers"],
  [/\btends to rate\b/g, "usually rates"],
  [/\bsuits\b/g, "appeals to"],
  [/\bis drawn to\b/g, "gravitates to"],
];
const REPEAT_OPENERS = ["In other words, ", "Again, ", "As noted, ", "To repeat, "];

type Fact = { factor: string; text: string };

function words(genre: string): GenreWords {
  const known = GENRE_WORDS[genre.toLowerCase()];
  if (known) return known;
  // Unknown genres (book categories, ...): vocabulary derived from the name keeps chunks genre-specific.
  const g = genre.toLowerCase();
  return { themes: [`${g} subjects`, `classic ${g} situations`], moods: [`${g}-flavoured`, "distinctive"] };
}

function heading(factor: string): string {
  return factor.charAt(0).toUpperCase() + factor.slice(1);
}

function fact(factor: string, sentence: string): Fact {
  return { factor, text: `${heading(factor)}: ${sentence}` };
}

function joinAnd(list: string[]): string {
  if (list.length <= 1) return list.join("");
  return `${list.slice(0, -1).join(", ")} and ${list[list.length - 1]}`;
}

function decadeOf(year: number): string {
  return `${Math.floor(year / 10) * 10}s`;
}

function nounFor(domain: RawDataset["domain"]): string {
  return domain === "movies" ? "film" : domain === "books" ? "book" : "item";
}

function inventPerson(rng: Random): string {
  return `${pick(rng, FIRST_NAMES)} ${pick(rng, LAST_NAMES)}`;
}

/** Kinds of one entity's K chunks, drawn independently from the proportions; a redundant chunk needs a source. */
function drawKinds(rng: Random, k: number, p: KindProportions): ChunkKind[] {
  const total = p.informative + p.hallucinated + p.redundant + p.homogeneous;
  const kinds: ChunkKind[] = [];
  for (let i = 0; i < k; i++) {
    let u = rng() * total;
    let kind: ChunkKind = "homogeneous";
    for (const candidate of ["informative", "hallucinated", "redundant"] as const) {
      if (u < p[candidate]) {
        kind = candidate;
        break;
      }
      u -= p[candidate];
    }
    kinds.push(kind);
  }
  if (!kinds.some((kind) => kind !== "redundant")) kinds[0] = "informative";
  return kinds;
}

function reword(rng: Random, source: Fact): Fact {
  let body = source.text.slice(source.text.indexOf(":") + 1).trim();
  for (const [pattern, replacement] of REWORDINGS) body = body.replace(pattern, replacement);
  body = pick(rng, REPEAT_OPENERS) + body.charAt(0).toLowerCase() + body.slice(1);
  return fact(source.factor, body);
}

/** Assembles one entity's chunks from fact generators: takes facts in random order without repeats while they last. */
function assemble(
  rng: Random,
  kinds: ChunkKind[],
  informative: Fact[],
  hallucinated: Fact[],
  filler: string[],
  noun: string,
  dropRate: number,
): EntityKnowledge {
  const pools = { informative: shuffle(rng, informative.slice()), hallucinated: shuffle(rng, hallucinated.slice()) };
  const used = { informative: 0, hallucinated: 0 };
  const chunks: (KnowledgeChunk & { factor: string })[] = [];
  const sources: Fact[] = [];
  let repeats = 0;
  for (const kind of kinds) {
    if (kind === "redundant") {
      repeats++;
      continue;
    }
    let f: Fact;
    if (kind === "homogeneous") {
      const template = pick(rng, filler).replaceAll("{noun}", noun);
      f = { factor: template.slice(0, template.indexOf(":")).toLowerCase(), text: template };
    } else if (used[kind] < pools[kind].length) {
      f = pools[kind][used[kind]++];
    } else {
      // Out of distinct facts of this kind: anything more would repeat one, so it is honestly labelled redundant.
      repeats++;
      continue;
    }
    sources.push(f);
    chunks.push({ ...f, kind });
  }
  for (let r = 0; r < repeats && sources.length > 0; r++) {
    chunks.push({ ...reword(rng, pick(rng, sources)), kind: "redundant" });
  }
  const kept = shuffle(rng, chunks).filter(() => !(dropRate > 0 && rng() < dropRate));
  return { text: kept.map((c) => c.text).join("\n"), chunks: kept };
}

function itemFacts(rng: Random, item: RawItem, allGenres: string[], noun: string): { informative: Fact[]; hallucinated: Fact[] } {
  const genres = item.genres.filter((g) => g.toLowerCase() !== "unknown");
  const primary = genres[0] ?? "general";
  const w = words(primary);
  const others = allGenres.filter((g) => !item.genres.includes(g) && g.toLowerCase() !== "unknown");
  const wrong = others.length > 0 ? sample(rng, others, 2) : ["experimental"];
  const ww = words(wrong[0]);
  const title = item.title;
  const informative: Fact[] = [
    fact(
      "genre",
      `${title} is a ${primary.toLowerCase()} ${noun}${genres.length > 1 ? ` with elements of ${joinAnd(genres.slice(1).map((g) => g.toLowerCase()))}` : ""}.`,
    ),
    fact("themes", `The story deals with ${joinAnd(w.themes.slice(0, 2))}.`),
    fact("mood", `The mood is ${joinAnd(w.moods.slice(0, 2))}.`),
    fact("audience", `It suits people who enjoy ${primary.toLowerCase()} stories${genres[1] ? ` and ${genres[1].toLowerCase()}` : ""}.`),
  ];
  const hallucinated: Fact[] = [
    fact("genre", `${title} is a ${wrong[0].toLowerCase()} ${noun}${wrong[1] ? ` with elements of ${wrong[1].toLowerCase()}` : ""}.`),
    fact("themes", `The story deals with ${joinAnd(ww.themes.slice(0, 2))}.`),
    fact("mood", `The mood is ${joinAnd(ww.moods.slice(0, 2))}.`),
    fact("directors", `It was directed by ${inventPerson(rng)}, known for ${wrong[0].toLowerCase()} work.`),
    fact("critical acclaim", `It won ${pick(rng, AWARDS)} and was praised by ${inventPerson(rng)}.`),
  ];
  if (item.year !== undefined) {
    informative.push(fact("release", `It came out in ${item.year}, a ${decadeOf(item.year)} ${noun}.`));
    informative.push(
      fact("style", `It is typical of ${decadeOf(item.year)} ${primary.toLowerCase()}, ${w.moods[2] ?? w.moods[0]} in tone.`),
    );
    const shift = (6 + Math.floor(rng() * 25)) * (rng() < 0.5 ? -1 : 1);
    const fake = item.year + shift;
    hallucinated.push(fact("release", `It came out in ${fake}, a ${decadeOf(fake)} ${noun}.`));
  }
  const details = Object.entries(item.attributes).filter(([key, value]) => value !== "" && !/genre/i.test(key));
  if (details.length > 0) informative.push(fact("details", `${joinAnd(details.map(([k, v]) => `its ${k} is ${v}`))}.`));
  return { informative, hallucinated };
}

export interface UserPreferences {
  liked: string[];
  disliked: string[];
  decade?: string;
  meanRating?: number;
  favourites: string[];
}

/** Preferences from the knowledge prefix alone (the only interactions a user's knowledge may see). */
export function prefixPreferences(prefix: RawInteraction[], itemsById: Map<string, RawItem>, minPositive: number): UserPreferences {
  const like = new Map<string, number>();
  const dislike = new Map<string, number>();
  const decades = new Map<string, number>();
  let sum = 0;
  let top = Number.NEGATIVE_INFINITY;
  for (const event of prefix) {
    sum += event.rating;
    top = Math.max(top, event.rating);
    const item = itemsById.get(event.itemId);
    if (!item) continue;
    const target = event.rating >= minPositive ? like : dislike;
    // The first genre is the main one; secondary genres count half, so "horror with drama" reads as horror.
    item.genres.forEach((g, i) => {
      if (g.toLowerCase() !== "unknown") target.set(g, (target.get(g) ?? 0) + (i === 0 ? 1 : 0.5));
    });
    if (event.rating >= minPositive && item.year !== undefined) {
      const d = decadeOf(item.year);
      decades.set(d, (decades.get(d) ?? 0) + 1);
    }
  }
  const ranked = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([g]) => g);
  const liked = ranked(like);
  const favourites = prefix
    .filter((e) => e.rating === top)
    .map((e) => itemsById.get(e.itemId)?.title)
    .filter((t): t is string => t !== undefined)
    .slice(-2);
  return {
    liked,
    disliked: ranked(dislike).filter((g) => !liked.slice(0, 3).includes(g)),
    decade: ranked(decades)[0],
    meanRating: prefix.length > 0 ? sum / prefix.length : undefined,
    favourites,
  };
}

function describeProfile(attrs: [string, string][]): string {
  const map = new Map(attrs.map(([k, v]) => [k.toLowerCase(), v]));
  const age = map.get("age");
  const gender = map.get("gender");
  const occupation = map.get("occupation");
  if (age !== undefined || gender !== undefined || occupation !== undefined) {
    const g = gender === "M" ? "man" : gender === "F" ? "woman" : gender ? `person (${gender})` : "person";
    return `The user is a${age ? ` ${age}-year-old` : ""} ${g}${occupation ? ` working as ${occupation}` : ""}.`;
  }
  return `The user's profile: ${attrs.map(([k, v]) => `${k} ${v}`).join(", ")}.`;
}

type Facts = { informative: Fact[]; hallucinated: Fact[] };

/** The user's stated profile, and a false one with every attribute swapped for another value seen in the dataset. */
function profileFacts(rng: Random, user: RawUser, attributePools: Map<string, string[]>): Facts {
  const attrs = Object.entries(user.attributes).filter(([k, v]) => v !== "" && !/zip|postal/i.test(k));
  if (attrs.length === 0) return { informative: [], hallucinated: [] };
  const fake = attrs.map(([k, v]): [string, string] => {
    const others = (attributePools.get(k) ?? []).filter((x) => x !== v);
    return [k, others.length > 0 ? pick(rng, others) : v];
  });
  return { informative: [fact("profile", describeProfile(attrs))], hallucinated: [fact("profile", describeProfile(fake))] };
}

/** Liked genres with their moods and themes, dislikes; false ones name genres the user does not like. */
function tasteFacts(rng: Random, prefs: UserPreferences, allGenres: string[], noun: string): Facts {
  const informative: Fact[] = [];
  const unliked = allGenres.filter((g) => !prefs.liked.includes(g) && g.toLowerCase() !== "unknown");
  const fakeLiked = unliked.length > 0 ? sample(rng, unliked, 2) : ["experimental"];
  const fw = words(fakeLiked[0]);
  const hallucinated = [
    fact("genre", `The user enjoys ${joinAnd(fakeLiked.map((g) => g.toLowerCase()))} ${noun}s.`),
    fact("mood", `The user is drawn to ${joinAnd(fw.moods.slice(0, 2))} ${noun}s.`),
    fact("themes", `The user likes stories about ${joinAnd(fw.themes.slice(0, 2))}.`),
  ];
  if (prefs.liked.length > 0) {
    const top = prefs.liked.slice(0, 3).map((g) => g.toLowerCase());
    const w = words(prefs.liked[0]);
    informative.push(
      fact("genre", `The user enjoys ${joinAnd(top)} ${noun}s.`),
      fact("mood", `The user is drawn to ${joinAnd(w.moods.slice(0, 2))} ${noun}s.`),
      fact("themes", `The user likes stories about ${joinAnd(w.themes.slice(0, 2))}.`),
    );
    // The invented dislike names genres the user actually likes.
    hallucinated.push(fact("dislikes", `The user tends to rate ${joinAnd(top.slice(0, 2))} ${noun}s low.`));
  }
  if (prefs.disliked.length > 0)
    informative.push(
      fact("dislikes", `The user tends to rate ${joinAnd(prefs.disliked.slice(0, 2).map((g) => g.toLowerCase()))} ${noun}s low.`),
    );
  return { informative, hallucinated };
}

/** The favoured era and the rating habit, each with a false counterpart. */
function habitFacts(rng: Random, raw: RawDataset, prefs: UserPreferences, noun: string): Facts {
  const informative: Fact[] = [];
  const hallucinated: Fact[] = [];
  if (prefs.decade) {
    informative.push(fact("era", `The user favours ${noun}s from the ${prefs.decade}.`));
    const decades = ["1930s", "1940s", "1950s", "1960s", "1970s", "1980s", "1990s", "2000s"].filter((d) => d !== prefs.decade);
    hallucinated.push(fact("era", `The user favours ${noun}s from the ${pick(rng, decades)}.`));
  }
  if (prefs.meanRating !== undefined) {
    const mid = (raw.ratingLevels + 1) / 2;
    const habit = (m: number) => (m >= mid + 0.6 ? "generous" : m <= mid - 0.2 ? "strict" : "balanced");
    const stated = (m: number) => `The user is a ${habit(m)} rater, averaging ${m.toFixed(1)} of ${raw.ratingLevels}.`;
    informative.push(fact("rating habits", stated(prefs.meanRating)));
    hallucinated.push(fact("rating habits", stated(1 + rng() * (raw.ratingLevels - 1))));
  }
  return { informative, hallucinated };
}

function userFacts(
  rng: Random,
  raw: RawDataset,
  user: RawUser,
  prefs: UserPreferences,
  attributePools: Map<string, string[]>,
  allGenres: string[],
  noun: string,
): Facts {
  const parts = [profileFacts(rng, user, attributePools), tasteFacts(rng, prefs, allGenres, noun), habitFacts(rng, raw, prefs, noun)];
  const informative = parts.flatMap((p) => p.informative);
  const hallucinated = parts.flatMap((p) => p.hallucinated);
  if (prefs.favourites.length > 0) informative.push(fact("favourites", `Highly rated titles include ${joinAnd(prefs.favourites)}.`));
  const randomTitles = sample(rng, raw.items, 2).map((i) => i.title);
  if (randomTitles.length > 0) hallucinated.push(fact("favourites", `Highly rated titles include ${joinAnd(randomTitles)}.`));
  if (informative.length === 0) informative.push(fact("profile", `The user has not rated any ${noun} yet.`));
  return { informative, hallucinated };
}

/**
 * Simulated knowledge for every user and item of `raw`. User preferences read `prepared.knowledgePrefix` only.
 * Deterministic from opts.seed (and independent of entity order).
 */
export function simulateKnowledge(
  raw: RawDataset,
  prepared: Pick<PreparedDataset, "knowledgePrefix">,
  opts: SimulateOptions,
): KnowledgeTexts {
  const k = opts.chunksPerField ?? KNOWLEDGE_DEFAULTS.chunks;
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`chunksPerField must be a positive integer, got ${k}`);
  const p: KindProportions = { ...DEFAULT_PROPORTIONS, ...opts.proportions };
  for (const [kind, share] of Object.entries(p)) {
    if (!(share >= 0)) throw new RangeError(`proportion of ${kind} must be >= 0, got ${share}`);
  }
  if (p.informative + p.hallucinated + p.homogeneous <= 0) throw new RangeError("proportions need some non-redundant kind");
  const noun = nounFor(raw.domain);
  const itemsById = new Map(raw.items.map((i) => [i.id, i]));
  const allGenres = [...new Set(raw.items.flatMap((i) => i.genres))].sort();
  const attributePools = new Map<string, string[]>();
  for (const u of raw.users) {
    for (const [key, value] of Object.entries(u.attributes)) {
      const pool = attributePools.get(key) ?? [];
      if (!pool.includes(value)) pool.push(value);
      attributePools.set(key, pool);
    }
  }
  const dropRate = opts.dropChunkRate ?? 0;
  const empty = (): EntityKnowledge => ({ text: "", chunks: [] });

  const item = new Map<string, EntityKnowledge>();
  for (const it of raw.items) {
    const rng = entityRandom(opts.seed, "item", it.id);
    if (rng() < (opts.missingRate?.item ?? 0)) {
      item.set(it.id, empty());
      continue;
    }
    const facts = itemFacts(rng, it, allGenres, noun);
    item.set(it.id, assemble(rng, drawKinds(rng, k, p), facts.informative, facts.hallucinated, ITEM_FILLER, noun, dropRate));
  }
  const user = new Map<string, EntityKnowledge>();
  for (const u of raw.users) {
    const rng = entityRandom(opts.seed, "user", u.id);
    if (rng() < (opts.missingRate?.user ?? 0)) {
      user.set(u.id, empty());
      continue;
    }
    const prefs = prefixPreferences(prepared.knowledgePrefix[u.id] ?? [], itemsById, raw.minPositiveRating);
    const facts = userFacts(rng, raw, u, prefs, attributePools, allGenres, noun);
    user.set(u.id, assemble(rng, drawKinds(rng, k, p), facts.informative, facts.hallucinated, USER_FILLER, noun, dropRate));
  }
  return {
    source: `simulated:seed=${opts.seed}`,
    factors: { user: SIMULATED_USER_FACTORS, item: SIMULATED_ITEM_FACTORS },
    user,
    item,
  };
}
