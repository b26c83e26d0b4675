/**
 * extractor-only training: starts equal to the frozen backbone, keeps all of it bit-for-bit, trains ext/; the gate of
 * every chunk is reported, with a per-kind summary when the bank has kinds.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CHUNK_KINDS } from "../../trainer/data/types.ts";
import { splitBatch } from "../../trainer/eval/holdout.ts";
import { backboneNames, getBackbone } from "../../trainer/models/registry.ts";
import { computeGates } from "../../trainer/train/gates.ts";
import { predictTf } from "../../trainer/train/model.ts";
import { writeRunOutputs } from "../../trainer/train/run-outputs.ts";
import { trainModel } from "../../trainer/train/train.ts";
import { randomData } from "./fixtures/random-data.ts";

describe("extractor-only strategy and gates", () => {
  it("freezes the whole backbone, trains ext/, starts from the backbone's scores; gates.json covers every chunk", async () => {
    const { data, bank } = randomData({ seed: 4, users: 80, samplesPerUser: 20, chunks: 3, dim: 8 });
    // Known kinds, so the per-kind summary exists: slot 0 is the informative one in this fixture.
    for (const field of [bank.user, bank.item])
      field.kinds = Uint8Array.from({ length: field.ids.length * field.chunks }, (_, i) => (i % field.chunks === 0 ? 0 : 1 + (i % 3)));
    const common = { data, backbone: "deepfm", embeddingDim: 8, batchSize: 128, seed: 2 };
    const backbone = await trainModel({ ...common, bank: null, extractor: "none", epochs: 2 });

    // Zero epochs of extractor-only training would be the backbone itself: check with 1 epoch at lr ~0 instead.
    const n = 6;
    const batch = splitBatch(data.spec, data.test, 0, n);
    const still = await trainModel({
      ...common,
      bank,
      extractor: "kser",
      epochs: 1,
      learningRate: 1e-30,
      strategy: "extractor-only",
      from: backbone,
    });
    const before = await predictTf(backbone, batch);
    const start = await predictTf(still, batch);
    for (let i = 0; i < n; i++) expect(start[i]).toBeCloseTo(before[i], 6);

    const model = await trainModel({ ...common, bank, extractor: "kser", epochs: 2, strategy: "extractor-only", from: backbone });
    const Fdeep = model.params.get("core/dnn/0/w")!.shape[0];
    const grownFrom = backbone.params.get("core/dnn/0/w")!.shape[0];
    expect(Fdeep).toBe(grownFrom + 2 * 8); // two knowledge fields of E = 8 appended
    // Bit-for-bit: every parameter of the backbone (its embeddings and output layer too), the leading rows of the
    // grown ones; what trains is only what the extractor adds.
    for (const [name, p] of backbone.params) expect(model.params.get(name)!.values.subarray(0, p.values.length), name).toEqual(p.values);
    expect([...model.params.keys()].filter((n) => !backbone.params.has(n)).every((n) => n.startsWith("ext/"))).toBe(true);
    const knowledgeRows = model.params.get("core/dnn/0/w")!.values.subarray(grownFrom * 256);
    expect(knowledgeRows.some((v) => v !== 0)).toBe(true);
    expect(model.params.get("ext/user/esf/gate/w")!.values.some((v) => v !== 0)).toBe(true);

    const gates = computeGates(model, data, bank);
    for (const side of ["user", "item"] as const) {
      const field = bank[side];
      const report = gates[side];
      expect(report.entities.map((e) => e.id)).toEqual(field.ids);
      report.entities.forEach((e, i) => {
        expect(e.gates.length).toBe(field.chunks);
        e.gates.forEach((g, k) => {
          const present = field.mask[i * field.chunks + k] > 0;
          if (present) expect(g > 0 && g < 1).toBe(true);
          else expect(g).toBe(0);
        });
      });
      expect(Object.keys(report.meanByKind!)).toEqual(CHUNK_KINDS);
      const present = Array.from(field.mask).filter((m) => m > 0).length;
      expect(Object.values(report.meanByKind!).reduce((s, k) => s + k.count, 0)).toBe(present);
    }
    const dir = await mkdtemp(path.join(tmpdir(), "kser-run-"));
    try {
      await writeRunOutputs(dir, model, data, bank);
      const json = JSON.parse(await readFile(path.join(dir, "gates.json"), "utf8"));
      expect(json.item.entities.length).toBe(bank.item.ids.length);
      expect(json.user.entities.length).toBe(bank.user.ids.length);
      const metrics = JSON.parse(await readFile(path.join(dir, "metrics.json"), "utf8"));
      for (const key of ["auc", "logloss", "gauc"]) expect(Number.isFinite(metrics.test[key])).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each(backboneNames())("%s: extractor-only's epoch 0 validates exactly as the frozen backbone, or is refused", async (name) => {
    const { data, bank } = randomData({ seed: 6, users: 40, samplesPerUser: 12, chunks: 3, dim: 8 });
    const common = { data, backbone: name, embeddingDim: 8, batchSize: 128, seed: 5 };
    const backbone = await trainModel({ ...common, bank: null, extractor: "none", epochs: 1 });
    if (getBackbone(name).noExtractorOnly) {
      await expect(
        trainModel({ ...common, bank, extractor: "kser", epochs: 1, strategy: "extractor-only", from: backbone }),
      ).rejects.toThrow(`extractor-only training cannot start from a frozen ${name}`);
      return;
    }
    const model = await trainModel({ ...common, bank, extractor: "kser", epochs: 1, strategy: "extractor-only", from: backbone });
    expect(model.history[0].epoch).toBe(0);
    // The grown rows start at zero wherever the backbone reads them (DCN's output layer: before the deep part).
    expect(model.history[0].validAuc).toBeCloseTo(backbone.metrics.valid.auc, 6);
    expect(model.history[0].validLogloss).toBeCloseTo(backbone.metrics.valid.logloss, 5);
  });

  it("grows square layers over all fields (DCNv2's cross weights) keeping the backbone's block bit-for-bit", async () => {
    const { data, bank } = randomData({ seed: 5, users: 60, samplesPerUser: 20, chunks: 3, dim: 8 });
    const common = { data, backbone: "dcnv2", embeddingDim: 8, batchSize: 128, seed: 3 };
    const backbone = await trainModel({ ...common, bank: null, extractor: "none", epochs: 1 });
    const model = await trainModel({ ...common, bank, extractor: "kser", epochs: 1, strategy: "extractor-only", from: backbone });
    let squareGrown = 0;
    for (const [name, p] of backbone.params) {
      if (!name.startsWith("core/")) continue;
      const now = model.params.get(name)!;
      if (p.shape.length === 2 && p.shape[0] === p.shape[1] && now.shape[1] > p.shape[1]) squareGrown++;
      // Every backbone entry sits at the same (row, column) of the grown tensor, unchanged.
      const cols = p.shape.length === 2 ? p.shape[1] : p.values.length;
      const grownCols = now.shape.length === 2 ? now.shape[1] : now.values.length;
      for (let r = 0; r < p.values.length / cols; r++) {
        expect(now.values.subarray(r * grownCols, r * grownCols + cols), `${name} row ${r}`).toEqual(
          p.values.subarray(r * cols, (r + 1) * cols),
        );
      }
    }
    expect(squareGrown).toBeGreaterThan(0);
  });
});
