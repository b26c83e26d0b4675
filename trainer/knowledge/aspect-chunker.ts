/**
 * Splits long free text (an LLM's profile of a user, a description of an item) into aspect chunks: one slot per
 * aspect the text is known to discuss (genre, plot, pacing, ...) plus a last slot for what names no aspect. Each
 * sentence goes to the aspect it is about: the aspect it names as "favourite <aspect>" or "<aspect> is", else the
 * first aspect it mentions, else the aspect of the sentence before it (a continuation), else "other". Sentences
 * about the same aspect are merged into its slot, in text order; nothing is dropped. A slot's position is its
 * aspect, so a model can learn per aspect (the chunks of every entity line up).
 */
import { splitSentences } from "./chunker.ts";

export interface Aspect {
  /** Slot name, e.g. "writing style". */
  name: string;
  /** Words that mark a sentence as about this aspect (matched case-insensitively as whole words, plurals too). */
  keywords: string[];
}

export interface AspectChunks {
  /** aspects.length + 1 entries: one per aspect, then "other"; "" where the text says nothing. */
  chunks: string[];
  /** 1 where the slot has text. */
  mask: Float32Array;
  /** Sentences read. */
  sentences: number;
  /** Sentences that joined a slot already holding an earlier sentence. */
  merged: number;
}

export const OTHER_ASPECT = "other";

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

interface CompiledAspect {
  any: RegExp;
  subject: RegExp;
}

function compile(aspect: Aspect): CompiledAspect {
  const words = aspect.keywords.map((k) => `${escapeRegExp(k).replace(/\s+/g, "\\s+")}(?:e?s)?`).join("|");
  return {
    any: new RegExp(`\\b(?:${words})\\b`, "i"),
    // "favourite kind of plot", "preferred pacing", "the genre is": the sentence's subject.
    subject: new RegExp(
      `\\b(?:favou?rite|preferred|ideal)\\s+(?:kind\\s+of\\s+|type\\s+of\\s+)?(?:${words})\\b|\\b(?:${words})\\s+(?:is|are|would be|could be)\\b`,
      "i",
    ),
  };
}

/** A reusable chunker for one list of aspects. */
export function aspectChunker(aspects: Aspect[]): (text: string) => AspectChunks {
  if (aspects.length === 0) throw new RangeError("aspectChunker needs at least one aspect");
  const compiled = aspects.map(compile);
  const other = aspects.length;
  const slotOf = (sentence: string, previous: number | undefined): number => {
    const subject = compiled.findIndex((c) => c.subject.test(sentence));
    if (subject >= 0) return subject;
    let first = -1;
    let at = Number.POSITIVE_INFINITY;
    compiled.forEach((c, i) => {
      const m = c.any.exec(sentence);
      if (m && m.index < at) {
        at = m.index;
        first = i;
      }
    });
    if (first >= 0) return first;
    return previous ?? other;
  };
  return (text) => {
    const sentences = splitSentences(text);
    const parts: string[][] = Array.from({ length: aspects.length + 1 }, () => []);
    let previous: number | undefined;
    let merged = 0;
    for (const sentence of sentences) {
      const slot = slotOf(sentence, previous);
      if (parts[slot].length > 0) merged++;
      parts[slot].push(sentence);
      previous = slot;
    }
    const chunks = parts.map((p) => p.join(" "));
    return { chunks, mask: Float32Array.from(chunks, (c) => (c.length > 0 ? 1 : 0)), sentences: sentences.length, merged };
  };
}
