/**
 * Knowledge texts about the knowledge world's users and items (trainer/data/knowledge-world.ts), with each chunk's
 * kind known:
 * - informative: a true hidden fact ("The user loves space stories.", "This book is about space."),
 * - hallucinated: a false fact stated the same way, stable per entity (the same false facts every time),
 * - redundant: restates a visible id feature ("The user is in the young age group.", "It is a memoir."),
 * - homogeneous: the same text for everyone.
 * Kinds are drawn per chunk from the proportions; a draw of a kind whose texts are all used leaves the slot empty
 * (masked), so no text repeats within an entity and no kind is mislabelled. Chunks are shuffled: a slot says
 * nothing about a kind.
 */
import {
  type ItemTraits,
  type KnowledgeWorld,
  type UserTaste,
  WORLD_AGES,
  WORLD_CATEGORIES,
  WORLD_REGIONS,
  WORLD_STYLES,
  WORLD_TONES,
  WORLD_TOPICS,
} from "../data/knowledge-world.ts";
import type { ChunkKind } from "../data/types.ts";
import { entityRandom, type Random, shuffle } from "../util/random.ts";
import { KNOWLEDGE_DEFAULTS } from "./defaults.ts";
import type { KindProportions } from "./simulator.ts";
import type { EntityKnowledge, KnowledgeChunk, KnowledgeTexts } from "./types.ts";

export interface WorldKnowledgeOptions {
  seed: number;
  chunksPerField?: number;
  proportions: KindProportions;
}

/** Only true facts: the clean setting, against which a filter's recovery is measured. */
export const CLEAN_PROPORTIONS: KindProportions = { informative: 1, hallucinated: 0, redundant: 0, homogeneous: 0 };

const USER_FILLER = "The user enjoys a good book with an engaging story.";
const ITEM_FILLER = "Many readers find it an enjoyable read.";

const userFacts = (t: UserTaste) => [
  ...t.liked.map((x) => `The user loves ${WORLD_TOPICS[x]} stories.`),
  ...t.avoided.map((x) => `The user avoids ${WORLD_TOPICS[x]} stories.`),
  `The user prefers a ${WORLD_STYLES[t.style]} style.`,
  `The user likes a ${WORLD_TONES[t.tone]} tone.`,
];
const itemFacts = (t: Omit<ItemTraits, "category">) => [
  `This book is about ${WORLD_TOPICS[t.topic]}.`,
  `It is written in a ${WORLD_STYLES[t.style]} style.`,
  `Its tone is ${WORLD_TONES[t.tone]}.`,
];

const other = (rng: Random, n: number, not: number[]) => {
  const choices = Array.from({ length: n }, (_, i) => i).filter((i) => !not.includes(i));
  return choices[Math.floor(rng() * choices.length)];
};

/** Another style and another tone (style drawn first). */
const otherStyleAndTone = (rng: Random, t: { style: number; tone: number }) => ({
  style: other(rng, WORLD_STYLES.length, [t.style]),
  tone: other(rng, WORLD_TONES.length, [t.tone]),
});

/** A false taste: loves and avoids topics the user has no view on, another style and another tone. */
function falseTaste(rng: Random, t: UserTaste): UserTaste {
  const neutral = shuffle(
    rng,
    WORLD_TOPICS.map((_, i) => i).filter((i) => !t.liked.includes(i) && !t.avoided.includes(i)),
  );
  return { liked: neutral.slice(0, 3), avoided: neutral.slice(3, 5), ...otherStyleAndTone(rng, t) };
}

function falseTraits(rng: Random, t: ItemTraits): Omit<ItemTraits, "category"> {
  return { topic: other(rng, WORLD_TOPICS.length, [t.topic]), ...otherStyleAndTone(rng, t) };
}

function drawKind(rng: Random, p: KindProportions): ChunkKind {
  const total = p.informative + p.hallucinated + p.redundant + p.homogeneous;
  let u = rng() * total;
  for (const kind of ["informative", "hallucinated", "redundant"] as const) {
    if (u < p[kind]) return kind;
    u -= p[kind];
  }
  return "homogeneous";
}

function assemble(rng: Random, k: number, p: KindProportions, pools: Record<ChunkKind, string[]>): EntityKnowledge {
  const queues: Record<ChunkKind, string[]> = {
    informative: shuffle(rng, pools.informative.slice()),
    hallucinated: shuffle(rng, pools.hallucinated.slice()),
    redundant: shuffle(rng, pools.redundant.slice()),
    homogeneous: pools.homogeneous.slice(),
  };
  const chunks: KnowledgeChunk[] = [];
  for (let c = 0; c < k; c++) {
    const kind = drawKind(rng, p);
    const text = queues[kind].shift();
    if (text !== undefined) chunks.push({ text, kind });
  }
  const kept = shuffle(rng, chunks);
  return { text: kept.map((c) => c.text).join(" "), chunks: kept };
}

export function worldKnowledge(world: KnowledgeWorld, opts: WorldKnowledgeOptions): KnowledgeTexts {
  const k = opts.chunksPerField ?? KNOWLEDGE_DEFAULTS.chunks;
  const user = new Map<string, EntityKnowledge>();
  for (const [id, t] of world.truth.users) {
    // The false facts come from their own stream: stable per entity whatever the proportions.
    const falseFacts = userFacts(falseTaste(entityRandom(opts.seed, "user-false", id), t));
    const pools: Record<ChunkKind, string[]> = {
      informative: userFacts(t),
      hallucinated: falseFacts,
      redundant: [`The user is in the ${WORLD_AGES[t.age]} age group.`, `The user lives in the ${WORLD_REGIONS[t.region]} region.`],
      homogeneous: [USER_FILLER],
    };
    user.set(id, assemble(entityRandom(opts.seed, "user", id), k, opts.proportions, pools));
  }
  const item = new Map<string, EntityKnowledge>();
  for (const [id, t] of world.truth.items) {
    const pools: Record<ChunkKind, string[]> = {
      informative: itemFacts(t),
      hallucinated: itemFacts(falseTraits(entityRandom(opts.seed, "item-false", id), t)),
      redundant: [`It is a ${WORLD_CATEGORIES[t.category]}.`],
      homogeneous: [ITEM_FILLER],
    };
    item.set(id, assemble(entityRandom(opts.seed, "item", id), k, opts.proportions, pools));
  }
  return { source: `world:seed=${opts.seed}`, factors: { user: [], item: [] }, user, item };
}
