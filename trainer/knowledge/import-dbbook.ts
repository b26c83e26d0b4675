/**
 * DBbook's LLM-written user profiles as knowledge (the dataset itself: trainer/data/dbbook.ts): each user's profile
 * (`outputs/user{N}_sysprompt2.json`, {"plain": profile}; users in `broken.txt` have none), chunked into the aspects
 * the profiles discuss (DBBOOK_ASPECTS, one slot each plus "other"), and each book's title as the item's only chunk.
 */
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { RawDataset } from "../data/types.ts";
import { InputFormatError, UserFacingError } from "../util/errors.ts";
import { type Aspect, aspectChunker, OTHER_ASPECT } from "./aspect-chunker.ts";
import type { EntityKnowledge, KnowledgeTexts } from "./types.ts";

const PROFILES = "outputs";

/** The aspects the profile prompt asks about (the dataset's README lists them), with the words that mark each. */
export const DBBOOK_ASPECTS: Aspect[] = [
  { name: "genre", keywords: ["genre"] },
  { name: "plot", keywords: ["plot", "storyline"] },
  { name: "setting", keywords: ["setting"] },
  { name: "writing style", keywords: ["writing style", "style", "prose"] },
  { name: "length", keywords: ["length"] },
  { name: "topic", keywords: ["topic"] },
  { name: "pacing", keywords: ["pacing", "pace", "paced"] },
  { name: "narrative structure", keywords: ["narrative structure", "narrative", "structure", "perspective", "point of view"] },
  { name: "themes", keywords: ["theme"] },
];
/** Slot names of a user's chunks: the aspects, then "other". */
export const DBBOOK_USER_SLOTS = [...DBBOOK_ASPECTS.map((a) => a.name), OTHER_ASPECT];

/** What chunking the profiles did, over all users. */
export interface ProfileChunking {
  profiles: number;
  /** Users of the interactions without a profile file (or listed in broken.txt): their user knowledge is absent. */
  missing: number;
  sentences: number;
  /** Chunks made (present slots), per slot name. */
  chunksPerSlot: Record<string, number>;
  /** Sentences that joined a slot already holding one (same aspect twice). */
  merged: number;
  /** Sentences dropped: none (every sentence has a slot, "other" at worst). */
  dropped: number;
}

/** The profiles as user knowledge (aspect chunks in fixed slots) and the titles as item knowledge. */
export async function loadDbbookKnowledge(dir: string, raw: RawDataset): Promise<{ texts: KnowledgeTexts; chunking: ProfileChunking }> {
  const folder = join(dir, PROFILES);
  if (!existsSync(folder)) throw new UserFacingError(`${dir}: no ${PROFILES}/ folder of user profiles`);
  const broken = new Set(
    existsSync(join(dir, "broken.txt")) ? (await readFile(join(dir, "broken.txt"), "utf8")).split(/\s+/).filter((s) => s !== "") : [],
  );
  const files = new Set(await readdir(folder));
  const chunk = aspectChunker(DBBOOK_ASPECTS);
  const chunking: ProfileChunking = {
    profiles: 0,
    missing: 0,
    sentences: 0,
    chunksPerSlot: Object.fromEntries(DBBOOK_USER_SLOTS.map((s) => [s, 0])),
    merged: 0,
    dropped: 0,
  };
  const user = new Map<string, EntityKnowledge>();
  for (const u of raw.users) {
    const name = `user${u.id}_sysprompt2.json`;
    if (broken.has(u.id) || !files.has(name)) {
      chunking.missing++;
      continue;
    }
    const file = join(folder, name);
    let plain: unknown;
    try {
      plain = (JSON.parse(await readFile(file, "utf8")) as { plain?: unknown }).plain;
    } catch (error) {
      throw new InputFormatError(file, undefined, undefined, `not valid JSON (${(error as Error).message})`);
    }
    if (typeof plain !== "string") throw new InputFormatError(file, undefined, "plain", "missing or not a string");
    const c = chunk(withoutQuotedTitles(plain));
    chunking.profiles++;
    chunking.sentences += c.sentences;
    chunking.merged += c.merged;
    const chunks = c.chunks.flatMap((text, slot) => (text ? [{ text, slot, factor: DBBOOK_USER_SLOTS[slot] }] : []));
    for (const ch of chunks) chunking.chunksPerSlot[ch.factor]++;
    user.set(u.id, { text: plain, chunks });
  }
  const item = new Map<string, EntityKnowledge>(
    raw.items.filter((i) => i.title !== "").map((i) => [i.id, { text: i.title, chunks: [{ text: i.title, slot: 0, factor: "title" }] }]),
  );
  return {
    texts: { source: "dbbook-llm-profiles", factors: { user: DBBOOK_USER_SLOTS, item: ["title"] }, user, item },
    chunking,
  };
}

/**
 * The profile without the titles it quotes. The profiles were written from each user's train likes and name about a
 * fifth of them by title, and almost no test book: a title in the profile is a cue that exists only for train rows
 * (label leakage into training), so it is replaced before chunking.
 */
export function withoutQuotedTitles(text: string): string {
  return text.replace(/["\u201c][^"\u201c\u201d]{1,200}["\u201d]/g, "a book");
}
