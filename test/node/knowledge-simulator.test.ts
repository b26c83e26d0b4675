import { describe, expect, it } from "vitest";
import { CHUNK_KINDS, type ChunkKind } from "../../trainer/data/types.ts";
import { simulateKnowledge } from "../../trainer/knowledge/simulator.ts";
import { GENRES, syntheticMovies } from "./knowledge-fixtures.ts";

const words = (s: string) => new Set(s.toLowerCase().match(/[a-z0-9]+/g) ?? []);
/** Share of the smaller text's words found in the other: high for a rewording, low for unrelated chunks. */
function overlap(a: string, b: string): number {
  const x = words(a);
  const y = words(b);
  let both = 0;
  for (const w of x) if (y.has(w)) both++;
  return both / Math.min(x.size, y.size);
}

describe("simulateKnowledge", () => {
  const { raw, prepared } = syntheticMovies(300, 400);
  const proportions = { informative: 0.4, hallucinated: 0.25, redundant: 0.2, homogeneous: 0.15 };
  const texts = simulateKnowledge(raw, prepared, { seed: 3, chunksPerField: 6, proportions });

  it("covers every user and item with K chunks of known kind, text = chunks joined", () => {
    expect(texts.user.size).toBe(raw.users.length);
    expect(texts.item.size).toBe(raw.items.length);
    for (const field of [texts.user, texts.item]) {
      for (const entity of field.values()) {
        expect(entity.chunks).toHaveLength(6);
        for (const c of entity.chunks!) expect(CHUNK_KINDS).toContain(c.kind);
        expect(entity.text).toBe(entity.chunks!.map((c) => c.text).join("\n"));
      }
    }
  });

  it("draws kinds in the requested proportions", () => {
    const counts = new Map<ChunkKind, number>();
    let total = 0;
    for (const field of [texts.user, texts.item]) {
      for (const entity of field.values()) {
        for (const c of entity.chunks!) {
          counts.set(c.kind!, (counts.get(c.kind!) ?? 0) + 1);
          total++;
        }
      }
    }
    for (const kind of CHUNK_KINDS) expect(Math.abs((counts.get(kind) ?? 0) / total - proportions[kind])).toBeLessThan(0.03);
  });

  it("informative item chunks state true genres and year; hallucinated ones false ones", () => {
    let checkedTrue = 0;
    let checkedFalse = 0;
    for (const item of raw.items) {
      for (const c of texts.item.get(item.id)!.chunks!) {
        const named = GENRES.filter((g) => new RegExp(`is an? ${g.toLowerCase()}\\b`).test(c.text));
        if (c.factor === "genre" && c.kind === "informative") {
          expect(named).toEqual([item.genres[0]]);
          checkedTrue++;
        }
        if (c.factor === "genre" && c.kind === "hallucinated") {
          expect(named).toHaveLength(1);
          expect(item.genres).not.toContain(named[0]);
          checkedFalse++;
        }
        if (c.factor === "release" && c.kind !== "redundant") {
          const year = Number(/came out in (\d{4})/.exec(c.text)![1]);
          if (c.kind === "informative") expect(year).toBe(item.year);
          if (c.kind === "hallucinated") expect(Math.abs(year - item.year!)).toBeGreaterThanOrEqual(6);
        }
      }
    }
    expect(checkedTrue).toBeGreaterThan(20);
    expect(checkedFalse).toBeGreaterThan(5);
  });

  it("redundant chunks reword another chunk of the same entity; homogeneous chunks are nearly the same for all", () => {
    const filler = new Set<string>();
    let redundant = 0;
    for (const field of [texts.user, texts.item]) {
      for (const entity of field.values()) {
        for (const c of entity.chunks!) {
          if (c.kind === "homogeneous") filler.add(c.text);
          if (c.kind !== "redundant") continue;
          redundant++;
          const best = Math.max(...entity.chunks!.filter((o) => o !== c && o.kind !== "redundant").map((o) => overlap(o.text, c.text)));
          expect(best).toBeGreaterThanOrEqual(0.7);
        }
      }
    }
    expect(redundant).toBeGreaterThan(100);
    expect(filler.size).toBeLessThanOrEqual(8);
  });

  it("user preferences come from the knowledge prefix only", () => {
    // u1 loves Comedy in the synthetic set; make its prefix all Horror at 5 stars and its later events all Comedy.
    const horror = raw.items.filter((i) => i.genres[0] === "Horror").slice(0, 4);
    const comedy = raw.items.filter((i) => i.genres[0] === "Comedy");
    const prefix = horror.map((i, t) => ({ userId: "u1", itemId: i.id, rating: 5, timestamp: t }));
    const later = comedy.map((i, t) => ({ userId: "u1", itemId: i.id, rating: 5, timestamp: 100 + t }));
    const base = { ...raw, interactions: [...raw.interactions.filter((e) => e.userId !== "u1"), ...prefix, ...later] };
    const prep = { knowledgePrefix: { ...prepared.knowledgePrefix, u1: prefix } };
    const all = simulateKnowledge(base, prep, { seed: 5, proportions: { informative: 1, hallucinated: 0, redundant: 0, homogeneous: 0 } });
    const genreChunk = all.user.get("u1")!.chunks!.find((c) => c.factor === "genre")!;
    expect(genreChunk.text).toMatch(/enjoys horror/);
    expect(genreChunk.text).not.toMatch(/comedy/);
    // Changing or removing every non-prefix interaction leaves the user's knowledge unchanged.
    const noLater = simulateKnowledge({ ...base, interactions: prefix }, prep, {
      seed: 5,
      proportions: { informative: 1, hallucinated: 0, redundant: 0, homogeneous: 0 },
    });
    expect(noLater.user.get("u1")).toEqual(all.user.get("u1"));
  });

  it("is deterministic from the seed and independent of entity order", () => {
    const again = simulateKnowledge(raw, prepared, { seed: 3, chunksPerField: 6, proportions });
    expect([...again.user.entries()]).toEqual([...texts.user.entries()]);
    expect([...again.item.entries()]).toEqual([...texts.item.entries()]);
    const reversed = simulateKnowledge({ ...raw, users: raw.users.slice().reverse() }, prepared, {
      seed: 3,
      chunksPerField: 6,
      proportions,
    });
    expect(reversed.user.get("u17")).toEqual(texts.user.get("u17"));
    const other = simulateKnowledge(raw, prepared, { seed: 4, chunksPerField: 6, proportions });
    const differing = raw.items.filter((i) => other.item.get(i.id)!.text !== texts.item.get(i.id)!.text).length;
    expect(differing).toBeGreaterThan(raw.items.length * 0.8);
  });

  it("leaves whole entities without knowledge and drops chunks when asked", () => {
    const sparse = simulateKnowledge(raw, prepared, { seed: 1, missingRate: { user: 0.3, item: 0 }, dropChunkRate: 0.2 });
    const emptyUsers = [...sparse.user.values()].filter((e) => e.chunks!.length === 0).length;
    expect(emptyUsers / raw.users.length).toBeGreaterThan(0.2);
    expect(emptyUsers / raw.users.length).toBeLessThan(0.4);
    const lengths = [...sparse.item.values()].map((e) => e.chunks!.length);
    const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length;
    expect(mean).toBeGreaterThan(6 * 0.7);
    expect(mean).toBeLessThan(6 * 0.9);
  });
});
