import { describe, expect, it } from "vitest";
import { FeatureEncoder } from "../../shared/feature-encoding.ts";
import { OOV_TOKEN } from "../../shared/manifest.ts";
import { prepareDataset } from "../../trainer/data/prepare.ts";
import { generateSyntheticDataset } from "../../trainer/data/synthetic.ts";
import type { PreparedDataset, RawDataset, SampleSplit } from "../../trainer/data/types.ts";

const raw = generateSyntheticDataset({ seed: 7, users: 200, items: 300 });
const prepared = prepareDataset(raw, { seed: 1, knowledgePrefix: 10 });
const splitsOf = (p: PreparedDataset) => [p.train, p.valid, p.test] as const;

function usersOf(split: SampleSplit, p: PreparedDataset): Set<string> {
  return new Set(Array.from(split.userIndex, (u) => p.userIds[u]));
}

describe("synthetic world", () => {
  it("is deterministic from the seed and differs across seeds", () => {
    const again = generateSyntheticDataset({ seed: 7, users: 200, items: 300 });
    expect(again).toEqual(raw);
    const other = generateSyntheticDataset({ seed: 8, users: 200, items: 300 });
    expect(other.interactions.slice(0, 50)).not.toEqual(raw.interactions.slice(0, 50));
  });

  it("has the demo's default size and a MovieLens-like positive rate", () => {
    const d = generateSyntheticDataset({ seed: 1 });
    expect(d.users).toHaveLength(600);
    expect(d.items).toHaveLength(800);
    expect(d.interactions.length).toBeGreaterThan(30_000);
    expect(d.interactions.length).toBeLessThan(50_000);
    const positive = d.interactions.filter((i) => i.rating >= d.minPositiveRating).length / d.interactions.length;
    expect(positive).toBeGreaterThan(0.4);
    expect(positive).toBeLessThan(0.7);
  });

  it("reveals a user's taste more in the knowledge prefix than in the last-5 history", () => {
    // Score each test-time target by the user's mean rating of its genres, once from the prefix, once from the last 5.
    const genresOf = new Map(raw.items.map((i) => [i.id, i.genres]));
    const byUser = new Map<string, typeof raw.interactions>();
    for (const it of raw.interactions) byUser.set(it.userId, [...(byUser.get(it.userId) ?? []), it]);
    const scored: { prefix: number; recent: number; label: number }[] = [];
    const affinity = (history: typeof raw.interactions, genres: string[]) => {
      let sum = 0;
      let n = 0;
      for (const h of history) {
        for (const g of genresOf.get(h.itemId)!) {
          if (genres.includes(g)) {
            sum += h.rating - 3;
            n++;
          }
        }
      }
      return n ? sum / n : 0;
    };
    for (const list of byUser.values()) {
      list.sort((a, b) => a.timestamp - b.timestamp);
      const prefix = list.slice(0, 10);
      for (let t = 30; t < list.length; t++) {
        const g = genresOf.get(list[t].itemId)!;
        scored.push({ prefix: affinity(prefix, g), recent: affinity(list.slice(t - 5, t), g), label: list[t].rating >= 4 ? 1 : 0 });
      }
    }
    const aucPrefix = auc(
      scored.map((s) => s.prefix),
      scored.map((s) => s.label),
    );
    const aucRecent = auc(
      scored.map((s) => s.recent),
      scored.map((s) => s.label),
    );
    expect(aucPrefix).toBeGreaterThan(0.6);
    expect(aucPrefix).toBeGreaterThan(aucRecent + 0.03);
  });
});

describe("prepareDataset protocol", () => {
  it("never makes a CTR sample from a knowledge-prefix interaction", () => {
    const byUser = new Map<string, number>();
    for (const it of raw.interactions) byUser.set(it.userId, (byUser.get(it.userId) ?? 0) + 1);
    const perUser = new Map<number, number>();
    for (const split of splitsOf(prepared)) for (const u of split.userIndex) perUser.set(u, (perUser.get(u) ?? 0) + 1);
    prepared.userIds.forEach((id, u) => {
      const n = byUser.get(id) ?? 0;
      expect(prepared.knowledgePrefix[id]).toHaveLength(Math.min(10, n));
      expect(perUser.get(u) ?? 0).toBe(Math.max(0, n - 10));
    });
    // And each user's samples are exactly its interactions after the prefix, in time order (checked on targets).
    const itemVocab = prepared.vocabulary.fields.item_id;
    const Fi = prepared.spec.itemFields.length;
    const prefixKeys = new Set(
      Object.values(prepared.knowledgePrefix)
        .flat()
        .map((i) => `${i.userId}|${i.itemId}`),
    );
    for (const split of splitsOf(prepared)) {
      for (let s = 0; s < split.count; s++) {
        const item = split.itemFeats[s * Fi];
        if (item === 0) continue;
        expect(prefixKeys.has(`${prepared.userIds[split.userIndex[s]]}|${itemVocab[item]}`)).toBe(false);
      }
    }
  });

  it("supports a fractional knowledge prefix", () => {
    const p = prepareDataset(raw, { seed: 1, knowledgePrefix: 0.25 });
    const n = raw.interactions.filter((i) => i.userId === p.userIds[0]).length;
    expect(p.knowledgePrefix[p.userIds[0]]).toHaveLength(Math.ceil(n * 0.25));
  });

  it("splits users disjointly, by the seed's proportions", () => {
    const [tr, va, te] = splitsOf(prepared).map((s) => usersOf(s, prepared));
    for (const u of tr) expect(va.has(u) || te.has(u)).toBe(false);
    for (const u of va) expect(te.has(u)).toBe(false);
    expect(tr.size).toBe(160);
    expect(va.size + te.size).toBe(40);
  });

  it("is deterministic: same seed -> identical arrays; another seed -> another split", () => {
    const again = prepareDataset(raw, { seed: 1, knowledgePrefix: 10 });
    for (const [a, b] of splitsOf(prepared).map((s, k) => [s, splitsOf(again)[k]] as const)) {
      expect(b.count).toBe(a.count);
      for (const key of ["itemFeats", "userFeats", "histFeats", "histRatings", "histMask", "labels", "userIndex"] as const) {
        expect(Buffer.from(b[key].buffer).equals(Buffer.from(a[key].buffer))).toBe(true);
      }
    }
    expect(again.vocabulary).toEqual(prepared.vocabulary);
    const other = prepareDataset(raw, { seed: 2, knowledgePrefix: 10 });
    expect([...usersOf(other.test, other)].sort()).not.toEqual([...usersOf(prepared.test, prepared)].sort());
  });

  it("builds vocabularies from train users only, with row 0 = OOV", () => {
    const trainUsers = usersOf(prepared.train, prepared);
    const trainItems = new Set(raw.interactions.filter((i) => trainUsers.has(i.userId)).map((i) => i.itemId));
    const vocab = prepared.vocabulary.fields;
    for (const f of [...prepared.spec.itemFields, ...prepared.spec.userFields]) {
      expect(vocab[f.name][0]).toBe(OOV_TOKEN);
      expect(vocab[f.name]).toHaveLength(f.vocabSize);
    }
    expect(new Set(vocab.item_id.slice(1))).toEqual(trainItems);
    expect(prepared.spec.ratingVocab).toBe(raw.ratingLevels + 1);
    expect(prepared.vocabulary.itemFeatures[0]).toEqual([0, 0]);
    const Fi = prepared.spec.itemFields.length;
    // An item seen only by a test user is OOV (0) there, features included, exactly as serving encodes it.
    const testUser = prepared.userIds[prepared.test.userIndex[0]];
    const withNew: RawDataset = {
      ...raw,
      items: [...raw.items, { id: "brand-new", title: "New", genres: ["Drama"], attributes: { genre: "Drama" } }],
      interactions: [...raw.interactions, { userId: testUser, itemId: "brand-new", rating: 5, timestamp: 4e9 }],
    };
    const p2 = prepareDataset(withNew, { seed: 1, knowledgePrefix: 10 });
    expect(p2.vocabulary.fields.item_id).not.toContain("brand-new");
    const last = p2.test.userIndex.lastIndexOf(p2.userIds.indexOf(testUser));
    expect(Array.from(p2.test.itemFeats.subarray(last * Fi, (last + 1) * Fi))).toEqual([0, 0]);
    expect(p2.test.labels[last]).toBe(1);
    expect(prepared.train.itemFeats.every((v, i) => i % Fi !== 0 || v > 0)).toBe(true);
  });

  it("matches shared/feature-encoding.ts row for row (training/serving parity)", () => {
    const encoder = new FeatureEncoder(prepared.spec, prepared.vocabulary);
    const L = prepared.spec.historyLength;
    const Fi = prepared.spec.itemFields.length;
    const Fu = prepared.spec.userFields.length;
    const byUser = new Map<string, typeof raw.interactions>();
    for (const it of [...raw.interactions].sort((a, b) => a.timestamp - b.timestamp))
      byUser.set(it.userId, [...(byUser.get(it.userId) ?? []), it]);
    const attrs = new Map(raw.users.map((u) => [u.id, u.attributes]));
    for (const split of splitsOf(prepared)) {
      const seen = new Map<number, number>();
      for (let s = 0; s < split.count; s++) {
        const u = split.userIndex[s];
        const k = seen.get(u) ?? 0;
        seen.set(u, k + 1);
        if (s % 7 !== 0) continue; // a spread of rows keeps this fast
        const list = byUser.get(prepared.userIds[u])!;
        const t = 10 + k;
        const rows = encoder.encode({
          attributes: attrs.get(prepared.userIds[u])!,
          history: list.slice(0, t).map((h) => ({ itemId: h.itemId, rating: h.rating })),
          candidates: [list[t].itemId],
        });
        expect(Array.from(split.itemFeats.subarray(s * Fi, (s + 1) * Fi))).toEqual(Array.from(rows.itemFeats));
        expect(Array.from(split.userFeats.subarray(s * Fu, (s + 1) * Fu))).toEqual(Array.from(rows.userFeats));
        expect(Array.from(split.histFeats.subarray(s * L * Fi, (s + 1) * L * Fi))).toEqual(Array.from(rows.histFeats));
        expect(Array.from(split.histRatings.subarray(s * L, (s + 1) * L))).toEqual(Array.from(rows.histRatings));
        expect(Array.from(split.histMask.subarray(s * L, (s + 1) * L))).toEqual(Array.from(rows.histMask));
        expect(split.labels[s]).toBe(list[t].rating >= 4 ? 1 : 0);
      }
    }
  });

  it("left-pads short histories and keeps serving profiles of the model fields only", () => {
    const tiny: RawDataset = {
      name: "tiny",
      domain: "generic",
      users: [{ id: "a", attributes: { country: "FR", secret: "x" } }],
      items: ["i1", "i2", "i3"].map((id) => ({ id, title: id, genres: [], attributes: { cat: id === "i3" ? "B" : "A" } })),
      interactions: [
        { userId: "a", itemId: "i2", rating: 5, timestamp: 20 },
        { userId: "a", itemId: "i1", rating: 2, timestamp: 10 },
        { userId: "a", itemId: "i3", rating: 4, timestamp: 30 },
      ],
      userFieldNames: ["country"],
      itemFieldNames: ["cat"],
      minPositiveRating: 4,
      ratingLevels: 5,
    };
    const p = prepareDataset(tiny, { seed: 0, knowledgePrefix: 1, splits: [1, 0, 0], historyLength: 3 });
    expect(p.train.count).toBe(2);
    expect(p.knowledgePrefix.a.map((i) => i.itemId)).toEqual(["i1"]);
    // Sample 0: target i2, history [pad, pad, i1 rated 2]; sample 1: target i3, history [pad, i1, i2].
    const idx = (id: string) => p.vocabulary.fields.item_id.indexOf(id);
    expect(Array.from(p.train.histMask)).toEqual([0, 0, 1, 0, 1, 1]);
    expect(Array.from(p.train.histRatings)).toEqual([0, 0, 2, 0, 2, 5]);
    expect(p.train.itemFeats[0]).toBe(idx("i2"));
    expect(p.train.histFeats[4]).toBe(idx("i1"));
    expect(Array.from(p.train.labels)).toEqual([1, 1]);
    expect(p.profiles[0]).toEqual({
      userId: "a",
      attributes: { country: "FR" },
      history: [
        { itemId: "i1", rating: 2 },
        { itemId: "i2", rating: 5 },
        { itemId: "i3", rating: 4 },
      ],
    });
  });
});

/** Rank AUC with ties counted half. */
function auc(scores: number[], labels: number[]): number {
  const order = scores.map((s, i) => [s, labels[i]] as const).sort((a, b) => a[0] - b[0]);
  let rankSum = 0;
  let pos = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j < order.length && order[j][0] === order[i][0]) j++;
    const rank = (i + j + 1) / 2;
    for (let k = i; k < j; k++) {
      if (order[k][1] === 1) {
        rankSum += rank;
        pos++;
      }
    }
    i = j;
  }
  const neg = order.length - pos;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}
