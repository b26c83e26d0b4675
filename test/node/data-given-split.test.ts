import { describe, expect, it } from "vitest";
import { prepareDataset } from "../../trainer/data/prepare.ts";
import type { RawDataset, RawInteraction } from "../../trainer/data/types.ts";

/** Users 1..n each rate items in train then test; item "only-test" appears only in test rows. */
function rawWithSplit(users: number, trainPerUser: number, testPerUser: number): RawDataset {
  const interactions: RawInteraction[] = [];
  for (let u = 1; u <= users; u++) {
    for (let t = 0; t < trainPerUser; t++)
      interactions.push({
        userId: String(u),
        itemId: String(100 + ((u * 7 + t) % 30)),
        rating: 1 + ((u + t) % 2),
        timestamp: t,
        split: "train",
      });
    for (let t = 0; t < testPerUser; t++)
      interactions.push({
        userId: String(u),
        itemId: t === 0 ? "only-test" : String(100 + ((u * 3 + t) % 30)),
        rating: 1 + (t % 2),
        timestamp: 1000 + t,
        split: "test",
      });
  }
  const itemIds = [...new Set(interactions.map((r) => r.itemId))];
  return {
    name: "given",
    domain: "generic",
    users: Array.from({ length: users }, (_, u) => ({ id: String(u + 1), attributes: {} })),
    items: itemIds.map((id) => ({ id, title: id, genres: [], attributes: {} })),
    interactions,
    userFieldNames: [],
    itemFieldNames: [],
    minPositiveRating: 2,
    ratingLevels: 2,
  };
}

describe('prepareDataset split "given"', () => {
  const raw = rawWithSplit(200, 10, 4);
  const data = prepareDataset(raw, { seed: 1, split: "given", knowledgePrefix: 0 });

  it("keeps test rows as given and carves validation from train: about validShare, half of a held user's rows", () => {
    expect(data.test.count).toBe(200 * 4);
    expect(data.train.count + data.valid.count).toBe(200 * 10);
    expect(data.valid.count / 2000).toBeGreaterThan(0.05);
    expect(data.valid.count / 2000).toBeLessThan(0.15);
    const perUser = new Map<number, number>();
    for (const u of data.valid.userIndex) perUser.set(u, (perUser.get(u) ?? 0) + 1);
    expect(new Set(perUser.values())).toEqual(new Set([5]));
  });

  it("builds vocabularies from train rows only: an item seen only in test is out of vocabulary", () => {
    expect(data.vocabulary.fields.item_id).not.toContain("only-test");
    const Fi = data.spec.itemFields.length;
    let oov = 0;
    for (let s = 0; s < data.test.count; s++) if (data.test.itemFeats[s * Fi] === 0) oov++;
    expect(oov).toBe(200);
  });

  it("fills a test row's history with the user's last train rows, never other test rows", () => {
    const L = data.spec.historyLength;
    const itemId = (row: number) => data.vocabulary.fields.item_id[data.vocabulary.itemFeatures[row][0]];
    for (let s = 0; s < data.test.count; s++) {
      const user = data.userIds[data.test.userIndex[s]];
      const trainItems = raw.interactions.filter((r) => r.userId === user && r.split === "train").map((r) => r.itemId);
      const history: string[] = [];
      for (let h = 0; h < L; h++)
        if (data.test.histMask[s * L + h]) history.push(itemId(data.test.histFeats[(s * L + h) * data.spec.itemFields.length]));
      expect(history).toEqual(trainItems.slice(-L));
    }
  });

  it('with history "prefix", every sample of a user has the same history: the prefix', () => {
    const p = prepareDataset(raw, { seed: 1, split: "given", knowledgePrefix: 3, history: "prefix" });
    expect(p.train.count + p.valid.count).toBe(200 * 7);
    const L = p.spec.historyLength;
    const first = new Map<number, string>();
    for (const split of [p.train, p.valid, p.test]) {
      for (let s = 0; s < split.count; s++) {
        const key =
          Array.from(split.histFeats.subarray(s * L * 1, (s + 1) * L * 1)).join(",") +
          Array.from(split.histMask.subarray(s * L, (s + 1) * L)).join("");
        const u = split.userIndex[s];
        if (!first.has(u)) first.set(u, key);
        expect(key).toBe(first.get(u));
      }
    }
    expect(p.knowledgePrefix["1"]).toHaveLength(3);
  });

  it("refuses a row without a split", () => {
    const broken = rawWithSplit(3, 4, 1);
    delete broken.interactions[2].split;
    expect(() => prepareDataset(broken, { seed: 1, split: "given" })).toThrow(/user 1 with item .* has no split/);
  });
});

describe("knowledge of an item out of the vocabulary", () => {
  it("is joined by the sample's raw item id, as serving reads it", async () => {
    const { joinSplit } = await import("../../trainer/train/knowledge-join.ts");
    const raw = rawWithSplit(20, 6, 2);
    const data = prepareDataset(raw, { seed: 1, split: "given", knowledgePrefix: 0 });
    const field = (ids: string[]) => ({
      ids,
      chunks: 1,
      dim: 1,
      values: new Float32Array(ids.length),
      mask: new Float32Array(ids.length).fill(1),
    });
    const itemIds = ["only-test", "100", "101"];
    const bank = { bankId: "b", encoder: "e", user: field(["1"]), item: field(itemIds) };
    const rows = joinSplit(data, bank, data.test);
    const Fi = data.spec.itemFields.length;
    let checked = 0;
    for (let s = 0; s < data.test.count; s++) {
      const id = data.itemIds![data.test.targetItem![s]];
      expect(rows.itemRow[s]).toBe(itemIds.includes(id) ? itemIds.indexOf(id) : itemIds.length);
      if (id === "only-test") {
        expect(data.test.itemFeats[s * Fi]).toBe(0);
        checked++;
      }
    }
    expect(checked).toBe(20);
  });
});
