/**
 * Loads a published model from KV: manifest, vocabulary and ONNX blobs by content hash, each blob checked against
 * its sha256 and size before use, then one ORT session per graph. Loaded models are cached per isolate, so a
 * model is fetched and compiled once per isolate, not per request.
 */
import { FeatureEncoder } from "../../shared/feature-encoding.ts";
import { kvKeys } from "../../shared/kv-keys.ts";
import { formatIssues, type GraphRef, type ModelManifest, parseManifest, vocabularyBlobSchema } from "../../shared/manifest.ts";
import { sha256Hex } from "./crypto-util.ts";
import { ModelLoadError } from "./errors.ts";
import { errorMessage, logEvent } from "./log.ts";
import { createSession, type ort } from "./ort-runtime.ts";

/** Inputs the worker knows how to build, per graph; a graph asking for anything else cannot be served. */
const SUPPLIABLE = {
  userExtractor: ["user_chunks", "user_chunk_mask", "user_feats", "hist_feats", "hist_ratings", "hist_mask"],
  itemExtractor: ["item_chunks", "item_chunk_mask", "item_feats"],
  backbone: ["item_feats", "user_feats", "hist_feats", "hist_ratings", "hist_mask", "user_know", "item_know"],
} as const;
const REQUIRED_OUTPUTS = { userExtractor: "user_know", itemExtractor: "item_know", backbone: "score" } as const;
type GraphName = keyof typeof SUPPLIABLE;

export interface LoadedGraph {
  ref: GraphRef;
  session: ort.InferenceSession;
  /** Time ORT took to create the session (Date.now: whole ms, and only advancing locally; see docs/worker.md). */
  sessionMs: number;
}

export interface LoadedModel {
  manifest: ModelManifest;
  encoder: FeatureEncoder;
  backbone: LoadedGraph;
  userExtractor: LoadedGraph | null;
  itemExtractor: LoadedGraph | null;
  loadedAt: string;
  /** How long the load took in all, and in ORT session creation (summed over graphs). */
  loadTimings: { totalMs: number; sessionsMs: number };
  /** User extractor outputs by user id and encoded rows (bounded; dropped with the model). */
  userVectors: BoundedMap<{ vector: Float32Array; status: "present" | "missing" }>;
}

/** A Map that forgets its oldest entries beyond a count (insertion order; re-set moves an entry to the end). */
export class BoundedMap<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }
  get size(): number {
    return this.map.size;
  }
}

/** User vectors kept per loaded model: 4096 x embeddingDim floats (0.5 MB at E = 32) plus keys. */
const USER_VECTOR_CACHE = 4096;

/** At most this many models keep sessions in one isolate (a rollout rarely has more than a few variants). */
const MAX_MODELS = 8;

/** A model whose background prefetch failed is not prefetched again for this long (requests still try it). */
const PREFETCH_RETRY_MS = 60_000;

export class ModelStore {
  private readonly models = new Map<string, Promise<LoadedModel>>();
  /** The manifests of the models whose load is in progress (known before their sessions exist). */
  private readonly manifests = new Map<string, Promise<ModelManifest>>();
  private readonly prefetchFailedAt = new Map<string, number>();

  /** The loaded model, loading it on first use; concurrent callers share one load. Throws ModelLoadError. */
  get(kv: KVNamespace, modelId: string): Promise<LoadedModel> {
    let pending = this.models.get(modelId);
    if (!pending) {
      const manifest = readManifest(kv, modelId);
      manifest.catch(() => undefined); // its failure is the load's failure, reported there
      pending = load(kv, modelId, manifest);
      this.models.set(modelId, pending);
      this.manifests.set(modelId, manifest);
      // A failed load is forgotten so the next request retries (the KV value may have been fixed meanwhile).
      pending.then(
        () => {
          if (this.manifests.get(modelId) === manifest) this.manifests.delete(modelId);
        },
        () => {
          if (this.manifests.get(modelId) === manifest) this.manifests.delete(modelId);
          if (this.models.get(modelId) === pending) this.models.delete(modelId);
        },
      );
      this.evict();
    }
    return pending;
  }

  /**
   * Loads, in the background, the models of `modelIds` this isolate has not loaded yet (the rollout's other
   * variants), so that the first request served by another variant does not pay for the load. Never rejects: a
   * failure is logged, and that model is not prefetched again for PREFETCH_RETRY_MS.
   */
  prefetch(kv: KVNamespace, modelIds: string[]): Promise<void> {
    const now = Date.now();
    const wanted = [...new Set(modelIds)]
      .slice(0, MAX_MODELS)
      .filter((id) => !this.models.has(id) && !(now - (this.prefetchFailedAt.get(id) ?? Number.NEGATIVE_INFINITY) < PREFETCH_RETRY_MS));
    return Promise.all(
      wanted.map((id) =>
        this.get(kv, id).then(
          () => {
            this.prefetchFailedAt.delete(id);
          },
          (e) => {
            this.prefetchFailedAt.set(id, Date.now());
            logEvent("warn", "model_prefetch_failed", { modelId: id, reason: errorMessage(e) });
          },
        ),
      ),
    ).then(() => undefined);
  }

  /**
   * The manifest of a model whose load is in progress, as soon as it is read (undefined once the load has ended,
   * or when there is none): a cold request can start its knowledge reads while the ORT sessions are created.
   */
  loadingManifest(modelId: string): Promise<ModelManifest> | undefined {
    return this.manifests.get(modelId);
  }

  loadedIds(): string[] {
    return [...this.models.keys()];
  }

  /** Load timings of the models in this isolate (waits for loads in progress; failed loads are left out). */
  async loadTimings(): Promise<Record<string, LoadedModel["loadTimings"]>> {
    const settled = await Promise.all(
      [...this.models.entries()].map(([id, p]) => p.then((m) => [id, m.loadTimings] as const).catch(() => null)),
    );
    return Object.fromEntries(settled.filter((x) => x !== null));
  }

  async flush(): Promise<number> {
    const all = [...this.models.values()];
    this.models.clear();
    this.manifests.clear();
    this.prefetchFailedAt.clear();
    await Promise.all(all.map((p) => p.then(release, () => undefined)));
    return all.length;
  }

  private evict(): void {
    for (const [id, pending] of this.models) {
      if (this.models.size <= MAX_MODELS) break;
      this.models.delete(id);
      this.manifests.delete(id);
      pending.then(release, () => undefined);
    }
  }
}

async function release(model: LoadedModel): Promise<void> {
  const graphs = [model.backbone, model.userExtractor, model.itemExtractor].filter((g): g is LoadedGraph => g !== null);
  await Promise.all(graphs.map((g) => g.session.release().catch(() => undefined)));
}

async function load(kv: KVNamespace, modelId: string, manifestRead: Promise<ModelManifest>): Promise<LoadedModel> {
  const started = Date.now();
  const manifest = await manifestRead;
  checkContract(manifest);
  const [vocabBytes, backbone, userExtractor, itemExtractor] = await Promise.all([
    readBlob(kv, modelId, "vocabulary", manifest.vocabulary),
    loadGraph(kv, modelId, "backbone", manifest.graphs.backbone),
    manifest.graphs.userExtractor ? loadGraph(kv, modelId, "userExtractor", manifest.graphs.userExtractor) : null,
    manifest.graphs.itemExtractor ? loadGraph(kv, modelId, "itemExtractor", manifest.graphs.itemExtractor) : null,
  ]);
  let encoder: FeatureEncoder;
  try {
    const parsed = vocabularyBlobSchema.safeParse(JSON.parse(new TextDecoder().decode(vocabBytes)));
    if (!parsed.success) throw new Error(formatIssues(parsed.error.issues));
    encoder = new FeatureEncoder(manifest.features, parsed.data);
  } catch (e) {
    throw new ModelLoadError(modelId, `vocabulary blob is invalid: ${errorMessage(e)}`);
  }
  const totalMs = Date.now() - started;
  const sessionsMs = [backbone, userExtractor, itemExtractor].reduce((sum, g) => sum + (g?.sessionMs ?? 0), 0);
  logEvent("info", "model_loaded", { modelId, ms: totalMs, sessionsMs });
  return {
    loadTimings: { totalMs, sessionsMs },
    manifest,
    encoder,
    backbone,
    userExtractor,
    itemExtractor,
    loadedAt: new Date().toISOString(),
    userVectors: new BoundedMap(USER_VECTOR_CACHE),
  };
}

async function readManifest(kv: KVNamespace, modelId: string): Promise<ModelManifest> {
  const text = await kv.get(kvKeys.model(modelId), "text");
  if (text === null) throw new ModelLoadError(modelId, `manifest ${kvKeys.model(modelId)} is missing from KV`);
  let manifest: ModelManifest;
  try {
    manifest = parseManifest(JSON.parse(text));
  } catch (e) {
    throw new ModelLoadError(modelId, `manifest is corrupt: ${errorMessage(e)}`);
  }
  if (manifest.modelId !== modelId) throw new ModelLoadError(modelId, `manifest names model ${manifest.modelId}`);
  return manifest;
}

/** Checks that the manifest asks only for inputs this worker can build, before any blob is fetched. */
function checkContract(m: ModelManifest): void {
  const fail = (reason: string) => {
    throw new ModelLoadError(m.modelId, reason);
  };
  for (const name of ["backbone", "userExtractor", "itemExtractor"] as const) {
    const ref = m.graphs[name];
    if (!ref) continue;
    const unknown = ref.inputs.filter((i) => !(SUPPLIABLE[name] as readonly string[]).includes(i));
    if (unknown.length) fail(`graph ${name} needs inputs the worker cannot supply: ${unknown.join(", ")}`);
    if (!ref.outputs.includes(REQUIRED_OUTPUTS[name])) fail(`graph ${name} does not list output ${REQUIRED_OUTPUTS[name]}`);
    if (name !== "backbone" && !m.knowledge) fail(`graph ${name} is present but the manifest has no knowledge bank`);
  }
  const inputs = m.graphs.backbone.inputs;
  if (inputs.includes("user_know") && !m.graphs.userExtractor) fail("backbone needs user_know but there is no user extractor");
  if (inputs.includes("item_know") && !m.graphs.itemExtractor && !m.itemVectors) {
    fail("backbone needs item_know but there is neither an item extractor nor precomputed item vectors");
  }
  if (m.itemVectors && m.itemVectors.dim !== m.embeddingDim)
    fail(`item vectors have dim ${m.itemVectors.dim}, embeddingDim is ${m.embeddingDim}`);
}

async function readBlob(kv: KVNamespace, modelId: string, what: string, ref: { blob: string; bytes: number }): Promise<Uint8Array> {
  const buffer = await kv.get(kvKeys.blob(ref.blob), "arrayBuffer");
  if (buffer === null) throw new ModelLoadError(modelId, `${what} blob ${ref.blob} is missing from KV`);
  if (buffer.byteLength !== ref.bytes)
    throw new ModelLoadError(modelId, `${what} blob is ${buffer.byteLength} bytes, manifest says ${ref.bytes}`);
  const actual = await sha256Hex(buffer);
  if (actual !== ref.blob) throw new ModelLoadError(modelId, `${what} blob fails its sha256 check (got ${actual})`);
  return new Uint8Array(buffer);
}

async function loadGraph(kv: KVNamespace, modelId: string, name: GraphName, ref: GraphRef): Promise<LoadedGraph> {
  const bytes = await readBlob(kv, modelId, name, ref);
  let session: ort.InferenceSession;
  const started = Date.now();
  try {
    session = await createSession(bytes);
  } catch (e) {
    throw new ModelLoadError(modelId, `ORT could not load graph ${name}: ${errorMessage(e)}`);
  }
  const missing = ref.inputs.filter((i) => !session.inputNames.includes(i));
  const extra = session.inputNames.filter((i) => !ref.inputs.includes(i));
  if (missing.length || extra.length) {
    await session.release().catch(() => undefined);
    throw new ModelLoadError(
      modelId,
      `graph ${name} inputs differ from the manifest (missing: ${missing.join(",") || "-"}; unlisted: ${extra.join(",") || "-"})`,
    );
  }
  return { ref, session, sessionMs: Date.now() - started };
}
