/**
 * A synthetic world where knowledge matters: hidden user tastes and hidden item traits drive the labels, and only
 * knowledge states them. The model sees ids, a visible item category (loosely tied to the topic), visible user
 * demographics (loosely tied to taste) and each user's history; test users are new users and a share of items are
 * new items (no train user ever rated them), so for those entities only their knowledge reveals what matters.
 *
 * Score of user u on item i: 1.0 per liked topic hit - 1.2 per avoided topic + 0.5 style match + 0.5 tone match +
 * user bias + item quality + noise; ratings 1..5 by thresholds; label = rating >= 4. Users meet items mostly by
 * popularity, sometimes by taste, so history reveals taste only partly.
 *
 * The truth (WorldTruth) is kept beside the data: trainer/knowledge/world-knowledge.ts writes knowledge texts from
 * it with chunks of known kinds. Rows carry their split (users 80/10/10); prepare's split "given" keeps it.
 */
import { Rng } from "../util/random.ts";
import type { RawDataset, RawInteraction, RawItem, RawUser } from "./types.ts";

export const WORLD_TOPICS = [
  "dragons",
  "detectives",
  "space",
  "romance",
  "war",
  "cooking",
  "sports",
  "politics",
  "nature",
  "music",
  "crime",
  "faith",
];
export const WORLD_STYLES = ["plain", "lyrical", "witty", "terse"];
export const WORLD_TONES = ["dark", "hopeful", "calm", "tense"];
export const WORLD_CATEGORIES = ["novel", "memoir", "anthology", "textbook", "comic", "essay", "guide", "biography"];
export const WORLD_AGES = ["teen", "young", "adult", "middle", "senior"];
export const WORLD_REGIONS = ["north", "south", "east", "west"];
/**
 * Topics come in clusters with a typical tone and style (as genres, moods and styles go together in real
 * catalogues): an entity's true facts mostly agree with each other, a hallucinated one is drawn without regard to
 * them. Indices into WORLD_TOPICS, WORLD_TONES, WORLD_STYLES.
 */
const CLUSTERS = [
  { topics: [0, 2, 4], tone: 3, style: 1 }, // dragons, space, war: tense, lyrical
  { topics: [1, 7, 10], tone: 0, style: 3 }, // detectives, politics, crime: dark, terse
  { topics: [5, 6, 8], tone: 2, style: 0 }, // cooking, sports, nature: calm, plain
  { topics: [3, 9, 11], tone: 1, style: 2 }, // romance, music, faith: hopeful, witty
];
const clusterOf = (topic: number) => CLUSTERS.findIndex((c) => c.topics.includes(topic));
/** Chance that an entity's style / tone is its cluster's. */
const TYPICAL = 0.7;

export interface UserTaste {
  liked: number[];
  avoided: number[];
  style: number;
  tone: number;
}

export interface ItemTraits {
  topic: number;
  style: number;
  tone: number;
  category: number;
}

export interface WorldTruth {
  users: Map<string, UserTaste & { age: number; region: number }>;
  items: Map<string, ItemTraits>;
  /** Items no train user rated. */
  coldItems: Set<string>;
}

export interface WorldOptions {
  seed: number;
  users?: number;
  items?: number;
  /** Mean interactions per user (log-normal, at least 15). */
  interactionsPerUser?: number;
  /** Share of items that only valid/test users meet. */
  coldItemShare?: number;
  /** Train, valid, test shares of the users. */
  splits?: [number, number, number];
}

export interface KnowledgeWorld {
  raw: RawDataset;
  truth: WorldTruth;
}

const WEIGHTS = { liked: 1.5, avoided: -1.5, style: 0.6, tone: 0.6 };
const THRESHOLDS = [-1.0, -0.1, 0.7, 1.4];

export function generateKnowledgeWorld(options: WorldOptions): KnowledgeWorld {
  const { seed, users: userCount = 3000, items: itemCount = 1500, interactionsPerUser = 40, coldItemShare = 0.2 } = options;
  const splits = options.splits ?? [0.8, 0.1, 0.1];
  const rng = new Rng(seed);
  const T = WORLD_TOPICS.length;
  const { items, traits, quality, popularity } = makeItems(rng, itemCount);
  const coldItems = new Set(rng.shuffle(items.map((i) => i.id)).slice(0, Math.round(coldItemShare * itemCount)));
  const byTopic = Array.from({ length: T }, (_, t) => items.flatMap((it, i) => (traits[i].topic === t ? [i] : [])));

  const users: RawUser[] = [];
  const truthUsers: WorldTruth["users"] = new Map();
  const interactions: RawInteraction[] = [];
  const total = splits[0] + splits[1] + splits[2];
  for (let u = 0; u < userCount; u++) {
    const id = String(u + 1);
    const draw = rng.next() * total;
    const split = draw < splits[0] ? "train" : draw < splits[0] + splits[1] ? "valid" : "test";
    const age = rng.int(WORLD_AGES.length);
    const region = rng.int(WORLD_REGIONS.length);
    const taste = makeTaste(rng, age, region);
    users.push({ id, attributes: { age: WORLD_AGES[age], region: WORLD_REGIONS[region] } });
    truthUsers.set(id, { ...taste, age, region });
    const bias = 0.4 * rng.normal();
    const n = Math.max(15, Math.round(Math.exp(Math.log(interactionsPerUser) - 0.18 + 0.6 * rng.normal())));
    const seen = new Set<number>();
    for (let t = 0; t < n && seen.size < itemCount; t++) {
      let i = -1;
      for (let attempt = 0; attempt < 50 && (i < 0 || seen.has(i) || (split === "train" && coldItems.has(items[i].id))); attempt++) {
        i = rng.next() < 0.3 ? pickWeighted(rng, byTopic[rng.pick(taste.liked)], popularity) : pickWeighted(rng, null, popularity);
      }
      if (seen.has(i) || (split === "train" && coldItems.has(items[i].id))) continue;
      seen.add(i);
      const score = affinity(taste, traits[i]) + bias + quality[i] + 0.6 * rng.normal();
      const rating = 1 + THRESHOLDS.filter((th) => score > th).length;
      interactions.push({ userId: id, itemId: items[i].id, rating, timestamp: 1_000_000 + u * 10_000 + t, split });
    }
  }
  const truthItems = new Map(items.map((it, i) => [it.id, traits[i]]));
  return {
    raw: {
      name: `world-${seed}`,
      domain: "books",
      users,
      items,
      interactions,
      userFieldNames: ["age", "region"],
      itemFieldNames: ["category"],
      minPositiveRating: 4,
      ratingLevels: 5,
      knowledgePrefix: 5,
    },
    truth: { users: truthUsers, items: truthItems, coldItems },
  };
}

/** The hidden part of a user's score on an item. */
export function affinity(taste: UserTaste, item: ItemTraits): number {
  let s = 0;
  if (taste.liked.includes(item.topic)) s += WEIGHTS.liked;
  if (taste.avoided.includes(item.topic)) s += WEIGHTS.avoided;
  if (taste.style === item.style) s += WEIGHTS.style;
  if (taste.tone === item.tone) s += WEIGHTS.tone;
  return s;
}

function makeItems(rng: Rng, count: number) {
  const T = WORLD_TOPICS.length;
  const C = WORLD_CATEGORIES.length;
  // Each category leans to two "home" topics: the visible category says a little about the hidden topic.
  const home = Array.from({ length: C }, (_, c) => [(2 * c) % T, (2 * c + 5) % T]);
  const items: RawItem[] = [];
  const traits: ItemTraits[] = [];
  const quality: number[] = [];
  const popularity: number[] = [];
  for (let i = 0; i < count; i++) {
    const category = rng.int(C);
    const topic = rng.next() < 0.35 ? rng.pick(home[category]) : rng.int(T);
    const cluster = CLUSTERS[clusterOf(topic)];
    const style = rng.next() < TYPICAL ? cluster.style : rng.int(WORLD_STYLES.length);
    const tone = rng.next() < TYPICAL ? cluster.tone : rng.int(WORLD_TONES.length);
    const t: ItemTraits = { topic, style, tone, category };
    traits.push(t);
    quality.push(0.4 * rng.normal());
    popularity.push(Math.exp(1.0 * rng.normal()));
    items.push({
      id: String(i + 1),
      title: `Book ${i + 1}`,
      genres: [WORLD_CATEGORIES[category]],
      attributes: { category: WORLD_CATEGORIES[category] },
    });
  }
  return { items, traits, quality, popularity };
}

/**
 * A home cluster (leaning on age and region): two liked topics from it and one anywhere else, two avoided topics
 * from another cluster, and mostly the home cluster's style and tone.
 */
function makeTaste(rng: Rng, age: number, region: number): UserTaste {
  const T = WORLD_TOPICS.length;
  const home = rng.next() < 0.4 ? (age + region) % CLUSTERS.length : rng.int(CLUSTERS.length);
  const own = rng.shuffle(CLUSTERS[home].topics.slice()).slice(0, 2);
  const rest = rng.shuffle(Array.from({ length: T }, (_, t) => t).filter((t) => !own.includes(t)));
  const liked = [...own, rest[0]];
  const away = rng.shuffle(CLUSTERS.map((_, c) => c).filter((c) => c !== home && c !== clusterOf(rest[0])))[0];
  const avoided = rng.shuffle(CLUSTERS[away].topics.slice()).slice(0, 2);
  const style = rng.next() < TYPICAL ? CLUSTERS[home].style : rng.int(WORLD_STYLES.length);
  const tone = rng.next() < TYPICAL ? CLUSTERS[home].tone : rng.int(WORLD_TONES.length);
  return { liked, avoided, style, tone };
}

/** An index from `pool` (all items when null), proportional to popularity. */
function pickWeighted(rng: Rng, pool: number[] | null, popularity: number[]): number {
  const ids = pool ?? popularity.map((_, i) => i);
  let sum = 0;
  for (const i of ids) sum += popularity[i];
  let r = rng.next() * sum;
  for (const i of ids) {
    r -= popularity[i];
    if (r < 0) return i;
  }
  return ids[ids.length - 1];
}
