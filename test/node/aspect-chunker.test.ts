import { describe, expect, it } from "vitest";
import { aspectChunker } from "../../trainer/knowledge/aspect-chunker.ts";
import { splitSentences } from "../../trainer/knowledge/chunker.ts";

const chunk = aspectChunker([
  { name: "genre", keywords: ["genre"] },
  { name: "plot", keywords: ["plot"] },
  { name: "pacing", keywords: ["pacing", "paced"] },
  { name: "themes", keywords: ["theme"] },
]);

describe("aspectChunker", () => {
  it("puts each sentence in the slot of the aspect it is about, the rest in the last slot", () => {
    const text =
      "Based on the books, the user reads a lot. The user's favourite genre is fantasy. " +
      "They also like fast-paced plots. The user's favourite plot is a quest.\n\nThe user's favourite themes are courage and loss.";
    const out = chunk(text);
    expect(out.chunks).toEqual([
      "The user's favourite genre is fantasy.",
      "The user's favourite plot is a quest.",
      "They also like fast-paced plots.",
      "The user's favourite themes are courage and loss.",
      "Based on the books, the user reads a lot.",
    ]);
    expect([...out.mask]).toEqual([1, 1, 1, 1, 1]);
    expect(out.sentences).toBe(5);
    expect(out.merged).toBe(0);
  });

  it("merges a continuation into the aspect before it and counts merges; nothing is dropped", () => {
    const out = chunk("The user's favourite genre is horror. It scares them in a good way. Their favourite genre is also crime.");
    expect(out.chunks[0]).toBe("The user's favourite genre is horror. It scares them in a good way. Their favourite genre is also crime.");
    expect(out.merged).toBe(2);
    expect([...out.mask]).toEqual([1, 0, 0, 0, 0]);
    const words = (s: string) => s.split(/\s+/).filter(Boolean).length;
    const text = "One. Two is about the plot! Three? The pacing is slow.";
    const all = chunk(text);
    expect(all.chunks.map(words).reduce((a, b) => a + b, 0)).toBe(words(text));
  });

  it("gives an empty, fully masked result for empty text", () => {
    const out = chunk("  \n ");
    expect([...out.mask]).toEqual([0, 0, 0, 0, 0]);
    expect(out.sentences).toBe(0);
  });

  it("splits sentences at paragraph breaks and sentence ends", () => {
    expect(splitSentences("A b. C d!\nE f? g h.")).toEqual(["A b.", "C d!", "E f? g h."]);
  });
});
