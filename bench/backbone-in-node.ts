/**
 * The edge benchmark's reference side: the backbone graph the worker serves, run in onnxruntime-node (native code,
 * one thread) and in ORT-web's wasm under plain Node, with the feeds the worker builds for the same request. Also
 * how much dense-layer work a candidate adds, read from the graph, so the bench can say how fast each side runs it.
 */
import onnxProto from "onnx-proto";
import * as ortNode from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import { itemFeatureWidth, userFeatureWidth } from "../shared/feature-encoding.ts";
import type { UserProfile } from "../shared/user-profile.ts";
import type { KnowledgeBank } from "../trainer/data/types.ts";
import { requestBatch } from "../trainer/export/request-batch.ts";
import type { ServingBundle } from "../trainer/export/serving-bundle.ts";
import type { TrainedModel } from "../trainer/train/model.ts";

const { onnx } = onnxProto;

export interface BackboneInNode {
  /** onnxruntime-node, one thread, the worker's optimization level ("disabled"): median ms of 200 runs. */
  nodeMs: number;
  /** The same at level "all", for reference. */
  nodeLevelAllMs: number;
  /** ORT-web's wasm under Node (the build the worker runs), after 400 warm-up runs so V8 has tiered it up. */
  webInNodeMs: number;
  /** The backbone inputs given once with batch 1 (the manifest's requestInputs), as the worker does. */
  requestInputs: string[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];

/**
 * Median ms of 200 runs of each of `runners`, taken in turn (one run of each per round, so that a slow phase of the
 * machine falls on all of them alike), after `warmUp` unmeasured rounds.
 */
async function medianRunMsEach(runners: (() => Promise<unknown>)[], warmUp: number): Promise<number[]> {
  for (let i = 0; i < warmUp; i++) for (const runOnce of runners) await runOnce();
  const runs = runners.map(() => [] as number[]);
  for (let i = 0; i < 200; i++) {
    for (const [j, runOnce] of runners.entries()) {
      const t0 = performance.now();
      await runOnce();
      runs[j].push(performance.now() - t0);
    }
  }
  return runs.map(median);
}

type Feeds = Record<string, ortNode.Tensor>;

const SESSION_OPTIONS = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: "sequential" as const,
  // The worker's level (worker/src/ort-runtime.ts), so both sides run the same graph the same way.
  graphOptimizationLevel: "disabled" as const,
};

/** The backbone's feeds for one request, as the worker builds them (extractor outputs computed here). */
async function backboneFeeds(
  model: TrainedModel,
  bank: KnowledgeBank,
  built: ServingBundle,
  profile: UserProfile,
  candidates: string[],
  backboneInputs: readonly string[],
): Promise<Feeds> {
  const batch = requestBatch(model, bank, { ...profile, candidates });
  const n = batch.count;
  const spec = model.spec;
  const Fi = itemFeatureWidth(spec);
  const Fu = userFeatureWidth(spec);
  const L = spec.historyLength;
  const feeds: Feeds = {
    item_feats: new ortNode.Tensor("int32", batch.itemFeats.slice(0, n * Fi), [n, Fi]),
    user_feats: new ortNode.Tensor("int32", batch.userFeats.slice(0, n * Fu), [n, Fu]),
    hist_feats: new ortNode.Tensor("int32", batch.histFeats.slice(0, n * L * Fi), [n, L, Fi]),
    hist_ratings: new ortNode.Tensor("int32", batch.histRatings.slice(0, n * L), [n, L]),
    hist_mask: new ortNode.Tensor("float32", batch.histMask.slice(0, n * L), [n, L]),
  };
  if (built.graphs.userExtractor && built.graphs.itemExtractor && model.config.knowledge) {
    const k = model.config.knowledge;
    const user = await ortNode.InferenceSession.create(built.graphs.userExtractor.bytes, SESSION_OPTIONS);
    const item = await ortNode.InferenceSession.create(built.graphs.itemExtractor.bytes, SESSION_OPTIONS);
    const all: Feeds = {
      ...feeds,
      user_chunks: new ortNode.Tensor("float32", batch.userChunks!.slice(0, n * k.user.chunks * k.user.dim), [
        n,
        k.user.chunks,
        k.user.dim,
      ]),
      user_chunk_mask: new ortNode.Tensor("float32", batch.userChunkMask!.slice(0, n * k.user.chunks), [n, k.user.chunks]),
      item_chunks: new ortNode.Tensor("float32", batch.itemChunks!.slice(0, n * k.item.chunks * k.item.dim), [
        n,
        k.item.chunks,
        k.item.dim,
      ]),
      item_chunk_mask: new ortNode.Tensor("float32", batch.itemChunkMask!.slice(0, n * k.item.chunks), [n, k.item.chunks]),
    };
    const pick = (s: ortNode.InferenceSession) => Object.fromEntries(s.inputNames.map((name) => [name, all[name]]));
    feeds.user_know = (await user.run(pick(user))).user_know;
    feeds.item_know = (await item.run(pick(item))).item_know;
    await Promise.all([user.release(), item.release()]);
  }
  // Like the worker: inputs the manifest lists as requestInputs go in once (batch 1), the rest per candidate.
  const requestInputs = built.manifest.graphs.backbone.requestInputs ?? [];
  const firstRow = (t: ortNode.Tensor) =>
    new ortNode.Tensor(t.type as "float32", (t.data as Float32Array).slice(0, t.size / t.dims[0]), [1, ...t.dims.slice(1)]);
  return Object.fromEntries(backboneInputs.map((name) => [name, requestInputs.includes(name) ? firstRow(feeds[name]) : feeds[name]]));
}

/**
 * Times the served backbone for `profile` and each list of `candidateSets` in onnxruntime-node and in ORT-web's
 * wasm under Node; one result per set, in order.
 */
export async function timeBackboneInNode(
  model: TrainedModel,
  bank: KnowledgeBank,
  built: ServingBundle,
  profile: UserProfile,
  candidateSets: string[][],
): Promise<BackboneInNode[]> {
  const bytes = built.graphs.backbone.bytes;
  const backbone = await ortNode.InferenceSession.create(bytes, SESSION_OPTIONS);
  // onnxruntime-node at its own best level too ("all"), as a reference for what native code can do here.
  const levelAll = await ortNode.InferenceSession.create(bytes, { ...SESSION_OPTIONS, graphOptimizationLevel: "all" });
  // The same wasm build the worker runs, under plain Node (1 thread, the worker's level): separates what wasm costs
  // against native code from what workerd adds.
  ortWeb.env.wasm.numThreads = 1;
  const web = await ortWeb.InferenceSession.create(bytes, { graphOptimizationLevel: "disabled" });
  const feeds: Feeds[] = [];
  for (const candidates of candidateSets) feeds.push(await backboneFeeds(model, bank, built, profile, candidates, backbone.inputNames));
  const webFeeds = feeds.map((f) =>
    Object.fromEntries(
      Object.entries(f).map(([name, t]) => [name, new ortWeb.Tensor(t.type as "float32", t.data as Float32Array, t.dims)]),
    ),
  );
  const nodeMs = await medianRunMsEach(
    feeds.map((f) => () => backbone.run(f)),
    50,
  );
  const nodeLevelAllMs = await medianRunMsEach(
    feeds.map((f) => () => levelAll.run(f)),
    50,
  );
  // Many warm-up rounds: V8 tiers the hot wasm functions up lazily.
  const webInNodeMs = await medianRunMsEach(
    webFeeds.map((f) => () => web.run(f)),
    400,
  );
  await Promise.all([backbone.release(), levelAll.release(), web.release()]);
  const requestInputs = built.manifest.graphs.backbone.requestInputs ?? [];
  return candidateSets.map((_, i) => ({
    nodeMs: nodeMs[i],
    nodeLevelAllMs: nodeLevelAllMs[i],
    webInNodeMs: webInNodeMs[i],
    requestInputs,
  }));
}

/**
 * Multiply-adds per candidate in the graph's dense layers: K x N of every Gemm's weight initializer. The exporter
 * emits a per-row dense layer as Gemm (trainer/ops/onnx-ops.ts); the per-request part of a split first layer is a
 * MatMul with batch 1 and is left out, as it does not grow with the candidates.
 */
export function denseMacsPerCandidate(graphBytes: Uint8Array): number {
  const graph = onnx.ModelProto.decode(graphBytes).graph;
  if (!graph) throw new Error("the backbone bytes hold no graph");
  const dims = new Map((graph.initializer ?? []).map((t) => [t.name ?? "", (t.dims ?? []).map(Number)]));
  let macs = 0;
  for (const node of graph.node ?? []) {
    if (node.opType !== "Gemm") continue;
    const w = dims.get(node.input?.[1] ?? "");
    if (w?.length !== 2) throw new Error(`Gemm ${node.name ?? node.output?.[0]} has no 2-D weight initializer`);
    macs += w[0] * w[1];
  }
  return macs;
}
