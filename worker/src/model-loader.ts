/**
 * Loads a published model from KV: manifest, vocabulary and ONNX blobs by content hash, each blob checked against
 * its sha256 and size before use, then one ORT session per graph. model-store.ts keeps loaded models per isolate.
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

/** Frees the model's ORT sessions (wasm memory); the model must not be used afterwards. */
export async function releaseSessions(model: LoadedModel): Promise<void> {
  const graphs = [model.backbone, model.userExtractor, model.itemExtractor].filter((g): g is LoadedGraph => g !== null);
  await Promise.all(graphs.map((g) => g.session.release().catch(() => undefined)));
}

/**
 * Reads, checks and compiles one model; onManifest sees the manifest as soon as it is read, so the caller can start
 * other reads (the request's knowledge shards) while the blobs are read and the sessions created. Throws ModelLoadError.
 */
export async function loadModel(kv: KVNamespace, modelId: string, onManifest?: (m: ModelManifest) => void): Promise<LoadedModel> {
  const started = Date.now();
  const manifest = await readManifest(kv, modelId);
  onManifest?.(manifest);
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
  if (text === null) throw new ModelLoadError(modelId, `manifest ${kvKeys.model(modelId)} is missing from KV`, "missing");
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
