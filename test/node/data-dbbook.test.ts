import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadDbbook } from "../../trainer/data/dbbook.ts";
import { prepareDataset } from "../../trainer/data/prepare.ts";
import { buildBank } from "../../trainer/knowledge/bank.ts";
import { createHashEncoder } from "../../trainer/knowledge/encoders/hash.ts";
import { DBBOOK_USER_SLOTS, loadDbbookKnowledge } from "../../trainer/knowledge/import-dbbook.ts";
import { InputFormatError } from "../../trainer/util/errors.ts";
import { makeTempDir } from "./data-helpers.ts";
import { writeDbbookLayout } from "./fixtures/dbbook-layout.ts";

const { dir, cleanup } = makeTempDir("dbbook");
afterAll(cleanup);
const layout = writeDbbookLayout(dir, { seed: 3 });

describe("dbbook source", () => {
  it("keeps the authors' split, labels as ratings 1/2, and unmapped items without a title", async () => {
    const raw = await loadDbbook(dir);
    expect(raw.users).toHaveLength(layout.users);
    const train = raw.interactions.filter((r) => r.split === "train");
    const test = raw.interactions.filter((r) => r.split === "test");
    expect(train.length).toBeGreaterThan(0);
    expect(test.length).toBeGreaterThan(0);
    expect(new Set(raw.interactions.map((r) => r.rating))).toEqual(new Set([1, 2]));
    expect(raw.minPositiveRating).toBe(2);
    const unmapped = raw.items.find((i) => i.id === layout.unmapped[0]);
    expect(unmapped?.title).toBe("");
    // Every test row comes after every train row of its user.
    for (const u of raw.users) {
      const lastTrain = Math.max(...train.filter((r) => r.userId === u.id).map((r) => r.timestamp));
      const firstTest = Math.min(...test.filter((r) => r.userId === u.id).map((r) => r.timestamp));
      expect(firstTest).toBeGreaterThan(lastTrain);
    }
  });

  it("chunks each profile into aspect slots and reports what it did", async () => {
    const raw = await loadDbbook(dir);
    const { texts, chunking } = await loadDbbookKnowledge(dir, raw);
    expect(chunking.profiles).toBe(layout.users - layout.withoutProfile.length);
    expect(chunking.missing).toBe(layout.withoutProfile.length);
    expect(chunking.dropped).toBe(0);
    // "They also like X stories." continues the genre sentence: one merge per profile.
    expect(chunking.merged).toBe(chunking.profiles);
    expect(chunking.chunksPerSlot.genre).toBe(chunking.profiles);
    expect(chunking.chunksPerSlot.pacing).toBe(chunking.profiles);
    expect(chunking.chunksPerSlot.other).toBe(chunking.profiles);
    const bank = await buildBank(texts, createHashEncoder({ dim: 32 }), {
      chunks: { user: DBBOOK_USER_SLOTS.length, item: 1 },
      ids: { user: raw.users.map((u) => u.id), item: raw.items.map((i) => i.id) },
    });
    const slots = DBBOOK_USER_SLOTS.length;
    const e = bank.user.ids.indexOf("0");
    const mask = [...bank.user.mask.subarray(e * slots, (e + 1) * slots)];
    expect(mask).toEqual(DBBOOK_USER_SLOTS.map((s) => (["genre", "pacing", "themes", "other"].includes(s) ? 1 : 0)));
    const noProfile = bank.user.ids.indexOf(layout.withoutProfile[0]);
    expect([...bank.user.mask.subarray(noProfile * slots, (noProfile + 1) * slots)].every((m) => m === 0)).toBe(true);
    expect(bank.item.mask[bank.item.ids.indexOf(layout.unmapped[0])]).toBe(0);
  });

  it("prepares with the given split: the same users in train and test, history from train rows only", async () => {
    const raw = await loadDbbook(dir);
    const data = prepareDataset(raw, { seed: 1, split: "given", knowledgePrefix: 0 });
    const trainUsers = new Set(data.train.userIndex);
    const testUsers = new Set(data.test.userIndex);
    expect([...testUsers].filter((u) => trainUsers.has(u)).length).toBeGreaterThan(0.8 * testUsers.size);
    expect(data.test.count).toBe(raw.interactions.filter((r) => r.split === "test").length);
    expect(data.train.count + data.valid.count).toBe(raw.interactions.filter((r) => r.split === "train").length);
  });

  it("names the file, line and field of a bad row", async () => {
    const bad = makeTempDir("dbbook-bad");
    try {
      writeDbbookLayout(bad.dir, { seed: 4, users: 5 });
      writeFileSync(join(bad.dir, "test_sorted.tsv"), "0\t1000\t1\n1\t1001\tyes\n");
      const error = await loadDbbook(bad.dir).catch((e) => e);
      expect(error).toBeInstanceOf(InputFormatError);
      expect(error.message).toBe(`${join(bad.dir, "test_sorted.tsv")}:2 (field label): must be 0 or 1, got "yes"`);
    } finally {
      bad.cleanup();
    }
  });
});
