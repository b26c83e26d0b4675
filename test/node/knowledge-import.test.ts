import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { toFloat16Bits } from "../../shared/float16.ts";
import { buildBank, loadBank, saveBank } from "../../trainer/knowledge/bank.ts";
import { HashEncoder } from "../../trainer/knowledge/encoders/hash.ts";
import { factorsOf, importKlg } from "../../trainer/knowledge/import-klg.ts";
import { bankFromVectors, importVectors } from "../../trainer/knowledge/import-vectors.ts";
import { simulateKnowledge } from "../../trainer/knowledge/simulator.ts";
import { loadTexts, saveTexts } from "../../trainer/knowledge/texts-io.ts";
import { InputFormatError } from "../../trainer/util/errors.ts";
import { syntheticMovies } from "./knowledge-fixtures.ts";

const dir = mkdtempSync(join(tmpdir(), "kser-import-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes an .npy v1 file the way numpy does (header padded to 64 bytes). */
function writeNpy(path: string, descr: "<f4" | "<f2", shape: number[], values: number[]): void {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  header += " ".repeat(64 - ((10 + header.length + 1) % 64)) + "\n";
  const head = Buffer.alloc(10);
  head[0] = 0x93;
  head.write("NUMPY", 1, "latin1");
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.alloc(values.length * (descr === "<f4" ? 4 : 2));
  values.forEach((v, i) => {
    if (descr === "<f4") body.writeFloatLE(v, i * 4);
    else body.writeUInt16LE(toFloat16Bits(v), i * 2);
  });
  writeFileSync(path, Buffer.concat([head, Buffer.from(header, "latin1"), body]));
}

describe("KAR .klg import", () => {
  it("reads {id: {prompt, ans}} per field and chunks answers by the domain's factors", async () => {
    const userPath = join(dir, "user.klg");
    const itemPath = join(dir, "item.klg");
    writeFileSync(
      userPath,
      JSON.stringify({
        "1": { prompt: "Analyse...", ans: "Genre: The user likes thrillers.\nActors: Fond of ensemble casts.\nMood: Dark." },
        "2": { prompt: "Analyse...", ans: "This user enjoys comedies. They dislike horror." },
      }),
    );
    writeFileSync(itemPath, JSON.stringify({ "10": { prompt: "Introduce...", ans: "Genre: Western.\nDirectors: Unknown." } }));
    const texts = importKlg({ user: userPath, item: itemPath }, factorsOf("movies"));
    expect(texts.user.get("1")!.text).toMatch(/^Genre: The user likes thrillers/);
    expect(texts.factors.user).toContain("production quality");
    const bank = await buildBank(texts, new HashEncoder({ dim: 16 }), { chunks: 4 });
    expect([...bank.user.mask]).toEqual([1, 1, 1, 0, 1, 1, 0, 0]);
    expect([...bank.item.mask]).toEqual([1, 1, 0, 0]);
    expect(bank.user.kinds).toBeUndefined();
  });

  it("names the file and entry of a bad record", () => {
    const path = join(dir, "bad.klg");
    writeFileSync(path, JSON.stringify({ "7": { prompt: "p" } }));
    expect(() => importKlg({ user: path }, factorsOf("movies"))).toThrow(InputFormatError);
    expect(() => importKlg({ user: path }, factorsOf("movies"))).toThrow(/bad\.klg \(field 7\.ans\)/);
    writeFileSync(path, "{ truncated");
    expect(() => importKlg({ user: path }, factorsOf("movies"))).toThrow(/not valid JSON/);
  });
});

describe("vector import", () => {
  it("reads float32 .npy (n, d) with ids; all-zero rows count as missing", () => {
    const path = join(dir, "v32.npy");
    writeNpy(path, "<f4", [3, 2], [0.5, -1.25, 0, 0, 3, 4]);
    const field = importVectors(path, { ids: ["a", "b", "c"] });
    expect(field).toMatchObject({ ids: ["a", "b", "c"], chunks: 1, dim: 2 });
    expect([...field.values]).toEqual([0.5, -1.25, 0, 0, 3, 4]);
    expect([...field.mask]).toEqual([1, 0, 1]);
  });

  it("reads float16 .npy (n, K, d) with default ids", () => {
    const path = join(dir, "v16.npy");
    const values = [0.1, 0.2, 0.3, -0.4, 1.5, 2, 0, 0];
    writeNpy(path, "<f2", [2, 2, 2], values);
    const field = importVectors(path);
    expect(field).toMatchObject({ ids: ["0", "1"], chunks: 2, dim: 2 });
    const worst = Math.max(...[...field.values].map((v, i) => Math.abs(v - values[i]) - Math.abs(values[i]) * 2 ** -11));
    expect(worst).toBeLessThanOrEqual(0);
    expect([...field.mask]).toEqual([1, 1, 1, 0]);
  });

  it("rejects an .npy whose data does not match its shape", () => {
    const path = join(dir, "short.npy");
    writeNpy(path, "<f4", [4, 2], [1, 2, 3, 4]);
    expect(() => importVectors(path)).toThrow(/shape \(4,2\) needs 32/);
  });

  it("reads JSONL with vector or chunks (null = missing) and reports bad lines by number", () => {
    const path = join(dir, "v.jsonl");
    writeFileSync(
      path,
      `${JSON.stringify({ id: "x", chunks: [[1, 0, 0], null, [0, 1, 0]] })}\n${JSON.stringify({ id: 5, vector: [0, 0, 2] })}\n`,
    );
    const field = importVectors(path);
    expect(field).toMatchObject({ ids: ["x", "5"], chunks: 3, dim: 3 });
    expect([...field.mask]).toEqual([1, 0, 1, 1, 0, 0]);
    expect([...field.values.subarray(9, 12)]).toEqual([0, 0, 2]);
    writeFileSync(path, `${JSON.stringify({ id: "x", vector: [1, 2] })}\n${JSON.stringify({ id: "y", vector: [1, 2, 3] })}\n`);
    expect(() => importVectors(path)).toThrow(/v\.jsonl:2 \(field y\): vector 0 is not 2 finite numbers/);
  });

  it("reads KAR's augment JSON {id: vector} and builds a bank that round-trips", () => {
    const userPath = join(dir, "user_augment.json");
    const itemPath = join(dir, "item_augment.json");
    writeFileSync(userPath, JSON.stringify({ "1": [0.25, 0.5, 0.75, 1], "2": [1, 0, 0, 0] }));
    writeFileSync(itemPath, JSON.stringify({ "10": [0, 1, 0, 0] }));
    const bank = bankFromVectors(importVectors(userPath), importVectors(itemPath), "kar-augment");
    expect(bank.user).toMatchObject({ ids: ["1", "2"], chunks: 1, dim: 4 });
    const out = join(dir, "bank-augment");
    saveBank(out, bank);
    const loaded = loadBank(out);
    expect(loaded.bankId).toBe(bank.bankId);
    expect([...loaded.user.values]).toEqual([0.25, 0.5, 0.75, 1, 1, 0, 0, 0]);
  });
});

describe("knowledge texts on disk", () => {
  it("round-trips simulated texts with their chunk kinds", () => {
    const { raw, prepared } = syntheticMovies(10, 12);
    const texts = simulateKnowledge(raw, prepared, { seed: 1 });
    const path = join(dir, "texts.jsonl");
    saveTexts(path, texts);
    const back = loadTexts(path);
    expect(back.source).toBe(texts.source);
    expect(back.factors).toEqual(texts.factors);
    expect([...back.user.entries()]).toEqual([...texts.user.entries()]);
    expect([...back.item.entries()]).toEqual([...texts.item.entries()]);
  });
});
