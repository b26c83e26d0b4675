/**
 * Prompts that ask an LLM for knowledge in KAR's two fields: the user's preferences (reasoned from the user's
 * knowledge prefix only) and facts about each item. Each prompt declares the factors it asks about; the chunker
 * splits answers by those factors, so the prompt asks for one paragraph per factor, headed "Factor: ...".
 */
import { createHash } from "node:crypto";
import type { RawDataset, RawInteraction, RawItem, RawUser } from "../data/types.ts";

export type Domain = RawDataset["domain"];

export interface UserPromptInput {
  dataset: Pick<RawDataset, "domain" | "ratingLevels">;
  user: RawUser;
  /** The user's knowledge prefix (never CTR samples), oldest first. */
  prefix: RawInteraction[];
  itemsById: Map<string, RawItem>;
}

export interface ItemPromptInput {
  dataset: Pick<RawDataset, "domain">;
  item: RawItem;
}

export interface FieldPrompt<I> {
  /** Changes whenever the wording changes, so cached answers to older wordings are not reused. */
  id: string;
  factors: string[];
  render(input: I): string;
}

export interface PromptSet {
  domain: Domain;
  user: FieldPrompt<UserPromptInput>;
  item: FieldPrompt<ItemPromptInput>;
}

interface DomainWords {
  /** "movie", "book", "item" */
  noun: string;
  /** "watched", "read", "interacted with" */
  verb: string;
  userFactors: string[];
  itemFactors: string[];
}

const DOMAIN_WORDS: Record<Domain, DomainWords> = {
  movies: {
    noun: "movie",
    verb: "watched",
    userFactors: ["genre", "actors", "directors", "themes", "mood", "production quality", "critical acclaim"],
    itemFactors: ["genre", "actors", "directors", "themes", "mood", "production quality", "critical acclaim"],
  },
  books: {
    noun: "book",
    verb: "read",
    userFactors: ["genre", "authors", "writing style", "themes", "setting", "complexity", "critical acclaim"],
    itemFactors: ["genre", "author", "writing style", "themes", "setting", "complexity", "critical acclaim"],
  },
  generic: {
    noun: "item",
    verb: "interacted with",
    userFactors: ["category", "brand", "quality", "price level", "style", "use case", "reputation"],
    itemFactors: ["category", "brand", "quality", "price level", "style", "use case", "reputation"],
  },
};

/** How many prefix interactions a user prompt lists at most (newest kept): keeps prompts inside small contexts. */
export const MAX_PROMPT_HISTORY = 30;

function formatList(words: string[]): string {
  if (words.length <= 1) return words.join("");
  return `${words.slice(0, -1).join(", ")} and ${words[words.length - 1]}`;
}

function describeProfile(user: RawUser): string {
  const parts = Object.entries(user.attributes)
    .filter(([key, value]) => value !== "" && !/zip|postal/i.test(key))
    .map(([key, value]) => `${key}: ${value}`);
  return parts.length > 0 ? parts.join(", ") : "no profile information";
}

function describeItem(item: RawItem): string {
  // MovieLens titles already end with "(1995)"; the year is added only when the title lacks it.
  const year = item.year !== undefined && !item.title.includes(`(${item.year})`) ? ` (${item.year})` : "";
  const genres = item.genres.length > 0 ? `, genres: ${item.genres.join(" / ")}` : "";
  return `"${item.title}"${year}${genres}`;
}

function answerFormat(factors: string[]): string {
  return (
    `Answer with one short paragraph per factor, in this order: ${factors.join(", ")}. ` +
    `Start each paragraph on a new line with the factor name and a colon (for example "${capitalise(factors[0])}: ..."). ` +
    "If you know nothing reliable about a factor, say so in one sentence instead of guessing."
  );
}

function capitalise(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function promptId(domain: Domain, field: string, template: string): string {
  return `${domain}-${field}-${createHash("sha256").update(template).digest("hex").slice(0, 8)}`;
}

export function promptsFor(domain: Domain): PromptSet {
  const words = DOMAIN_WORDS[domain];
  const userRender = (input: UserPromptInput): string => {
    const history = input.prefix.slice(-MAX_PROMPT_HISTORY).map((event) => {
      const item = input.itemsById.get(event.itemId);
      const what = item ? describeItem(item) : `item ${event.itemId}`;
      return `- ${what}: rated ${event.rating} of ${input.dataset.ratingLevels}`;
    });
    return [
      `Here is a user's profile: ${describeProfile(input.user)}.`,
      history.length > 0
        ? `The user ${words.verb} and rated these ${words.noun}s (oldest first):\n${history.join("\n")}`
        : `The user has not rated any ${words.noun} yet.`,
      `Analyse this user's ${words.noun} preferences. Consider factors such as ${formatList(words.userFactors)}. ` +
        "Reason from the ratings: what the user rates high, what low, and what that says about their taste.",
      answerFormat(words.userFactors),
    ].join("\n\n");
  };
  const itemRender = (input: ItemPromptInput): string =>
    [
      `Introduce the ${words.noun} ${describeItem(input.item)}.`,
      `Describe its attributes, considering factors such as ${formatList(words.itemFactors)}.`,
      answerFormat(words.itemFactors),
    ].join("\n\n");
  // The id hashes the rendering of a fixed probe input, so any wording change yields a new id.
  const probeItem: RawItem = { id: "probe", title: "Probe", year: 2000, genres: ["Drama"], attributes: {} };
  const probeUser: RawUser = { id: "probe", attributes: { age: "30" } };
  const probeDataset = { domain, ratingLevels: 5 };
  const userProbe = userRender({
    dataset: probeDataset,
    user: probeUser,
    prefix: [{ userId: "probe", itemId: "probe", rating: 5, timestamp: 0 }],
    itemsById: new Map([["probe", probeItem]]),
  });
  const itemProbe = itemRender({ dataset: probeDataset, item: probeItem });
  return {
    domain,
    user: { id: promptId(domain, "user", userProbe), factors: words.userFactors, render: userRender },
    item: { id: promptId(domain, "item", itemProbe), factors: words.itemFactors, render: itemRender },
  };
}
