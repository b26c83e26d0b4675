import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CHUNK_KINDS } from "../../trainer/data/types.ts";
import { buildBank, loadBank, NO_KIND, saveBank } from "../../trainer/knowledge/bank.ts";
import { HashEncoder } from "../../trainer/knowledge/encoders/hash.ts";
import type { KnowledgeEncoder } from "../../trainer/knowledge/encoders/types.ts";
import { simulateKnowledge } from "../../trainer/knowledge/simulator.ts";
import type { KnowledgeTexts } from "../../trainer/knowledge/types.ts";
import { UserFacingError } from "../../trainer/util/errors.ts";
import { syntheticMovies } from "./knowledge-fixtures.ts";

/** Wraps an encoder and records what it was asked to encode. */
class RecordingEncoder implements KnowledgeEncoder {
  seen: string[] = [];
  constructor(private inner: HashEncoder) {}
  get name() {
    return this.inner.name;
  }
  get dim() {
    return this.inner.dim;
  }
  fit(texts: string[]) {
    this.inner.fit(texts);
  }
  async encode(texts: string[]) {
    this.seen.push(...texts);
    return this.inner.encode(texts);
  }
}

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "kser-bank-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("knowledge bank", () => {
  const { raw, prepared } = syntheticMovies(50, 80);
  const texts = simulateKnowledge(raw, prepared, { seed: 9, chunksPerField: 6, missingRate: { user: 0.1 }, dropChunkRate: 0.1 });

  it("builds K x d chunk vectors with masks and true kinds; encodes each distinct text once", async () => {
    const enc = new RecordingEncoder(new HashEncoder({ dim: 48 }));
    const bank = await buildBank(texts, enc, { chunks: 6, ids: { user: [...raw.users.map((u) => u.id), "new-user"] } });
    expect(bank.user.ids).toHaveLength(51);
    expect(bank.item.ids).toEqual(raw.items.map((i) => i.id));
    expect(bank.user.values).toHaveLength(51 * 6 * 48);
    expect(new Set(enc.seen).size).toBe(enc.seen.length);
    for (const field of ["user", "item"] as const) {
      const f = bank[field];
      f.ids.forEach((id, e) => {
        const chunks = texts[field].get(id)?.chunks ?? [];
        for (let c = 0; c < 6; c++) {
          const present = c < chunks.length;
          expect(f.mask[e * 6 + c]).toBe(present ? 1 : 0);
          expect(f.kinds![e * 6 + c]).toBe(present ? CHUNK_KINDS.indexOf(chunks[c].kind!) : NO_KIND);
          let norm = 0;
          for (let j = 0; j < 48; j++) norm += f.values[(e * 6 + c) * 48 + j] ** 2;
          if (present) expect(Math.abs(Math.sqrt(norm) - 1)).toBeLessThan(2e-3);
          else expect(norm).toBe(0);
        }
      });
    }
    // The unknown user is fully masked rather than missing.
    expect([...bank.user.mask.subarray(50 * 6, 51 * 6)]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it("rounds to float16 within its error bound and round-trips save/load exactly", async () => {
    const enc = new HashEncoder({ dim: 64 });
    const bank = await buildBank(texts, enc, { chunks: 6 });
    // Compare with the encoder's float32 output for one entity's chunks.
    const id = raw.items[3].id;
    const e = bank.item.ids.indexOf(id);
    const direct = await enc.encode(texts.item.get(id)!.chunks!.map((c) => c.text));
    for (let i = 0; i < direct.length; i++) {
      const stored = bank.item.values[e * 6 * 64 + i];
      expect(Math.abs(stored - direct[i])).toBeLessThanOrEqual(Math.abs(direct[i]) * 2 ** -11 + 2 ** -25);
    }
    const dir = tempDir();
    saveBank(dir, bank);
    const loaded = loadBank(dir);
    expect(loaded.bankId).toBe(bank.bankId);
    expect(loaded.bankId).toMatch(/^[0-9a-f]{12}$/);
    for (const field of ["user", "item"] as const) {
      expect(loaded[field].ids).toEqual(bank[field].ids);
      expect([...loaded[field].values]).toEqual([...bank[field].values]);
      expect([...loaded[field].mask]).toEqual([...bank[field].mask]);
      expect([...loaded[field].kinds!]).toEqual([...bank[field].kinds!]);
    }
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    expect(manifest).toMatchObject({ encoder: "hash-v1-d64", codec: "f16", corpusHash: bank.corpusHash, bankId: bank.bankId });
    expect(manifest.fields.item).toMatchObject({ count: 80, chunks: 6, dim: 64 });
    // The stored encoder state encodes new texts exactly as the fitted encoder does.
    const again = HashEncoder.fromState(loaded.encoderState as never);
    expect([...(await again.encode(["A brand new horror film."]))]).toEqual([...(await enc.encode(["A brand new horror film."]))]);
  });

  it("gives equal contents equal ids and different contents different ids", async () => {
    const a = await buildBank(texts, new HashEncoder({ dim: 32 }), { chunks: 6 });
    const b = await buildBank(texts, new HashEncoder({ dim: 32 }), { chunks: 6 });
    const c = await buildBank(simulateKnowledge(raw, prepared, { seed: 10 }), new HashEncoder({ dim: 32 }), { chunks: 6 });
    expect(a.bankId).toBe(b.bankId);
    expect(c.bankId).not.toBe(a.bankId);
  });

  it("chunks plain texts (no known kinds) with the field's factors, and omits kinds", async () => {
    const plain: KnowledgeTexts = {
      source: "test",
      factors: { user: ["genre", "mood"], item: ["genre", "mood"] },
      user: new Map([["u", { text: "Genre: likes westerns.\nMood: gritty." }]]),
      item: new Map([["i", { text: "A single sentence about an item." }]]),
    };
    const bank = await buildBank(plain, new HashEncoder({ dim: 16 }), { chunks: 3 });
    expect([...bank.user.mask]).toEqual([1, 1, 0]);
    expect([...bank.item.mask]).toEqual([1, 0, 0]);
    expect(bank.user.kinds).toBeUndefined();
    const dir = tempDir();
    saveBank(dir, bank);
    expect(loadBank(dir).user.kinds).toBeUndefined();
  });

  it("refuses a bank whose files were modified or are missing", async () => {
    const bank = await buildBank(texts, new HashEncoder({ dim: 16 }), { chunks: 6 });
    const dir = tempDir();
    saveBank(dir, bank);
    const kinds = readFileSync(join(dir, "item.kinds"));
    kinds[0] = (kinds[0] + 1) % 4;
    writeFileSync(join(dir, "item.kinds"), kinds);
    expect(() => loadBank(dir)).toThrow(/contents hash/);
    const shard = readFileSync(join(dir, "user.ksv"));
    shard[shard.length - 1] ^= 0xff;
    writeFileSync(join(dir, "user.ksv"), shard);
    expect(() => loadBank(dir)).toThrow(/checksum/);
    rmSync(join(dir, "manifest.json"));
    expect(() => loadBank(dir)).toThrow(UserFacingError);
  });
});
