/**
 * A real model for the edge. trainEdgeModel trains a DeepFM + KSER model with the trainer (synthetic data, simulated
 * knowledge, tfjs) and builds its serving bundle exactly as the publisher does; bench/edge.ts serves it.
 *
 * buildRealModelFixture is the Node side of the workerd parity test (test/worker/real-model.test.ts): a small
 * model, the trainer's tfjs scores (predictTf over requestBatch) for requests covering every knowledge path, and
 * one item's precomputed vector removed from its iv shard so the worker must take the raw-knowledge fallback.
 * It runs as a child process (`node --import tsx bench/edge-model.ts <out.json>`): tfjs training needs initBackend's
 * module resolve hook, which the vitest config process lacks. test/worker/fixtures/real-model.ts caches the output.
 */
import { writeFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { kvKeys, shardOf } from "../shared/kv-keys.ts";
import { rolloutConfigFromWeights } from "../shared/rollout.ts";
import { decodeShard, encodeShard, type VectorCodec } from "../shared/vector-codec.ts";
import type { RealModelCase, RealModelFixture } from "../test/worker/fixtures/real-model-types.ts";
import { type BackendPreference, initBackend } from "../trainer/accel/index.ts";
import { prepareDataset } from "../trainer/data/prepare.ts";
import { generateSyntheticDataset } from "../trainer/data/synthetic.ts";
import type { KnowledgeBank, KnowledgeBankField, PreparedDataset } from "../trainer/data/types.ts";
import { requestBatch, type ScoreRequestInput } from "../trainer/export/request-batch.ts";
import { buildServingBundle, type ServingBundle } from "../trainer/export/serving-bundle.ts";
import { buildBank } from "../trainer/knowledge/bank.ts";
import { compressBank } from "../trainer/knowledge/compress.ts";
import { createHashEncoder } from "../trainer/knowledge/encoders/hash.ts";
import { simulateKnowledge } from "../trainer/knowledge/simulator.ts";
import { valueBytes } from "../trainer/publish/kv-bundle.ts";
import { predictTf, type TrainedModel } from "../trainer/train/model.ts";
import { trainModel } from "../trainer/train/train.ts";

const SEED = 11;

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

export interface EdgeModelOptions {
  seed?: number;
  users?: number;
  items?: number;
  interactionsPerUser?: number;
  chunks?: number;
  /** Knowledge dimension after PCA (int8 shards). */
  knowledgeDim?: number;
  embeddingDim?: number;
  epochs?: number;
  /** Entities per knowledge / item-vector shard. */
  entitiesPerShard?: number;
  /** Codec of the precomputed item vectors (buildServingBundle's default, f16, when absent). */
  itemVectorCodec?: VectorCodec;
  backend?: BackendPreference;
}

export interface EdgeModel {
  data: PreparedDataset;
  bank: KnowledgeBank;
  model: TrainedModel;
  built: ServingBundle;
}

/** A DeepFM + KSER model trained on synthetic data with simulated knowledge, and its serving bundle. */
export async function trainEdgeModel(options: EdgeModelOptions = {}): Promise<EdgeModel> {
  const seed = options.seed ?? SEED;
  const chunks = options.chunks ?? 6;
  const raw = generateSyntheticDataset({
    seed,
    users: options.users,
    items: options.items,
    interactionsPerUser: options.interactionsPerUser,
  });
  const data = prepareDataset(raw, { seed });
  const texts = simulateKnowledge(raw, data, { seed, chunksPerField: chunks, missingRate: { user: 0.15, item: 0.15 } });
  const encoded = await buildBank(texts, createHashEncoder({ dim: 64 }), { chunks });
  const { bank } = compressBank(encoded, { dim: options.knowledgeDim ?? 32, codec: "i8", seed });
  await initBackend(options.backend ?? "cpu", () => undefined);
  const model = await trainModel({
    data,
    bank,
    backbone: "deepfm",
    extractor: "kser",
    embeddingDim: options.embeddingDim ?? 16,
    epochs: options.epochs ?? 1,
    seed,
  });
  const built = buildServingBundle({
    model,
    data,
    bank,
    knowledgeCodec: bank.codec,
    includeProfiles: true,
    entitiesPerShard: options.entitiesPerShard,
    itemVectorCodec: options.itemVectorCodec,
    createdAt: "2026-01-01T00:00:00Z",
  });
  return { data, bank, model, built };
}

/** Ids of a bank field's entities with at least one present chunk. */
function withKnowledge(field: KnowledgeBankField): Set<string> {
  const K = field.chunks;
  return new Set(field.ids.filter((_, i) => field.mask.subarray(i * K, (i + 1) * K).some((m) => m > 0)));
}

/** Removes an item from its item-vector shard in the bundle, so the worker must read its raw knowledge instead. */
function dropItemVector(built: ServingBundle, itemId: string): void {
  const { manifest } = built;
  const ivKey = kvKeys.itemVectorShard(manifest.modelId, shardOf(itemId, manifest.itemVectors!.shards));
  const ivEntry = built.bundle.entries.find((e) => e.key === ivKey);
  if (!ivEntry) throw new Error(`no iv shard ${ivKey} in the bundle`);
  const shard = decodeShard(valueBytes(ivEntry.value));
  const kept = shard.ids.filter((id) => id !== itemId);
  ivEntry.value = encodeShard({
    codec: shard.codec,
    chunks: shard.chunks,
    dim: shard.dim,
    entities: kept.map((id) => ({ id, ...shard.get(id)! })),
  });
}

/**
 * What the worker should report for a request, read back from the published shards (not assumed): a user is
 * "present" when the user knowledge shards hold it (possibly with every chunk masked), an item is precomputed when
 * its iv shard holds it, a fallback when only the raw item knowledge shards do, else missing (scored fully masked).
 */
function expectedKnowledge(built: ServingBundle): (r: ScoreRequestInput) => RealModelCase["knowledge"] {
  const { manifest } = built;
  const shardIds = (prefix: string) =>
    new Set(built.bundle.entries.filter((e) => e.key.startsWith(prefix)).flatMap((e) => decodeShard(valueBytes(e.value)).ids));
  const ivIds = shardIds(`iv/${manifest.modelId}/`);
  const itemKnowIds = shardIds(`kn/${manifest.knowledge!.bankId}/item/`);
  const userKnowIds = shardIds(`kn/${manifest.knowledge!.bankId}/user/`);
  return (r) => {
    const precomputed = r.candidates.filter((id) => ivIds.has(id)).length;
    const fallback = r.candidates.filter((id) => !ivIds.has(id) && itemKnowIds.has(id)).length;
    return {
      user: userKnowIds.has(r.userId) ? "present" : "missing",
      itemsPrecomputed: precomputed,
      itemsFallback: fallback,
      itemsMissing: r.candidates.length - precomputed - fallback,
    };
  };
}

/** The fixture's KV entries as base64, with a rollout sending all traffic to the model. */
function fixtureEntries(built: ServingBundle): RealModelFixture["bundle"] {
  const entries = built.bundle.entries.map((e) => ({ key: e.key, base64: toBase64(valueBytes(e.value)) }));
  const rollout = rolloutConfigFromWeights({
    salt: "real-model",
    variants: [{ name: "kser", modelId: built.manifest.modelId, weight: 10_000 }],
    fallback: "kser",
    updatedAt: "2026-01-01T00:00:00.000Z",
  });
  entries.push({ key: kvKeys.rolloutConfig(), base64: Buffer.from(JSON.stringify(rollout)).toString("base64") });
  return entries;
}

/** The workerd parity test's fixture: a small model, requests covering every knowledge path, tfjs scores. */
export async function buildRealModelFixture(): Promise<RealModelFixture> {
  const started = performance.now();
  const { data, bank, model, built } = await trainEdgeModel({
    users: 80,
    items: 120,
    interactionsPerUser: 30,
    chunks: 4,
    knowledgeDim: 16,
    embeddingDim: 8,
    epochs: 2,
    // The default f16 item vectors, as deployed: worker scores must still equal tfjs's exact-vector scores within 1e-4.
  });
  const { manifest } = built;
  if (!manifest.itemVectors || !manifest.knowledge) throw new Error("the KSER bundle has no item vectors or knowledge");
  const userKnows = withKnowledge(bank.user);
  const itemKnows = withKnowledge(bank.item);
  const vocabItems = data.vocabulary.fields.item_id.slice(1);
  const known = vocabItems.filter((id) => itemKnows.has(id));
  const unknown = vocabItems.filter((id) => !itemKnows.has(id));
  if (known.length < 12 || unknown.length < 1) throw new Error("the synthetic bank lacks items with and without knowledge");
  const fallbackItem = known[0];
  dropItemVector(built, fallbackItem);

  const knownUser = data.profiles.find((p) => userKnows.has(p.userId) && p.history.length > 0);
  const bareUser = data.profiles.find((p) => !userKnows.has(p.userId));
  if (!knownUser || !bareUser) throw new Error("the synthetic bank lacks users with and without knowledge");
  const candidates = [...known.slice(0, 10), unknown[0], "item-not-in-vocabulary"];
  const requests: { name: string; request: ScoreRequestInput }[] = [
    { name: "user with knowledge: precomputed, raw-knowledge fallback and masked items", request: { ...knownUser, candidates } },
    { name: "known user whose knowledge is all masked", request: { ...bareUser, candidates } },
    {
      name: "unknown user (no knowledge entry, masked), explicit attributes and history",
      request: {
        userId: "user-never-seen",
        attributes: {},
        history: knownUser.history.slice(0, 3),
        candidates: [fallbackItem, ...known.slice(1, 4), "item-not-in-vocabulary"],
      },
    },
  ];
  const knowledgeOf = expectedKnowledge(built);
  const cases = [];
  for (const r of requests) {
    const expected = await predictTf(model, requestBatch(model, bank, r.request));
    cases.push({ ...r, knowledge: knowledgeOf(r.request), expected: Array.from(expected) });
  }
  return {
    modelId: manifest.modelId,
    fallbackItem,
    bundle: fixtureEntries(built),
    cases,
    buildMs: Math.round(performance.now() - started),
  };
}

const out = process.argv[2];
if (out && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const fixture = await buildRealModelFixture();
  await writeFile(out, JSON.stringify(fixture));
}
