/**
 * The models loaded in this isolate, shared by its requests as finished values. A request that needs a model nobody
 * is loading loads it itself (model-loader.ts). One that finds another request's load in progress polls for the
 * result on its own timer rather than awaiting that request's promise (request-reads.ts says why), and loads the
 * model itself once that load is LOAD_WAIT_MS old. A request holds a lease on the model it scores with, so a flush or
 * an eviction frees a model's ORT sessions only when the last request using it is done.
 */
import type { ModelManifest } from "../../shared/manifest.ts";
import { ModelLoadError } from "./errors.ts";
import { errorMessage, logRepeated } from "./log.ts";
import { type LoadedModel, loadModel, releaseSessions } from "./model-loader.ts";
import { pause, type RequestReads } from "./request-reads.ts";

/** At most this many models keep sessions in one isolate (a rollout rarely has more than a few variants). */
const MAX_MODELS = 8;

/** A model whose background prefetch failed is not prefetched again for this long (requests still try it). */
const PREFETCH_RETRY_MS = 60_000;

/** How long a request waits for another request's load of the same model before loading it itself. */
export const LOAD_WAIT_MS = 2000;
const POLL_MS = 5;

/** Failed loads remembered for the requests that waited on them (bounded: model ids come from requests too). */
const MAX_FAILURES = 64;

interface Entry {
  model: LoadedModel;
  /** Requests scoring with this model right now. */
  leases: number;
  /** Flushed or evicted: its sessions are freed when leases reaches 0. */
  retired: boolean;
}

export class ModelStore {
  private readonly models = new Map<string, Entry>();
  /** Loads in progress, as plain values: a token naming the load and when it started. */
  private readonly loading = new Map<string, { token: number; since: number }>();
  /** The last failed load per model: its token, and why. */
  private readonly failed = new Map<string, { token: number; error: ModelLoadError }>();
  private readonly prefetchFailedAt = new Map<string, number>();
  private tokens = 0;

  /**
   * Runs `fn` with the model, loading it first when this isolate has not; throws ModelLoadError when it cannot be
   * loaded. `onManifest` is called with the manifest when this request loads the model itself (it must not throw).
   */
  async use<T>(
    kv: KVNamespace,
    modelId: string,
    reads: RequestReads,
    fn: (model: LoadedModel) => Promise<T>,
    onManifest?: (manifest: ModelManifest) => void,
  ): Promise<T> {
    const entry = await this.acquire(kv, modelId, reads, onManifest);
    try {
      return await fn(entry.model);
    } finally {
      entry.leases--;
      if (entry.retired && entry.leases === 0) void releaseSessions(entry.model);
    }
  }

  /**
   * Loads, in the background, the models of `modelIds` this isolate has neither loaded nor is loading (the rollout's
   * other variants), so that the first request served by another variant does not pay for the load. Never rejects:
   * a failure is logged, and that model is not prefetched again for PREFETCH_RETRY_MS.
   */
  prefetch(kv: KVNamespace, modelIds: string[], reads: RequestReads): Promise<void> {
    const now = Date.now();
    const wanted = [...new Set(modelIds)]
      .slice(0, MAX_MODELS)
      .filter((id) => !this.models.has(id) && !this.loading.has(id))
      .filter((id) => !(now - (this.prefetchFailedAt.get(id) ?? Number.NEGATIVE_INFINITY) < PREFETCH_RETRY_MS));
    const one = (id: string) =>
      this.use(kv, id, reads, async () => undefined).then(
        () => {
          this.prefetchFailedAt.delete(id);
        },
        (e) => {
          this.prefetchFailedAt.set(id, Date.now());
          logRepeated("warn", "model_prefetch_failed", `${id}\u0000${errorMessage(e)}`, { modelId: id, reason: errorMessage(e) });
        },
      );
    return Promise.all(wanted.map(one)).then(() => undefined);
  }

  loadedIds(): string[] {
    return [...this.models.keys()];
  }

  /** Load timings of the models in this isolate. */
  loadTimings(): Record<string, LoadedModel["loadTimings"]> {
    return Object.fromEntries([...this.models].map(([id, e]) => [id, e.model.loadTimings]));
  }

  /** Forgets every model (their sessions are freed once no request uses them) and every load in progress. */
  flush(): number {
    const all = [...this.models.values()];
    this.models.clear();
    this.loading.clear();
    this.failed.clear();
    this.prefetchFailedAt.clear();
    for (const entry of all) this.retire(entry);
    return all.length;
  }

  private async acquire(
    kv: KVNamespace,
    modelId: string,
    reads: RequestReads,
    onManifest?: (manifest: ModelManifest) => void,
  ): Promise<Entry> {
    const key = `model:${modelId}`;
    for (let attempt = 0; attempt < 3; attempt++) {
      const cached = this.models.get(modelId);
      if (cached) {
        cached.leases++;
        return cached;
      }
      const other = this.loading.get(modelId);
      if (other && !reads.has(key) && Date.now() - other.since < LOAD_WAIT_MS) {
        await this.waitFor(modelId, other);
        continue;
      }
      const entry = await reads.once(key, () => this.load(kv, modelId, onManifest));
      if (!entry.retired) {
        entry.leases++;
        return entry;
      }
      reads.forget(key); // flushed between its load and this lease: its sessions are gone, load again
    }
    throw new ModelLoadError(modelId, "the model was flushed from the cache again and again while it loaded");
  }

  /** Polls until another request's load ends (or is LOAD_WAIT_MS old); throws that load's error if it failed. */
  private async waitFor(modelId: string, load: { token: number; since: number }): Promise<void> {
    while (this.loading.get(modelId)?.token === load.token && Date.now() - load.since < LOAD_WAIT_MS) await pause(POLL_MS);
    const failure = this.failed.get(modelId);
    if (failure?.token === load.token) throw failure.error;
  }

  private async load(kv: KVNamespace, modelId: string, onManifest?: (manifest: ModelManifest) => void): Promise<Entry> {
    const token = ++this.tokens;
    this.loading.set(modelId, { token, since: Date.now() });
    try {
      return this.install(modelId, await loadModel(kv, modelId, onManifest));
    } catch (e) {
      const error = e instanceof ModelLoadError ? e : new ModelLoadError(modelId, errorMessage(e));
      if (this.loading.get(modelId)?.token === token) {
        if (this.failed.size >= MAX_FAILURES) this.failed.clear();
        this.failed.set(modelId, { token, error });
      }
      throw error;
    } finally {
      if (this.loading.get(modelId)?.token === token) this.loading.delete(modelId);
    }
  }

  /** Keeps a freshly loaded model; when another request's copy got there first, that one is kept and this one freed. */
  private install(modelId: string, model: LoadedModel): Entry {
    const present = this.models.get(modelId);
    if (present) {
      void releaseSessions(model);
      return present;
    }
    const entry: Entry = { model, leases: 0, retired: false };
    this.models.set(modelId, entry);
    this.failed.delete(modelId);
    for (const [id, e] of this.models) {
      if (this.models.size <= MAX_MODELS) break;
      this.models.delete(id);
      this.retire(e);
    }
    return entry;
  }

  private retire(entry: Entry): void {
    entry.retired = true;
    if (entry.leases === 0) void releaseSessions(entry.model);
  }
}
