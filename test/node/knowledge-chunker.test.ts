import { describe, expect, it } from "vitest";
import { chunkText } from "../../trainer/knowledge/chunker.ts";
import { promptsFor } from "../../trainer/knowledge/prompts.ts";
import { simulateKnowledge } from "../../trainer/knowledge/simulator.ts";
import { syntheticMovies } from "./knowledge-fixtures.ts";

describe("chunkText", () => {
  const factors = promptsFor("movies").item.factors;

  it("splits an LLM-style answer by the prompt's factors, keeping the preamble and continuation lines", () => {
    const answer = [
      "Sure! Here is an introduction.",
      "1. **Genre**: A science-fiction thriller.",
      "It also has some romance.",
      "2. **Actors**: Stars a well-known lead.",
      "- Directors: Directed by a veteran.",
      "### Mood: Dark and tense.",
      "Note: this line is not a factor heading, so it stays with Mood.",
    ].join("\n");
    const out = chunkText(answer, 6, factors);
    expect(out.chunks).toEqual([
      "Sure! Here is an introduction.",
      "1. **Genre**: A science-fiction thriller. It also has some romance.",
      "2. **Actors**: Stars a well-known lead.",
      "- Directors: Directed by a veteran.",
      "### Mood: Dark and tense. Note: this line is not a factor heading, so it stays with Mood.",
      "",
    ]);
    expect([...out.mask]).toEqual([1, 1, 1, 1, 1, 0]);
    expect(out.factors).toEqual([undefined, "Genre", "Actors", "Directors", "Mood", undefined]);
  });

  it("falls back to contiguous sentence groups when there are no headings", () => {
    const text = "One is here. Two is here! Three is here? Four is here. Five is here. Six is here. Seven is here.";
    const out = chunkText(text, 3);
    expect(out.chunks).toEqual(["One is here. Two is here!", "Three is here? Four is here.", "Five is here. Six is here. Seven is here."]);
    expect([...out.mask]).toEqual([1, 1, 1]);
    const short = chunkText("Only one sentence here.", 4);
    expect(short.chunks).toEqual(["Only one sentence here.", "", "", ""]);
    expect([...short.mask]).toEqual([1, 0, 0, 0]);
  });

  it("masks everything for an empty text and folds extra headed pieces into the last slot", () => {
    expect([...chunkText("  \n ", 3).mask]).toEqual([0, 0, 0]);
    const many = ["Genre: a.", "Actors: b.", "Directors: c.", "Themes: d.", "Mood: e."].join("\n");
    const out = chunkText(many, 3, factors);
    expect(out.chunks).toEqual(["Genre: a.", "Actors: b.", "Directors: c. Themes: d. Mood: e."]);
  });

  it("recovers the simulator's chunks from its texts", () => {
    const { raw, prepared } = syntheticMovies(20, 30);
    const texts = simulateKnowledge(raw, prepared, { seed: 2, chunksPerField: 6 });
    for (const field of ["user", "item"] as const) {
      for (const entity of texts[field].values()) {
        const out = chunkText(entity.text, 6, texts.factors[field]);
        expect(out.chunks).toEqual(entity.chunks!.map((c) => c.text));
      }
    }
  });

  it("rejects a non-positive chunk count", () => {
    expect(() => chunkText("x", 0)).toThrow(RangeError);
  });
});
