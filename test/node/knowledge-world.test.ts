import { describe, expect, it } from "vitest";
import { affinity, generateKnowledgeWorld, WORLD_TOPICS } from "../../trainer/data/knowledge-world.ts";
import { prepareDataset } from "../../trainer/data/prepare.ts";
import { DEFAULT_PROPORTIONS } from "../../trainer/knowledge/simulator.ts";
import { CLEAN_PROPORTIONS, worldKnowledge } from "../../trainer/knowledge/world-knowledge.ts";

const world = generateKnowledgeWorld({ seed: 5, users: 300, items: 200 });

describe("knowledge world", () => {
  it("is deterministic, splits users 80/10/10 and keeps cold items away from train users", () => {
    expect(generateKnowledgeWorld({ seed: 5, users: 300, items: 200 })).toEqual(world);
    const splitOf = new Map(world.raw.interactions.map((r) => [r.userId, r.split]));
    const shares = ["train", "valid", "test"].map((s) => [...splitOf.values()].filter((v) => v === s).length / splitOf.size);
    expect(shares[0]).toBeGreaterThan(0.7);
    expect(shares[1] + shares[2]).toBeGreaterThan(0.1);
    expect(world.truth.coldItems.size).toBe(40);
    for (const r of world.raw.interactions) if (r.split === "train") expect(world.truth.coldItems.has(r.itemId)).toBe(false);
    expect(world.raw.interactions.some((r) => r.split !== "train" && world.truth.coldItems.has(r.itemId))).toBe(true);
  });

  it("rates what the hidden taste predicts: liked topics well, avoided ones badly", () => {
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const rated = world.raw.interactions.map((r) => ({
      r,
      a: affinity(world.truth.users.get(r.userId)!, world.truth.items.get(r.itemId)!),
    }));
    expect(mean(rated.filter((x) => x.a >= 1.5).map((x) => x.r.rating))).toBeGreaterThan(
      mean(rated.filter((x) => x.a <= -1.5).map((x) => x.r.rating)) + 1.5,
    );
  });

  it("states true facts as informative chunks and stable false ones as hallucinated", () => {
    const noisy = worldKnowledge(world, { seed: 1, proportions: DEFAULT_PROPORTIONS });
    const again = worldKnowledge(world, { seed: 1, proportions: { ...DEFAULT_PROPORTIONS, informative: 0.2 } });
    const clean = worldKnowledge(world, { seed: 1, proportions: CLEAN_PROPORTIONS });
    const kinds = new Set<string>();
    for (const [id, entity] of noisy.item) {
      const topic = world.truth.items.get(id)!.topic;
      for (const c of entity.chunks!) {
        kinds.add(c.kind!);
        const about = /This book is about (\w+)\./.exec(c.text)?.[1];
        if (about === undefined) continue;
        expect(about === WORLD_TOPICS[topic]).toBe(c.kind === "informative");
      }
    }
    expect(kinds).toEqual(new Set(["informative", "hallucinated", "redundant", "homogeneous"]));
    // The false facts of an entity do not depend on the proportions.
    for (const id of ["1", "2", "3"]) {
      const falseOf = (t: typeof noisy) =>
        new Set(
          t.user
            .get(id)!
            .chunks!.filter((c) => c.kind === "hallucinated")
            .map((c) => c.text),
        );
      const a = falseOf(noisy);
      const b = falseOf(again);
      const all = new Set([...a, ...b]);
      expect(all.size).toBeLessThanOrEqual(7);
    }
    for (const entity of clean.user.values()) expect(entity.chunks!.every((c) => c.kind === "informative")).toBe(true);
  });

  it("prepares with new users in test and a share of test items out of the vocabulary", () => {
    const data = prepareDataset(world.raw, { seed: 1 });
    const train = new Set(data.train.userIndex);
    expect([...new Set(data.test.userIndex)].some((u) => train.has(u))).toBe(false);
    const Fi = data.spec.itemFields.length;
    let oov = 0;
    for (let s = 0; s < data.test.count; s++) if (data.test.itemFeats[s * Fi] === 0) oov++;
    expect(oov / data.test.count).toBeGreaterThan(0.05);
  });
});
