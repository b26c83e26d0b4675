/**
 * Turns a trained model into the KV bundle the worker serves from: content-addressed ONNX graphs and vocabulary,
 * the manifest, precomputed item-side vectors of this extractor version, raw (compressed) knowledge shards for the
 * fallback path and the user extractor, user profiles, and optionally the rollout pointer (written last).
 *
 * Nothing a live model reads is overwritten by a later publish: blobs are content-addressed, knowledge shards sit
 * under the bank's content hash, item vectors under the model id, and profiles under a profile set named by the
 * content hash of all of them, which the manifest names. The model id covers the profile set too, so republishing
 * the same weights with newer profiles is a new model/<id>, not a change to the live one.
 */

import { createHash } from "node:crypto";
import { kvKeys, shardOf } from "../../shared/kv-keys.ts";
import { type FeatureSpec, type GraphRef, MANIFEST_SCHEMA, type ModelManifest, parseManifest } from "../../shared/manifest.ts";
import { parseRolloutConfig, type RolloutConfig } from "../../shared/rollout.ts";
import type { UserProfile } from "../../shared/user-profile.ts";
import { encodeShard, type VectorCodec } from "../../shared/vector-codec.ts";
import type { KnowledgeBank, KnowledgeBankField, PreparedDataset } from "../data/types.ts";
import type { ModelConfig } from "../models/config.ts";
import { blobEntry, jsonEntry, type KvBundle, type KvEntry, sha256Hex } from "../publish/kv-bundle.ts";
import type { TrainedModel } from "../train/model.ts";
import { computeItemVectors, type ExportedGraph, exportOnnx } from "./onnx-export.ts";

export interface ServingBundleOptions {
  model: TrainedModel;
  data: PreparedDataset;
  /** The bank the model trained on (already quantised like `knowledgeCodec`); null for a model without knowledge. */
  bank: KnowledgeBank | null;
  /** Codec of the raw knowledge shards; training must have seen the same numbers (quantizeLikeCodec). */
  knowledgeCodec?: VectorCodec;
  /**
   * Codec of the precomputed item vectors. f16 (default) halves the bytes a request reads from KV; scores move by
   * < 1e-3 (test/node/item-vectors-f16.test.ts). f32 keeps worker scores equal to the trainer's (< 1e-4).
   */
  itemVectorCodec?: VectorCodec;
  /** Entities per shard, aimed at: small shards keep the bytes read per candidate low. */
  entitiesPerShard?: number;
  /** Also publish user profiles (attributes + latest history). */
  includeProfiles?: boolean;
  /** Written as the rollout pointer, last. */
  rollout?: RolloutConfig;
  metrics?: Record<string, number>;
  /** How the model was trained (recorded in the manifest). */
  strategy?: "all-params" | "extractor-only";
  createdAt?: string;
}

export interface ServingBundle {
  bundle: KvBundle;
  manifest: ModelManifest;
  graphs: { backbone: ExportedGraph; userExtractor: ExportedGraph | null; itemExtractor: ExportedGraph | null };
}

function graphRef(graph: ExportedGraph): GraphRef {
  const ref: GraphRef = { blob: sha256Hex(graph.bytes), bytes: graph.bytes.length, inputs: graph.inputs, outputs: graph.outputs };
  if (graph.requestInputs?.length) ref.requestInputs = graph.requestInputs;
  return ref;
}

/** The id of a profile set: a hash of every profile in it, so equal profiles share keys and different ones never do. */
export function profileSetId(profiles: readonly UserProfile[]): string {
  return `p${sha256Hex(profiles.map((p) => JSON.stringify(p)).join("\n")).slice(0, 16)}`;
}

function shardCount(entities: number, perShard: number): number {
  return Math.max(1, Math.ceil(entities / perShard));
}

/** Groups entities into shards with the same placement function the worker uses to find them. */
function shardEntries(
  keyOf: (shard: number) => string,
  shards: number,
  codec: VectorCodec,
  chunks: number,
  dim: number,
  entities: Iterable<{ id: string; values: Float32Array; mask: Float32Array }>,
): KvEntry[] {
  const groups: { id: string; values: Float32Array; mask: Float32Array }[][] = Array.from({ length: shards }, () => []);
  for (const e of entities) groups[shardOf(e.id, shards)].push(e);
  return groups.map((entities, shard) => ({
    key: keyOf(shard),
    value: encodeShard({ codec, chunks, dim, entities }),
    stage: "data" as const,
  }));
}

function* bankEntities(field: KnowledgeBankField) {
  const { chunks: K, dim: d } = field;
  for (let i = 0; i < field.ids.length; i++) {
    yield {
      id: field.ids[i],
      values: field.values.subarray(i * K * d, (i + 1) * K * d),
      mask: field.mask.subarray(i * K, (i + 1) * K),
    };
  }
}

interface IdInputs {
  graphs: ModelManifest["graphs"];
  vocabularyBytes: Uint8Array;
  /** The user profile set the model reads (absent: published without profiles). */
  profileSet?: string;
  spec: FeatureSpec;
  knowledge: ModelManifest["knowledge"];
  itemVectors: ModelManifest["itemVectors"];
  vectors: Map<string, Float32Array> | null;
  itemVectorCodec: VectorCodec;
}

/**
 * The id covers everything the served model depends on: the exact graphs and the vocabulary (which fix the fields,
 * sizes and history length), the profile set it reads, the parts of the feature spec they do not show (the rating
 * step, bag separators), and
 * for a knowledge model the bank (its id, codec and sharding) and the precomputed item vectors. A model retrained with
 * other weights, with other profiles or with another bank, is another version.
 */
function modelIdOf(cfg: ModelConfig, inputs: IdInputs): string {
  const { graphs, spec } = inputs;
  const parts: (string | undefined)[] = [
    graphs.backbone.blob,
    graphs.userExtractor?.blob,
    graphs.itemExtractor?.blob,
    sha256Hex(inputs.vocabularyBytes),
  ];
  if (inputs.profileSet) parts.push(`profiles:${inputs.profileSet}`);
  const bags = [...spec.itemFields, ...spec.userFields].filter((f) => f.bag).map((f) => [f.name, f.bag!.separator]);
  if (spec.ratingStep !== undefined || bags.length > 0) parts.push(`spec:${JSON.stringify({ ratingStep: spec.ratingStep, bags })}`);
  if (inputs.knowledge) {
    const vectors = createHash("sha256").update(inputs.itemVectorCodec);
    for (const [id, values] of inputs.vectors ?? [])
      vectors
        .update(id)
        .update("\u0000")
        .update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    parts.push(
      `knowledge:${JSON.stringify(inputs.knowledge)}`,
      `itemVectors:${JSON.stringify(inputs.itemVectors)}:${vectors.digest("hex")}`,
    );
  }
  return `${cfg.backbone}-${cfg.extractor}-${sha256Hex(parts.join(":")).slice(0, 12)}`;
}

type ItemVectors = Map<string, Float32Array>;

/** The manifest's knowledge and item-vector sections: their shapes, codecs and shard counts (null without knowledge). */
function knowledgeSections(
  bank: KnowledgeBank | null,
  vectors: ItemVectors | null,
  embeddingDim: number,
  codec: VectorCodec,
  perShard: number,
) {
  if (!bank || !vectors) return { knowledge: null, itemVectors: null };
  const side = (field: KnowledgeBankField) => ({
    chunks: field.chunks,
    dim: field.dim,
    codec,
    shards: shardCount(field.ids.length, perShard),
  });
  const knowledge: NonNullable<ModelManifest["knowledge"]> = { bankId: bank.bankId, user: side(bank.user), item: side(bank.item) };
  const itemVectors: NonNullable<ModelManifest["itemVectors"]> = {
    shards: shardCount(vectors.size, perShard),
    dim: embeddingDim,
    count: vectors.size,
  };
  return { knowledge, itemVectors };
}

/** The knowledge shards of both fields and the model's precomputed item-vector shards. */
function knowledgeEntries(
  modelId: string,
  bank: KnowledgeBank,
  vectors: ItemVectors,
  sections: { knowledge: NonNullable<ModelManifest["knowledge"]>; itemVectors: NonNullable<ModelManifest["itemVectors"]> },
  codecs: { knowledge: VectorCodec; itemVectors: VectorCodec },
): KvEntry[] {
  const entries: KvEntry[] = [];
  for (const side of ["user", "item"] as const) {
    const field = bank[side];
    const keyOf = (s: number) => kvKeys.knowledgeShard(bank.bankId, side, s);
    entries.push(...shardEntries(keyOf, sections.knowledge[side].shards, codecs.knowledge, field.chunks, field.dim, bankEntities(field)));
  }
  const one = new Float32Array([1]);
  entries.push(
    ...shardEntries(
      (s) => kvKeys.itemVectorShard(modelId, s),
      sections.itemVectors.shards,
      codecs.itemVectors,
      1,
      sections.itemVectors.dim,
      [...vectors].map(([id, values]) => ({ id, values, mask: one })),
    ),
  );
  return entries;
}

export function buildServingBundle(options: ServingBundleOptions): ServingBundle {
  const { model, data, bank } = options;
  const cfg = model.config;
  const knowledgeCodec = options.knowledgeCodec ?? "i8";
  const itemVectorCodec = options.itemVectorCodec ?? "f16";
  const graphs = exportOnnx(model);
  const vocabularyBytes = new TextEncoder().encode(JSON.stringify(model.vocabulary));
  const entries: KvEntry[] = [blobEntry(vocabularyBytes), blobEntry(graphs.backbone.bytes)];
  if (graphs.userExtractor) entries.push(blobEntry(graphs.userExtractor.bytes));
  if (graphs.itemExtractor) entries.push(blobEntry(graphs.itemExtractor.bytes));

  const graphRefs = {
    backbone: graphRef(graphs.backbone),
    userExtractor: graphs.userExtractor ? graphRef(graphs.userExtractor) : null,
    itemExtractor: graphs.itemExtractor ? graphRef(graphs.itemExtractor) : null,
  };
  const profiles = options.includeProfiles ? { set: profileSetId(data.profiles), count: data.profiles.length } : null;
  const vectors = cfg.knowledge && bank ? computeItemVectors(model, bank) : null;
  const { knowledge, itemVectors } = knowledgeSections(bank, vectors, cfg.embeddingDim, knowledgeCodec, options.entitiesPerShard ?? 32);
  const modelId = modelIdOf(cfg, {
    graphs: graphRefs,
    vocabularyBytes,
    profileSet: profiles?.set,
    spec: model.spec,
    knowledge,
    itemVectors,
    vectors,
    itemVectorCodec,
  });
  if (knowledge && itemVectors && bank && vectors)
    entries.push(
      ...knowledgeEntries(modelId, bank, vectors, { knowledge, itemVectors }, { knowledge: knowledgeCodec, itemVectors: itemVectorCodec }),
    );

  const manifest = parseManifest({
    schema: MANIFEST_SCHEMA,
    modelId,
    createdAt: options.createdAt ?? new Date().toISOString(),
    backbone: cfg.backbone,
    extractor: cfg.extractor,
    strategy: options.strategy ?? "all-params",
    embeddingDim: cfg.embeddingDim,
    features: model.spec,
    knowledge,
    graphs: graphRefs,
    vocabulary: { blob: sha256Hex(vocabularyBytes), bytes: vocabularyBytes.length },
    profiles,
    itemVectors,
    metrics: options.metrics ?? {
      validAuc: model.metrics.valid.auc,
      validLogloss: model.metrics.valid.logloss,
      testAuc: model.metrics.test.auc,
      testLogloss: model.metrics.test.logloss,
      testGauc: model.metrics.test.gauc,
    },
  } satisfies ModelManifest);
  entries.push(jsonEntry(kvKeys.model(modelId), manifest, "manifest"));

  if (profiles) {
    for (const profile of data.profiles) entries.push(jsonEntry(kvKeys.userProfile(profiles.set, profile.userId), profile, "data"));
  }
  if (options.rollout) entries.push(jsonEntry(kvKeys.rolloutConfig(), parseRolloutConfig(options.rollout), "pointer"));
  return { bundle: { entries }, manifest, graphs };
}

/** Merges bundles (several model versions published together); the same key must carry the same bytes. */
export function mergeBundles(...bundles: KvBundle[]): KvBundle {
  const byKey = new Map<string, KvEntry>();
  for (const entry of bundles.flatMap((b) => b.entries)) {
    const seen = byKey.get(entry.key);
    if (seen && sha256Hex(seen.value) !== sha256Hex(entry.value)) throw new Error(`two bundles disagree on the value of ${entry.key}`);
    byKey.set(entry.key, entry);
  }
  return { entries: [...byKey.values()] };
}
