import { describe, expect, it } from "vitest";
import { HashEncoder } from "../../trainer/knowledge/encoders/hash.ts";
import { simulateKnowledge } from "../../trainer/knowledge/simulator.ts";
import { hasMl100k, readMl100k } from "./knowledge-fixtures.ts";

function cosine(v: Float32Array, a: number, b: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) s += v[a * d + j] * v[b * d + j];
  return s;
}

describe("HashEncoder", () => {
  const corpus = [
    "The film is a dark crime thriller about a heist.",
    "The movie is a dark crime thriller about a robbery.",
    "A cheerful animated musical for children with songs.",
    "The user enjoys romance and comedy films.",
    "",
  ];

  it("is deterministic across instances and L2-normalised (empty text -> zero vector)", async () => {
    const a = new HashEncoder({ dim: 64 });
    const b = new HashEncoder({ dim: 64 });
    a.fit(corpus);
    b.fit(corpus);
    const va = await a.encode(corpus);
    const vb = await b.encode(corpus);
    expect([...va]).toEqual([...vb]);
    for (let i = 0; i < 4; i++) expect(cosine(va, i, i, 64)).toBeCloseTo(1, 5);
    expect(cosine(va, 4, 4, 64)).toBe(0);
    expect(a.name).toBe("hash-v1-d64");
  });

  it("places similar texts closer than unrelated ones", async () => {
    const enc = new HashEncoder({ dim: 256 });
    enc.fit(corpus);
    const v = await enc.encode(corpus);
    const similar = cosine(v, 0, 1, 256);
    expect(similar).toBeGreaterThan(0.4);
    expect(similar).toBeGreaterThan(cosine(v, 0, 2, 256) + 0.3);
    expect(similar).toBeGreaterThan(cosine(v, 0, 3, 256) + 0.3);
  });

  it("weights rare words above common ones once idf is fitted", async () => {
    const docs = Array.from({ length: 50 }, (_, i) => `common words everywhere ${i % 2 ? "" : "rareword"}`);
    docs.push("common rareword");
    const enc = new HashEncoder({ dim: 512, bigrams: false });
    enc.fit(docs);
    const [common, rare] = [await enc.encode(["common"]), await enc.encode(["rareword"])];
    const mixed = await enc.encode(["common rareword"]);
    // In the mixed text the rarer word (df 26 vs 51) carries more weight, so the vector leans toward it.
    expect(cosine(Float32Array.from([...mixed, ...rare]), 0, 1, 512)).toBeGreaterThan(
      cosine(Float32Array.from([...mixed, ...common]), 0, 1, 512),
    );
  });

  it("round-trips its fitted state", async () => {
    const enc = new HashEncoder({ dim: 32 });
    enc.fit(corpus);
    const copy = HashEncoder.fromState(JSON.parse(JSON.stringify(enc.state())));
    expect([...(await copy.encode(corpus))]).toEqual([...(await enc.encode(corpus))]);
  });

  it.runIf(hasMl100k)("encodes MovieLens-100K's simulated knowledge (2,625 entities x 6 chunks) in a few seconds", async () => {
    const { raw, prepared } = readMl100k();
    const texts = simulateKnowledge(raw, prepared, { seed: 1, chunksPerField: 6 });
    const chunks = [...texts.user.values(), ...texts.item.values()].flatMap((e) => e.chunks!.map((c) => c.text));
    expect(chunks.length).toBe((943 + 1682) * 6);
    const start = performance.now();
    const enc = new HashEncoder({ dim: 128 });
    enc.fit(chunks);
    const v = await enc.encode(chunks);
    const seconds = (performance.now() - start) / 1000;
    console.log(`hash encoder: ${chunks.length} chunks fit+encoded in ${seconds.toFixed(2)} s`);
    expect(v.length).toBe(chunks.length * 128);
    expect(seconds).toBeLessThan(5);
  });
});
