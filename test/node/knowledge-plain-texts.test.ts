/**
 * `kser knowledge import --texts`: JSONL {"field","id","text"} and CSV field,id,text into knowledge texts; a tags
 * file (one row per tag, other column names) as item knowledge; records of one id joined line by line; bad records
 * named by file, line and column; no domain unless asked (a heading that is no movie factor stays a chunk). And one
 * knowledge field alone: a bank with item texts only, or user texts only, encodes, compresses, trains and exports.
 */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import * as ortWeb from "onnxruntime-web";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../trainer/accel/index.ts";
import { prepareDataset } from "../../trainer/data/prepare.ts";
import { generateSyntheticDataset } from "../../trainer/data/synthetic.ts";
import { exportOnnx } from "../../trainer/export/onnx-export.ts";
import { type OrtLike, onnxParity, openPipeline } from "../../trainer/export/onnx-runner.ts";
import { requestBatch } from "../../trainer/export/request-batch.ts";
import { buildServingBundle } from "../../trainer/export/serving-bundle.ts";
import { buildBank, loadBank, saveBank } from "../../trainer/knowledge/bank.ts";
import { chunkReport } from "../../trainer/knowledge/chunk-report.ts";
import { chunkText } from "../../trainer/knowledge/chunker.ts";
import { compressBank } from "../../trainer/knowledge/compress.ts";
import { createHashEncoder } from "../../trainer/knowledge/encoders/hash.ts";
import { factorsOf } from "../../trainer/knowledge/import-klg.ts";
import { importPlainTexts } from "../../trainer/knowledge/import-texts.ts";
import { simulateKnowledge } from "../../trainer/knowledge/simulator.ts";
import { loadTexts } from "../../trainer/knowledge/texts-io.ts";
import { trainModel } from "../../trainer/train/train.ts";
import { InputFormatError } from "../../trainer/util/errors.ts";
import { makeTempDir } from "./data-helpers.ts";

const temp = makeTempDir("plain-texts");
afterAll(temp.cleanup);
const root = resolve(import.meta.dirname, "../..");
const file = (name: string, content: string) => {
  const path = join(temp.dir, name);
  writeFileSync(path, content);
  return path;
};

async function kser(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["bin/kser.js", ...args], { cwd: root });
    return { code: 0, out: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

describe("importPlainTexts", () => {
  it("reads JSONL and CSV records; several records of one id become one text, line by line", () => {
    const jsonl = file(
      "k.jsonl",
      [
        { field: "item", id: "1", text: "A heist film." },
        { field: "user", id: 7, text: "Likes heists." },
        { field: "item", id: "1", text: "Set in Lyon." },
        { field: "item", id: "2", text: "   " },
      ]
        .map((r) => JSON.stringify(r))
        .join("\n"),
    );
    const { texts, stats } = importPlainTexts(jsonl);
    expect(texts.item.get("1")).toEqual({ text: "A heist film.\nSet in Lyon." });
    expect(texts.user.get("7")).toEqual({ text: "Likes heists." });
    expect(stats).toEqual({ records: { user: 1, item: 3 }, entities: { user: 1, item: 1 }, empty: { user: 0, item: 1 } });

    const csv = file("k.csv", 'field,id,text\nitem,1,"Heist, in Lyon."\nuser,7,"Says ""no"" to horror."\n');
    const fromCsv = importPlainTexts(csv).texts;
    expect(fromCsv.item.get("1")?.text).toBe("Heist, in Lyon.");
    expect(fromCsv.user.get("7")?.text).toBe('Says "no" to horror.');
  });

  it("reads a tags file as item knowledge with --field and other column names", () => {
    const tags = file("tags.csv", "userId,movieId,tag,timestamp\n1,10,funny,5\n2,10,dark,6\n2,11,classic,7\n");
    const { texts, stats } = importPlainTexts(tags, { field: "item", idColumn: "movieId", textColumn: "tag" });
    expect([...texts.item]).toEqual([
      ["10", { text: "funny\ndark" }],
      ["11", { text: "classic" }],
    ]);
    expect(stats.entities).toEqual({ user: 0, item: 2 });
    // Each tag is its own chunk.
    expect(chunkText(texts.item.get("10")!.text, 6).chunks.slice(0, 3)).toEqual(["funny", "dark", ""]);
  });

  it("names file, line and column of a bad record", () => {
    const cases: [string, string, RegExp][] = [
      [
        "a.jsonl",
        '{"field":"item","id":"1","text":"x"}\n{"field":"movie","id":"2","text":"y"}\n',
        /a\.jsonl:2 \(field field\): must be "user" or "item", got "movie"/,
      ],
      ["b.jsonl", '{"field":"item","id":"1","text":"x"}\nnot json\n', /b\.jsonl:2: not valid JSON/],
      ["c.jsonl", '{"field":"item","text":"x"}\n', /c\.jsonl:1 \(field id\): missing or empty/],
      ["d.csv", "field,key,text\nitem,1,x\n", /d\.csv:1 \(field id\): column not found in the header row \(field, key, text\)/],
      ["e.csv", "field,id,text\nitem,1\n", /e\.csv:2: expected 3 cells, found 2/],
      ["f.csv", "field,id,text\nitem,1,\n", /f\.csv: no record with a text/],
    ];
    for (const [name, content, message] of cases) {
      const path = file(name, content);
      expect(() => importPlainTexts(path), name).toThrow(InputFormatError);
      expect(() => importPlainTexts(path), name).toThrow(message);
    }
  });

  it("reports chunks made, pieces merged and entities short or dropped, as the bank then holds them", async () => {
    const texts = {
      source: "test",
      factors: { user: [], item: [] },
      user: new Map(),
      item: new Map([
        ["a", { text: "Genre: heist.\nMood: tense.\nPace: fast.\nEnding: open." }],
        ["b", { text: "One sentence." }],
        ["c", { text: "" }],
      ]),
    };
    expect(chunkReport(texts, "item", 2)).toEqual({ entities: 3, made: 3, merged: 2, short: 1, dropped: 1 });
    const bank = await buildBank(texts, createHashEncoder({ dim: 8 }), { chunks: 2 });
    expect(bank.item.mask.reduce((a, b) => a + b, 0)).toBe(3);
  });

  it("chunks at the text's own headings unless a domain is named: no silent movie factors", () => {
    const text = "Genre: a heist film.\nMood: tense.\nPrice: low.\nShipping: two days.";
    // No domain: four headed chunks. With the movie domain's factors, headings that are not movie factors fold into
    // the one before: that is what --domain movies asks for, and it is never the default.
    expect(chunkText(text, 6, []).mask.reduce((a, b) => a + b, 0)).toBe(4);
    expect(chunkText(text, 6, factorsOf("movies").item).chunks.filter(Boolean)).toEqual([
      "Genre: a heist film.",
      "Mood: tense. Price: low. Shipping: two days.",
    ]);
  });

  it("kser knowledge import --texts reports records, entities and chunking, and writes texts encode reads", async () => {
    const tags = file("t2.csv", "userId,movieId,tag\n1,10,funny\n2,10,dark\n3,11,classic\n");
    const out = join(temp.dir, "t2.jsonl");
    const r = await kser([
      "knowledge",
      "import",
      "--texts",
      tags,
      "--field",
      "item",
      "--id-column",
      "movieId",
      "--text-column",
      "tag",
      "--chunks",
      "2",
      "--out",
      out,
    ]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain("item: 3 records -> 2 entities");
    expect(r.out).toContain(
      "item: 2 entities into 2 chunks each: 3 chunks made, 0 pieces merged into another chunk, 1 entities with masked slots, 0 dropped (no text)",
    );
    expect(r.out).toMatch(/chunking: at each text's own headings/);
    expect(loadTexts(out).item.get("10")?.text).toBe("funny\ndark");
    const bad = await kser(["knowledge", "import", "--texts", temp.dir, "--out", out]);
    expect(bad.code).toBe(2);
    expect(bad.out.trim()).toBe(`kser: ${temp.dir}: is a folder, a knowledge texts file was expected`);
    const help = await kser(["knowledge", "import", "--help"]);
    expect(help.out).toContain("docs/data.md");
  });
});

describe("one knowledge field alone", () => {
  const ort = ortWeb as unknown as OrtLike;
  beforeAll(async () => {
    await initBackend("wasm");
    ortWeb.env.wasm.numThreads = 1;
  });

  for (const only of ["item", "user"] as const) {
    it(`${only} texts only: encode, compress, train and export (parity, item vectors) work`, async () => {
      const raw = generateSyntheticDataset({ seed: 4, users: 80, items: 60 });
      const data = prepareDataset(raw, { seed: 4 });
      const simulated = simulateKnowledge(raw, data, { seed: 4, chunksPerField: 3 });
      const texts = { ...simulated, [only === "item" ? "user" : "item"]: new Map() };
      const encoded = await buildBank(texts, createHashEncoder({ dim: 32 }), { chunks: 3 });
      const dir = join(temp.dir, `${only}-bank`);
      saveBank(dir, encoded);
      expect(loadBank(dir).bankId).toBe(encoded.bankId);
      const { bank, report } = compressBank(encoded, { dim: 8, seed: 1 });
      expect(report[only]).not.toBeNull();
      expect(report[only === "item" ? "user" : "item"]).toBeNull();
      const model = await trainModel({
        data,
        bank,
        backbone: "deepfm",
        extractor: "kser",
        epochs: 1,
        batchSize: 256,
        embeddingDim: 8,
        seed: 4,
      });
      expect(model.bankId).toBe(bank.bankId);
      const built = buildServingBundle({ model, data, bank, knowledgeCodec: bank.codec });
      expect(built.manifest.itemVectors?.count).toBe(only === "item" ? bank.item.ids.length : 0);
      // The id covers what is served: the same export gives the same id, other item vectors another one.
      expect(buildServingBundle({ model, data, bank, knowledgeCodec: bank.codec }).manifest.modelId).toBe(built.manifest.modelId);
      const f32 = buildServingBundle({ model, data, bank, knowledgeCodec: bank.codec, itemVectorCodec: "f32" });
      expect(f32.manifest.modelId).not.toBe(built.manifest.modelId);
      const profile = data.profiles[0];
      const request = { ...profile, candidates: data.vocabulary.fields.item_id.slice(1, 30) };
      const diff = await onnxParity(ort, await openPipeline(ort, exportOnnx(model)), model, requestBatch(model, bank, request));
      expect(diff).toBeLessThan(1e-5);
    });
  }

  it("kser knowledge encode and compress print what they did for a bank with item texts only", async () => {
    const texts = file(
      "items.jsonl",
      `${JSON.stringify({ field: "item", id: "1", text: "A. B. C." })}\n${JSON.stringify({ field: "item", id: "2", text: "D. E." })}\n`,
    );
    const imported = join(temp.dir, "items-texts.jsonl");
    expect((await kser(["knowledge", "import", "--texts", texts, "--out", imported])).code).toBe(0);
    const bankDir = join(temp.dir, "items-bank");
    const encode = await kser(["knowledge", "encode", "--texts", imported, "--chunks", "3", "--dim", "16", "--out", bankDir]);
    expect(encode.code, encode.out).toBe(0);
    expect(encode.out).toMatch(/user: 0 x 3 x 16, 0 chunks present; item: 2 x 3 x 16, 5 chunks present/);
    const compress = await kser(["knowledge", "compress", "--bank", bankDir, "--dim", "4", "--out", join(temp.dir, "items-small")]);
    expect(compress.code, compress.out).toBe(0);
    expect(compress.out).toContain("user: no knowledge in this field; kept empty at dimension 4");
    expect(compress.out).not.toMatch(/\n\s+at /);
  });
});
