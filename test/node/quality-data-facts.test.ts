/** The model-free user-knowledge check: it ranks test items when the knowledge says what users like, not otherwise. */
import { describe, expect, it } from "vitest";
import { baselines, dataFacts } from "../../bench/quality/data-facts.ts";
import { randomData } from "./fixtures/random-data.ts";

describe("user-knowledge kNN baseline", () => {
  const { data, bank } = randomData({ seed: 21, users: 600, items: 120, samplesPerUser: 40, genres: 3 });

  it("ranks a user's test items when a chunk states the user's favourite genre", () => {
    const knn = baselines(data, bank.user).userKnowledgeKnn!;
    expect(knn.gauc).toBeGreaterThan(0.55);
  });

  it("is near chance when each user gets another user's knowledge", () => {
    const shuffled = { ...bank.user, ids: [...bank.user.ids.slice(1), bank.user.ids[0]] };
    const knn = baselines(data, shuffled).userKnowledgeKnn!;
    expect(Math.abs(knn.gauc - 0.5)).toBeLessThan(0.03);
  });

  it("is also scored on the validation split (its own users and items), and absent without user knowledge", () => {
    const facts = dataFacts(data, bank.user);
    expect(facts.userKnowledgeKnnValid!.gauc).toBeGreaterThan(0.55);
    expect(facts.userKnowledgeKnnValid!.gauc).not.toBe(facts.baselines.userKnowledgeKnn!.gauc);
    expect(baselines(data).userKnowledgeKnn).toBeUndefined();
    expect(dataFacts(data).userKnowledgeKnnValid).toBeUndefined();
  });

  it("scores the knowledge before compression separately, on the test split, where given", () => {
    const lossy = { ...bank.user, ids: [...bank.user.ids.slice(1), bank.user.ids[0]] };
    const facts = dataFacts(data, lossy, bank.user);
    expect(facts.userKnowledgeKnnUncompressed).toEqual(baselines(data, bank.user).userKnowledgeKnn);
    expect(Math.abs(facts.baselines.userKnowledgeKnn!.gauc - 0.5)).toBeLessThan(0.03);
    expect(dataFacts(data, bank.user).userKnowledgeKnnUncompressed).toBeUndefined();
  });
});
