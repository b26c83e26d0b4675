/**
 * Every backbone x extractor exports to ONNX and the exported pipeline (user extractor -> item extractor ->
 * backbone) matches tfjs in onnxruntime-node and onnxruntime-web, at batch 1 and 257: score, logit and the
 * extractor outputs. Weights are the seeded init plus a seeded perturbation (see models-fixtures.ts), so the
 * outputs vary widely across rows. ORT sessions are cached by graph bytes: extractor graphs are identical across
 * backbones (parameters are seeded by name), which the cache hit itself shows.
 */
import { createHash } from "node:crypto";
import * as tf from "@tensorflow/tfjs-core";
import * as ortNode from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../trainer/accel/index.ts";
import { exportOnnx } from "../../trainer/export/onnx-export.ts";
import { backboneNames, extractorNames, getExtractor } from "../../trainer/models/registry.ts";
import { OnnxOps } from "../../trainer/ops/onnx-ops.ts";
import { ParamStore, TfOps } from "../../trainer/ops/tf-ops.ts";
import { type PredictBatch, predictTf } from "../../trainer/train/model.ts";
import { configFor, forwardAll, type GraphOutputs, maxAbsDiff, randomBatch, seededWeights, trainedModelOf } from "./models-fixtures.ts";

type Ort = typeof ortNode;
type Session = ortNode.InferenceSession;
const runtimes: [string, Ort][] = [
  ["onnxruntime-node", ortNode],
  ["onnxruntime-web", ortWeb as unknown as Ort],
];
const TOLERANCE = 1e-5;

const sessionCache = new Map<string, Promise<Session>>();
function session(runtime: string, ort: Ort, bytes: Uint8Array): Promise<Session> {
  const key = `${runtime}:${createHash("sha256").update(bytes).digest("hex")}`;
  let s = sessionCache.get(key);
  if (!s) {
    s = ort.InferenceSession.create(bytes);
    sessionCache.set(key, s);
  }
  return s;
}

async function runOnnx(
  runtime: string,
  ort: Ort,
  graphs: ReturnType<typeof exportOnnx>,
  cfg: ReturnType<typeof configFor>,
  b: PredictBatch,
): Promise<GraphOutputs & { score: Float32Array }> {
  const { spec } = cfg;
  const n = b.count;
  const Fi = spec.itemFields.length;
  const L = spec.historyLength;
  const feeds: Record<string, ortNode.Tensor> = {
    item_feats: new ort.Tensor("int32", b.itemFeats, [n, Fi]),
    user_feats: new ort.Tensor("int32", b.userFeats, [n, spec.userFields.length]),
    hist_feats: new ort.Tensor("int32", b.histFeats, [n, L, Fi]),
    hist_ratings: new ort.Tensor("int32", b.histRatings, [n, L]),
    hist_mask: new ort.Tensor("float32", b.histMask, [n, L]),
  };
  const run = async (s: Session) => {
    for (const name of s.inputNames) expect(feeds[name], `graph input ${name}`).toBeDefined();
    return s.run(Object.fromEntries(s.inputNames.map((name) => [name, feeds[name]])));
  };
  const out: Partial<GraphOutputs> = {};
  if (cfg.knowledge) {
    const { user, item } = cfg.knowledge;
    feeds.user_chunks = new ort.Tensor("float32", b.userChunks!, [n, user.chunks, user.dim]);
    feeds.user_chunk_mask = new ort.Tensor("float32", b.userChunkMask!, [n, user.chunks]);
    feeds.item_chunks = new ort.Tensor("float32", b.itemChunks!, [n, item.chunks, item.dim]);
    feeds.item_chunk_mask = new ort.Tensor("float32", b.itemChunkMask!, [n, item.chunks]);
    const u = await run(await session(runtime, ort, graphs.userExtractor!.bytes));
    const it = await run(await session(runtime, ort, graphs.itemExtractor!.bytes));
    expect(u.user_know.dims).toEqual([n, cfg.embeddingDim]);
    expect(it.item_know.dims).toEqual([n, cfg.embeddingDim]);
    expect(u.user_gate.dims).toEqual([n, user.chunks]);
    expect(it.item_gate.dims).toEqual([n, item.chunks]);
    feeds.user_know = u.user_know as ortNode.Tensor;
    feeds.item_know = it.item_know as ortNode.Tensor;
    out.userKnow = u.user_know.data as Float32Array;
    out.itemKnow = it.item_know.data as Float32Array;
    out.userGate = u.user_gate.data as Float32Array;
    out.itemGate = it.item_gate.data as Float32Array;
  }
  const o = await run(await session(runtime, ort, graphs.backbone.bytes));
  expect(o.score.dims).toEqual([n]);
  expect(o.logit.dims).toEqual([n]);
  return { ...out, logit: o.logit.data as Float32Array, score: o.score.data as Float32Array } as GraphOutputs & { score: Float32Array };
}

const report: string[] = [];
beforeAll(async () => {
  ortWeb.env.wasm.numThreads = 1;
  await initBackend("wasm", () => {});
});
afterAll(() => {
  console.log(`max |diff| score/logit/know per combination (node | web), batch 1 and 257:\n${report.join("\n")}`);
});

describe("take (the constant-index gather op): tfjs and ONNX agree", () => {
  it("float32 along a middle axis and int32 along axis 0, repeated indices", async () => {
    const x = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 0.5 - 3);
    const ids = Int32Array.from({ length: 3 * 2 }, (_, i) => i * 7 - 4);
    const expected = tf.tidy(() => {
      const ops = new TfOps(new ParamStore(false), new Map());
      return [ops.take(tf.tensor3d(x, [2, 3, 4]), 1, [2, 0, 2]), ops.take(tf.tensor2d(ids, [3, 2], "int32"), 0, [1, 1, 0, 2])];
    });
    expect(expected[0].shape).toEqual([2, 3, 4]);
    expect(expected[1].shape).toEqual([4, 2]);
    const onnx = new OnnxOps(new Map());
    onnx.output(onnx.take(onnx.input("x", "float32", [-1, 3, 4]), 1, [2, 0, 2]), "a");
    onnx.output(onnx.take(onnx.input("ids", "int32", [-1, 2]), 0, [1, 1, 0, 2]), "b");
    const bytes = onnx.build("take");
    for (const [runtime, ort] of runtimes) {
      const s = await ort.InferenceSession.create(bytes);
      const out = await s.run({ x: new ort.Tensor("float32", x, [2, 3, 4]), ids: new ort.Tensor("int32", ids, [3, 2]) });
      expect(Array.from(out.a.data as Float32Array), runtime).toEqual(Array.from(expected[0].dataSync()));
      expect(Array.from(out.b.data as Int32Array), runtime).toEqual(Array.from(expected[1].dataSync()));
      expect(out.b.dims).toEqual([4, 2]);
    }
    for (const t of expected) t.dispose();
  });
});

describe("parameter groups", () => {
  it.each(backboneNames())("%s: backbone parameters are emb/, core/ or out/; extractors add only ext/ (and emb/)", (backbone) => {
    const plain = [...seededWeights(configFor(backbone, "none")).keys()];
    expect(
      plain.every((n) => /^(emb|core|out)\//.test(n)),
      plain.join(","),
    ).toBe(true);
    expect(plain.some((n) => n.startsWith("core/"))).toBe(true);
    expect(plain.some((n) => n.startsWith("out/"))).toBe(true);
    for (const extractor of ["raw", "kar"]) {
      const names = [...seededWeights(configFor(backbone, extractor)).keys()];
      const added = names.filter((n) => !plain.includes(n));
      expect(added.length).toBeGreaterThan(0);
      expect(
        added.every((n) => n.startsWith("ext/") || n.startsWith("emb/")),
        added.join(","),
      ).toBe(true);
    }
  });

  it("KAR shares its shared experts between the user and item fields and has 2 + 3 experts per field", () => {
    const names = [...seededWeights(configFor("deepfm", "kar")).entries()];
    const shape = (n: string) => names.find(([k]) => k === n)?.[1].shape;
    expect(shape("ext/kar/shared/l2/w")).toEqual([2, 128, 8]);
    expect(shape("ext/user/kar/dedicated/l2/w")).toEqual([3, 128, 8]);
    expect(shape("ext/item/kar/dedicated/l1/w")).toEqual([8, 3 * 128]);
    expect(shape("ext/item/kar/gate/w")).toEqual([8, 5]);
  });

  it("KAR gives each field its own shared experts when the chunk dimensions differ", () => {
    const cfg = { ...configFor("deepfm", "kar"), knowledge: { user: { chunks: 3, dim: 8 }, item: { chunks: 2, dim: 6 } } };
    const weights = seededWeights(cfg);
    expect(weights.get("ext/user/kar/shared/l1/w")?.shape).toEqual([8, 2 * 128]);
    expect(weights.get("ext/item/kar/shared/l1/w")?.shape).toEqual([6, 2 * 128]);
    expect([...weights.keys()].some((n) => n.startsWith("ext/kar/"))).toBe(false);
  });

  it("KAR's output is a softmax mix of ReLU experts: non-negative, and one learned constant without knowledge", () => {
    const cfg = configFor("deepfm", "kar");
    const batch = randomBatch(cfg, 40, 3);
    const out = forwardAll(cfg, seededWeights(cfg), batch);
    const E = cfg.embeddingDim;
    expect(out.itemKnow!.every((v) => v >= 0)).toBe(true);
    // Rows 0, 7, 14, ... have every item chunk masked (see randomBatch): identical vectors.
    const row = (i: number) => Array.from(out.itemKnow!.slice(i * E, (i + 1) * E));
    expect(row(7)).toEqual(row(0));
    expect(row(14)).toEqual(row(0));
    expect(row(1)).not.toEqual(row(0));
  });
});

describe("history padding", () => {
  it.each(backboneNames())("%s: ids at masked history positions do not change the logit", (backbone) => {
    const cfg = configFor(backbone, "kar");
    const params = seededWeights(cfg);
    const batch = randomBatch(cfg, 16, 5);
    const Fi = cfg.spec.itemFields.length;
    const scrambled = { ...batch, histFeats: batch.histFeats.slice(), histRatings: batch.histRatings.slice() };
    let changed = 0;
    batch.histMask.forEach((m, p) => {
      if (m !== 0) return;
      scrambled.histRatings[p] = (batch.histRatings[p] + 1) % cfg.spec.ratingVocab;
      for (let i = 0; i < Fi; i++) scrambled.histFeats[p * Fi + i] = (batch.histFeats[p * Fi + i] + 1) % cfg.spec.itemFields[i].vocabSize;
      changed++;
    });
    expect(changed).toBeGreaterThan(5);
    const a = forwardAll(cfg, params, batch).logit;
    const b = forwardAll(cfg, params, scrambled).logit;
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-6);
  });
});

const combos = backboneNames().flatMap((b) => extractorNames().map((e) => [b, e] as const));

describe.each(combos)("%s + %s: ONNX export parity", (backbone, extractor) => {
  it("matches tfjs in onnxruntime-node and onnxruntime-web at batch 1 and 257", async () => {
    const cfg = configFor(backbone, extractor);
    const params = seededWeights(cfg);
    const model = trainedModelOf(cfg, params);
    const graphs = exportOnnx(model);
    const usesKnowledge = getExtractor(extractor).usesKnowledge;
    expect(graphs.backbone.inputs.includes("user_know")).toBe(usesKnowledge);
    expect(graphs.userExtractor?.outputs ?? null).toEqual(usesKnowledge ? ["user_know", "user_gate"] : null);
    expect(graphs.itemExtractor?.outputs ?? null).toEqual(usesKnowledge ? ["item_know", "item_gate"] : null);
    const line: string[] = [];
    for (const count of [1, 257]) {
      const batch = randomBatch(cfg, count, count + 17);
      const expected = forwardAll(cfg, params, batch);
      const scores = await predictTf(model, batch);
      // Non-trivial parity: the logits spread over the batch.
      if (count > 1) expect(Math.max(...expected.logit) - Math.min(...expected.logit)).toBeGreaterThan(0.05);
      if (usesKnowledge && (extractor === "raw" || extractor === "kar")) {
        // No selection: the gate is the chunk mask itself.
        expect(Array.from(expected.userGate!)).toEqual(Array.from(batch.userChunkMask!));
        expect(Array.from(expected.itemGate!)).toEqual(Array.from(batch.itemChunkMask!));
      }
      const cells: string[] = [];
      for (const [runtime, ort] of runtimes) {
        const actual = await runOnnx(runtime, ort, graphs, cfg, batch);
        const dScore = maxAbsDiff(actual.score, scores);
        const dLogit = maxAbsDiff(actual.logit, expected.logit);
        let dKnow = 0;
        if (usesKnowledge) {
          dKnow = Math.max(maxAbsDiff(actual.userKnow!, expected.userKnow!), maxAbsDiff(actual.itemKnow!, expected.itemKnow!));
          expect(maxAbsDiff(actual.userGate!, expected.userGate!)).toBeLessThan(TOLERANCE);
          expect(maxAbsDiff(actual.itemGate!, expected.itemGate!)).toBeLessThan(TOLERANCE);
        }
        expect(dScore, `${runtime} score`).toBeLessThan(TOLERANCE);
        expect(dLogit, `${runtime} logit`).toBeLessThan(TOLERANCE);
        expect(dKnow, `${runtime} knowledge vectors`).toBeLessThan(TOLERANCE);
        cells.push(`${dScore.toExponential(1)}/${dLogit.toExponential(1)}/${dKnow.toExponential(1)}`);
      }
      line.push(cells.join(" | "));
    }
    report.push(`${backbone.padEnd(8)} ${extractor.padEnd(14)} ${line.join("   ")}`);
  });
});
