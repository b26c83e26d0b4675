/**
 * Scores N candidates for one user with a loaded model:
 *   FeatureEncoder rows -> user extractor once (B = 1) -> item vectors (precomputed iv shards for this model, else
 *   raw item knowledge through the item extractor, else the extractor on a fully masked input, as training saw
 *   items without knowledge) -> backbone over all N rows.
 * Each graph gets exactly the inputs its GraphRef lists.
 */
import type { EncodedRows } from "../../shared/feature-encoding.ts";
import { itemFeatureWidth, userFeatureWidth } from "../../shared/feature-encoding.ts";
import { kvKeys } from "../../shared/kv-keys.ts";
import type { ModelManifest } from "../../shared/manifest.ts";
import type { ScoreResponse } from "../../shared/score-api.ts";
import type { HistoryEntry } from "../../shared/user-profile.ts";
import type { ShardStore } from "./knowledge-store.ts";
import type { LoadedGraph, LoadedModel } from "./model-loader.ts";
import { ort } from "./ort-runtime.ts";
import type { RequestReads } from "./request-reads.ts";
import type { StageTimer } from "./timing.ts";

export interface ScoreInput {
  userId: string;
  attributes: Record<string, string>;
  history: HistoryEntry[];
  candidates: string[];
}

export interface ScoreResult {
  scores: Float32Array;
  knowledge: ScoreResponse["knowledge"];
}

export type Feeds = Record<string, ort.Tensor>;

export async function scoreCandidates(
  model: LoadedModel,
  kv: KVNamespace,
  reads: RequestReads,
  shards: ShardStore,
  input: ScoreInput,
  timer?: StageTimer,
): Promise<ScoreResult> {
  const { feeds, knowledge } = await backboneInputs(model, kv, reads, shards, input);
  timer?.mark("inputs");
  const scores = await runBackbone(model, feeds);
  timer?.mark("backbone");
  if (scores.length !== input.candidates.length)
    throw new Error(`backbone returned ${scores.length} scores for ${input.candidates.length} candidates`);
  return { scores, knowledge };
}

/** KV keys of a model's shards by shard index: warmKnowledge and the lookups below must name the same keys. */
const knowledgeKey = (k: NonNullable<ModelManifest["knowledge"]>, side: "user" | "item") => (shard: number) =>
  kvKeys.knowledgeShard(k.bankId, side, shard);
const itemVectorKey = (m: ModelManifest) => (shard: number) => kvKeys.itemVectorShard(m.modelId, shard);

/**
 * Starts the KV reads a request for this model will make (the user's knowledge shard, the candidates' item-vector
 * or raw-knowledge shards) from the manifest alone: on a model that is still loading they overlap ORT's session
 * creation instead of following it. scoreCandidates then joins them.
 */
export function warmKnowledge(
  manifest: ModelManifest,
  kv: KVNamespace,
  reads: RequestReads,
  shards: ShardStore,
  userId: string,
  candidates: string[],
): void {
  const k = manifest.knowledge;
  if (k && manifest.graphs.userExtractor) shards.warm(kv, reads, knowledgeKey(k, "user"), k.user.shards, [userId]);
  if (!manifest.graphs.backbone.inputs.includes("item_know")) return;
  const iv = manifest.itemVectors;
  if (iv) shards.warm(kv, reads, itemVectorKey(manifest), iv.shards, candidates);
  else if (k) shards.warm(kv, reads, knowledgeKey(k, "item"), k.item.shards, candidates);
}

/** One backbone pass over prepared feeds (also what the admin model-only timing route repeats). */
export async function runBackbone(model: LoadedModel, feeds: Feeds): Promise<Float32Array> {
  const out = await run(model.backbone, feeds, "backbone");
  return out.score.data as Float32Array;
}

/** Everything before the backbone: encoded rows, user vector (user extractor), item vectors (iv shards / item extractor). */
export async function backboneInputs(
  model: LoadedModel,
  kv: KVNamespace,
  reads: RequestReads,
  shards: ShardStore,
  input: ScoreInput,
): Promise<{ feeds: Feeds; knowledge: ScoreResult["knowledge"] }> {
  const { manifest, encoder } = model;
  const spec = manifest.features;
  const n = input.candidates.length;
  const Fi = itemFeatureWidth(spec);
  const Fu = userFeatureWidth(spec);
  const L = spec.historyLength;
  const E = manifest.embeddingDim;
  const rows = encoder.encode(input);

  // Per-user inputs of row 0 (identical in every row), for the user extractor's single row.
  const userRow = {
    user_feats: new ort.Tensor("int32", rows.userFeats.slice(0, Fu), [1, Fu]),
    hist_feats: new ort.Tensor("int32", rows.histFeats.slice(0, L * Fi), [1, L, Fi]),
    hist_ratings: new ort.Tensor("int32", rows.histRatings.slice(0, L), [1, L]),
    hist_mask: new ort.Tensor("float32", rows.histMask.slice(0, L), [1, L]),
  };
  const [user, items] = await Promise.all([
    userKnowledge(model, kv, reads, shards, input.userId, userRow),
    itemKnowledge(model, kv, reads, shards, input.candidates, rows),
  ]);

  // A backbone exported with request inputs takes the user side once (batch 1) and broadcasts it; older graphs get
  // the same row repeated for every candidate.
  const once = new Set(model.backbone.ref.requestInputs ?? []);
  const userSide = (name: keyof typeof userRow, full: Int32Array | Float32Array, dims: number[]): ort.Tensor =>
    once.has(name) ? userRow[name] : new ort.Tensor(full instanceof Int32Array ? "int32" : "float32", full, [n, ...dims]);
  const backboneFeeds: Feeds = {
    item_feats: new ort.Tensor("int32", rows.itemFeats, [n, Fi]),
    user_feats: userSide("user_feats", rows.userFeats, [Fu]),
    hist_feats: userSide("hist_feats", rows.histFeats, [L, Fi]),
    hist_ratings: userSide("hist_ratings", rows.histRatings, [L]),
    hist_mask: userSide("hist_mask", rows.histMask, [L]),
  };
  if (user.vector) {
    if (once.has("user_know")) {
      backboneFeeds.user_know = new ort.Tensor("float32", user.vector, [1, E]);
    } else {
      const tiled = new Float32Array(n * E);
      for (let i = 0; i < n; i++) tiled.set(user.vector, i * E);
      backboneFeeds.user_know = new ort.Tensor("float32", tiled, [n, E]);
    }
  }
  if (items.vectors) backboneFeeds.item_know = new ort.Tensor("float32", items.vectors, [n, E]);
  return {
    feeds: backboneFeeds,
    knowledge: { user: user.status, itemsPrecomputed: items.precomputed, itemsFallback: items.fallback, itemsMissing: items.missing },
  };
}

async function run(graph: LoadedGraph, available: Feeds, name: string): Promise<ort.InferenceSession.OnnxValueMapType> {
  const feeds: Feeds = {};
  for (const input of graph.ref.inputs) {
    const tensor = available[input];
    if (!tensor) throw new Error(`graph ${name} needs input ${input}, which this model does not provide`);
    feeds[input] = tensor;
  }
  return graph.session.run(feeds);
}

async function userKnowledge(
  model: LoadedModel,
  kv: KVNamespace,
  reads: RequestReads,
  shards: ShardStore,
  userId: string,
  userRow: Feeds,
): Promise<{ vector: Float32Array | null; status: "present" | "missing" | "none" }> {
  const { manifest } = model;
  if (!model.userExtractor || !manifest.knowledge) return { vector: null, status: "none" };
  // The user vector depends only on the user's knowledge and encoded rows: repeat requests skip the extractor.
  const cacheKey = `${userId}\u0000${userRow.user_feats.data}|${userRow.hist_feats.data}|${userRow.hist_ratings.data}|${userRow.hist_mask.data}`;
  const cached = model.userVectors.get(cacheKey);
  if (cached) return cached;
  const spec = manifest.knowledge.user;
  const found = await shards.lookup(kv, reads, knowledgeKey(manifest.knowledge, "user"), spec.shards, [userId], {
    chunks: spec.chunks,
    dim: spec.dim,
  });
  const vectors = found.vectors[0];
  const out = await run(
    model.userExtractor,
    {
      ...userRow,
      // Without knowledge the extractor sees every chunk masked out, as training does for such users.
      user_chunks: new ort.Tensor("float32", vectors?.values ?? new Float32Array(spec.chunks * spec.dim), [1, spec.chunks, spec.dim]),
      user_chunk_mask: new ort.Tensor("float32", vectors?.mask ?? new Float32Array(spec.chunks), [1, spec.chunks]),
    },
    "userExtractor",
  );
  const result = {
    vector: (out.user_know.data as Float32Array).slice(0, manifest.embeddingDim),
    status: vectors ? ("present" as const) : ("missing" as const),
  };
  // Only vectors computed from cached (or absent) knowledge are kept; a faulty shard read is retried next time.
  if (found.faults.length === 0) model.userVectors.set(cacheKey, result);
  return result;
}

type ItemKnowledge = { vectors: Float32Array | null; precomputed: number; fallback: number; missing: number };

/** The candidates' precomputed item vectors (n x E) from the iv shards, and the positions that have none. */
async function precomputedItemVectors(model: LoadedModel, kv: KVNamespace, reads: RequestReads, shards: ShardStore, candidates: string[]) {
  const { manifest } = model;
  const E = manifest.embeddingDim;
  const vectors = new Float32Array(candidates.length * E);
  const pending: number[] = []; // candidate positions still without a vector
  let precomputed = 0;
  const iv = manifest.itemVectors;
  if (!iv) return { vectors, pending: candidates.map((_, i) => i), precomputed };
  const found = await shards.lookup(kv, reads, itemVectorKey(manifest), iv.shards, candidates, { chunks: 1, dim: iv.dim });
  found.vectors.forEach((v, i) => {
    if (v && v.mask[0] > 0) {
      vectors.set(v.values, i * E);
      precomputed++;
    } else pending.push(i);
  });
  return { vectors, pending, precomputed };
}

/**
 * Runs the item extractor on the pending candidates' raw knowledge (all chunks masked where the item has none)
 * and writes their vectors into `vectors`; returns how many had knowledge.
 */
async function extractItemVectors(
  model: LoadedModel,
  io: { kv: KVNamespace; reads: RequestReads; shards: ShardStore },
  candidates: string[],
  rows: EncodedRows,
  pending: number[],
  vectors: Float32Array,
): Promise<number> {
  const { manifest } = model;
  const spec = manifest.knowledge!.item;
  const ids = pending.map((i) => candidates[i]);
  const found = await io.shards.lookup(io.kv, io.reads, knowledgeKey(manifest.knowledge!, "item"), spec.shards, ids, {
    chunks: spec.chunks,
    dim: spec.dim,
  });
  const m = pending.length;
  const E = manifest.embeddingDim;
  const Fi = itemFeatureWidth(manifest.features);
  const chunkSize = spec.chunks * spec.dim;
  const chunks = new Float32Array(m * chunkSize);
  const mask = new Float32Array(m * spec.chunks);
  const feats = new Int32Array(m * Fi);
  let withKnowledge = 0;
  pending.forEach((pos, j) => {
    const v = found.vectors[j];
    if (v) {
      chunks.set(v.values, j * chunkSize);
      mask.set(v.mask, j * spec.chunks);
      withKnowledge++;
    }
    feats.set(rows.itemFeats.subarray(pos * Fi, (pos + 1) * Fi), j * Fi);
  });
  const out = await run(
    model.itemExtractor!,
    {
      item_chunks: new ort.Tensor("float32", chunks, [m, spec.chunks, spec.dim]),
      item_chunk_mask: new ort.Tensor("float32", mask, [m, spec.chunks]),
      item_feats: new ort.Tensor("int32", feats, [m, Fi]),
    },
    "itemExtractor",
  );
  const know = out.item_know.data as Float32Array;
  for (const [j, pos] of pending.entries()) vectors.set(know.subarray(j * E, (j + 1) * E), pos * E);
  return withKnowledge;
}

/** The candidates' item knowledge vectors: precomputed where published, else extracted from raw knowledge. */
async function itemKnowledge(
  model: LoadedModel,
  kv: KVNamespace,
  reads: RequestReads,
  shards: ShardStore,
  candidates: string[],
  rows: EncodedRows,
): Promise<ItemKnowledge> {
  if (!model.backbone.ref.inputs.includes("item_know")) return { vectors: null, precomputed: 0, fallback: 0, missing: 0 };
  const { vectors, pending, precomputed } = await precomputedItemVectors(model, kv, reads, shards, candidates);
  if (pending.length === 0) return { vectors, precomputed, fallback: 0, missing: 0 };
  // Without an item extractor the pending candidates keep zero vectors.
  if (!model.itemExtractor || !model.manifest.knowledge) return { vectors, precomputed, fallback: 0, missing: pending.length };
  const fallback = await extractItemVectors(model, { kv, reads, shards }, candidates, rows, pending, vectors);
  return { vectors, precomputed, fallback, missing: pending.length - fallback };
}
