/**
 * Edge benchmark: a demo-sized DeepFM + KSER model (trained here, 1 epoch) published into a temporary local KV state,
 * served by `wrangler dev` (real workerd, ORT-web, KV simulator) on 127.0.0.1, measured from the client over HTTP
 * (one kept-alive node:http connection: keep-alive-client.ts).
 * Prints progress lines, then as its LAST line one JSON object. How to read it: docs/worker.md ("Edge benchmark").
 *
 *   npm run bench:edge [-- --requests 200 --seconds 60 --entities-per-shard 32 --embedding-dim 32]
 *
 * Measured: latency percentiles for 1 / 100 / 1000 candidates (warm), the first score request after a fresh start,
 * the backbone alone in workerd (admin bench route, timed from the client: two repeat counts, difference divided)
 * and in onnxruntime-node for the same graph and feeds, the upload size from `wrangler deploy --dry-run`, and KV
 * reads per request / knowledge bytes per candidate from the worker's own counters (x-kser-kv-reads, admin only).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import * as ortNode from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import { kvKeys } from "../shared/kv-keys.ts";
import { ROLLOUT_SCHEMA } from "../shared/rollout.ts";
import { requestBatch } from "../trainer/export/request-batch.ts";
import { mergeBundles } from "../trainer/export/serving-bundle.ts";
import { publishBundle } from "../trainer/publish/publish.ts";
import { openLocalTarget } from "../trainer/publish/targets/local.ts";
import { type RunningWorker, startWranglerDev } from "../trainer/serve/wrangler-dev.ts";
import { trainEdgeModel } from "./edge-model.ts";
import { type KeepAliveClient, keepAliveClient, type TimedResponse } from "./keep-alive-client.ts";

const { values: args } = parseArgs({
  options: {
    requests: { type: "string", default: "200" },
    seconds: { type: "string", default: "60" },
    "entities-per-shard": { type: "string", default: "32" },
    "embedding-dim": { type: "string", default: "32" },
    restarts: { type: "string", default: "2" },
  },
});
const REQUESTS = Number(args.requests);
const SECONDS_PER_SIZE = Number(args.seconds);
const SIZES = [1, 100, 1000];
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ADMIN_TOKEN = randomBytes(16).toString("hex");
const log = (line: string) => process.stderr.write(`[bench:edge] ${line}\n`);

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

function run(cmd: string, argv: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      argv,
      {
        cwd: ROOT,
        timeout: timeoutMs,
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" },
      },
      (err, stdout, stderr) => resolve({ stdout, stderr, code: err ? ((err as { code?: number }).code ?? 1) : 0 }),
    );
  });
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

/** `wrangler deploy --dry-run --outdir`: wrangler's own "Total Upload" line, and the files it wrote, raw and gzip. */
async function uploadSize(outdir: string) {
  const wrangler = join(ROOT, "node_modules/wrangler/bin/wrangler.js");
  const res = await run(process.execPath, [wrangler, "deploy", "--dry-run", "--outdir", outdir], 180_000);
  const text = `${res.stdout}\n${res.stderr}`;
  const m = /Total Upload:\s*([\d.]+)\s*KiB\s*\/\s*gzip:\s*([\d.]+)\s*KiB/.exec(text);
  let rawBytes = 0;
  let gzipBytes = 0;
  const files: Record<string, number> = {};
  if (res.code === 0) {
    for (const file of await filesUnder(outdir)) {
      if (file.endsWith(".map")) continue;
      const bytes = await readFile(file);
      rawBytes += bytes.length;
      gzipBytes += gzipSync(bytes).length;
      files[file.slice(outdir.length + 1)] = bytes.length;
    }
  }
  return {
    ok: res.code === 0,
    error: res.code === 0 ? undefined : text.trim().split("\n").slice(-5).join(" | "),
    wranglerTotalKiB: m ? Number(m[1]) : null,
    wranglerGzipKiB: m ? Number(m[2]) : null,
    rawMB: round(rawBytes / 1e6, 3),
    gzipMB: round(gzipBytes / 1e6, 3),
    files,
  };
}

interface ScoreBody {
  userId: string;
  candidates: string[];
}

const clients = new Map<string, KeepAliveClient>();
/** The kept-alive connection to url's origin (keep-alive-client.ts). */
function keepAliveFor(url: string): KeepAliveClient {
  const { origin } = new URL(url);
  let client = clients.get(origin);
  if (!client) {
    client = keepAliveClient(origin);
    clients.set(origin, client);
  }
  return client;
}
function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<TimedResponse> {
  return keepAliveFor(url).request("POST", new URL(url).pathname, body, headers);
}
const header = (r: TimedResponse, name: string) => {
  const v = r.headers[name];
  return Array.isArray(v) ? v.join(", ") : v;
};
/** The worker's stages from a Server-Timing header (`x-kser-debug: timing`): {stage: ms}. */
function serverTiming(r: TimedResponse): Record<string, number> {
  const stages: Record<string, number> = {};
  for (const entry of (header(r, "server-timing") ?? "").split(",")) {
    const m = /^\s*([\w-]+);dur=([\d.]+)/.exec(entry);
    if (m) stages[m[1]] = Number(m[2]);
  }
  return stages;
}

async function main() {
  const started = performance.now();
  const tmp = await mkdtemp(join(tmpdir(), "kser-bench-edge-"));
  const persistTo = join(tmp, "kv-state");
  let worker: RunningWorker | undefined;
  const pids: number[] = [];
  try {
    // 1. A demo-sized model (the demo's data sizes: 600 users, 800 items, 6 chunks of 32 dims), 1 epoch.
    let t = performance.now();
    const entitiesPerShard = Number(args["entities-per-shard"]);
    const { data, bank, model, built } = await trainEdgeModel({
      epochs: 1,
      embeddingDim: Number(args["embedding-dim"]),
      entitiesPerShard,
      backend: "auto",
    });
    const { manifest } = built;
    const graphBytes =
      built.graphs.backbone.bytes.length +
      (built.graphs.userExtractor?.bytes.length ?? 0) +
      (built.graphs.itemExtractor?.bytes.length ?? 0);
    log(
      `trained ${manifest.modelId}: ${data.userIds.length} users, ${bank.item.ids.length} items, graphs ${graphBytes} bytes (${round((performance.now() - t) / 1000, 1)} s)`,
    );

    // 2. Publish into a fresh local state with a single-variant rollout.
    t = performance.now();
    const rollout = {
      schema: ROLLOUT_SCHEMA,
      salt: "bench-edge",
      variants: [{ name: "kser", modelId: manifest.modelId, weight: 10_000 }],
      fallback: "kser",
      updatedAt: new Date().toISOString(),
    };
    const bundle = mergeBundles(built.bundle, {
      entries: [{ key: kvKeys.rolloutConfig(), value: JSON.stringify(rollout), stage: "pointer" }],
    });
    const target = await openLocalTarget({ configPath: join(ROOT, "wrangler.toml"), persistTo });
    try {
      await publishBundle(bundle, target, { verify: false });
    } finally {
      await target.close();
    }
    log(`published ${bundle.entries.length} KV entries (${round((performance.now() - t) / 1000, 1)} s)`);

    // Requests: users with stored profiles, candidates drawn from the item vocabulary (deterministic).
    const items = data.vocabulary.fields.item_id.slice(1);
    const users = data.profiles.map((p) => p.userId);
    let state = 12345;
    const rand = () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return state / 2 ** 32;
    };
    const request = (n: number, i: number): ScoreBody => ({
      userId: users[i % users.length],
      candidates: Array.from({ length: n }, () => items[Math.floor(rand() * items.length)]),
    });
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const start = async () => {
      const w = await startWranglerDev({
        projectRoot: ROOT,
        persistTo,
        vars: { ADMIN_TOKEN },
        readyTimeoutMs: 90_000,
      });
      pids.push(w.pid);
      return w;
    };

    // 3. First score request after a fresh start (new wrangler dev, new isolate; /v1/health answered already,
    //    so ORT's top-level warm-up has run; this request loads the model from KV and reads its shards).
    const firstRequestMs: number[] = [];
    const firstRequestStages: Record<string, number>[] = [];
    const modelLoadMs: { totalMs: number; sessionsMs: number }[] = [];
    const secondRequestMs: number[] = [];
    const restarts = Math.max(1, Number(args.restarts));
    for (let r = 0; r < restarts; r++) {
      worker = await start();
      // With the admin timing header, so the worker says where the first request's time went (Server-Timing).
      const first = await post(`${worker.url}/v1/score`, request(100, 1000 + r), { ...admin, "x-kser-debug": "timing" });
      firstRequestStages.push(serverTiming(first));
      if (first.status !== 200) throw new Error(`first score request failed: ${first.status} ${first.text.slice(0, 300)}`);
      firstRequestMs.push(first.ms);
      // How much of it was the model load (the worker's own timings: whole ms; workerd's clock advances locally).
      const cache = await fetch(`${worker.url}/v1/admin/cache`, { headers: admin });
      const timings = ((await cache.json()) as { loadTimings?: Record<string, { totalMs: number; sessionsMs: number }> }).loadTimings;
      const t = timings?.[manifest.modelId];
      if (t) modelLoadMs.push(t);
      const second = await post(`${worker.url}/v1/score`, request(100, 2000 + r));
      secondRequestMs.push(second.ms);
      log(
        `fresh start ${r + 1}: first 100-candidate score request ${round(first.ms)} ms (worker stages ${JSON.stringify(firstRequestStages.at(-1))}, model load ${JSON.stringify(modelLoadMs.at(-1) ?? null)}), second ${round(second.ms)} ms`,
      );
      if (r < restarts - 1) {
        await worker.stop();
        worker = undefined;
      }
    }
    if (!worker) throw new Error("no worker running");
    const url = worker.url;

    // 4. Warm latency per candidate count, bounded in requests and seconds. A warm-up pass first touches every
    //    user's and item's shards (the decoded-shard cache holds them all at this size).
    for (let i = 0; i < Math.ceil(users.length / 10); i++) await post(`${url}/v1/score`, request(100, i * 10));
    const latency: Record<string, { requests: number; p50: number; p95: number; p99: number; mean: number }> = {};
    type ProfileStats = { hits: number; kvReads: number; ttlMs: number };
    const profileStats = async () => {
      const r = await keepAliveFor(url).request("GET", "/v1/admin/cache", undefined, admin);
      return (JSON.parse(r.text) as { profiles: ProfileStats }).profiles;
    };
    const profilesBefore = await profileStats();
    for (const n of SIZES) {
      for (let i = 0; i < 10; i++) await post(`${url}/v1/score`, request(n, i)); // warm-up: caches fill
      const times: number[] = [];
      const until = performance.now() + SECONDS_PER_SIZE * 1000;
      for (let i = 0; i < REQUESTS && performance.now() < until; i++) {
        const r = await post(`${url}/v1/score`, request(n, i));
        if (r.status !== 200) throw new Error(`score request (${n} candidates) failed: ${r.status} ${r.text.slice(0, 300)}`);
        times.push(r.ms);
      }
      times.sort((a, b) => a - b);
      latency[String(n)] = {
        requests: times.length,
        p50: round(percentile(times, 50)),
        p95: round(percentile(times, 95)),
        p99: round(percentile(times, 99)),
        mean: round(times.reduce((s, x) => s + x, 0) / times.length),
      };
      log(`${n} candidates: ${JSON.stringify(latency[String(n)])}`);
    }

    const profilesAfter = await profileStats();
    // Users rotate through the stored profiles; a user seen within PROFILE_CACHE_MS is served from the isolate.
    const profileCache = {
      ttlMs: profilesAfter.ttlMs,
      hitsDuringLatency: profilesAfter.hits - profilesBefore.hits,
      kvReadsDuringLatency: profilesAfter.kvReads - profilesBefore.kvReads,
    };
    log(`profile cache during the latency runs: ${JSON.stringify(profileCache)}`);

    // Where the warm time goes: an HTTP round trip through wrangler dev without scoring (GET /v1/health), and
    // 100 candidates with the profile in the request (no profile read from KV).
    const quantiles = (times: number[]) => {
      const sorted = [...times].sort((a, b) => a - b);
      return { requests: sorted.length, p50: round(percentile(sorted, 50)), p95: round(percentile(sorted, 95)) };
    };
    const health: number[] = [];
    const healthFetch: number[] = [];
    const healthClient = keepAliveFor(url);
    for (let i = 0; i < 100; i++) {
      health.push((await healthClient.request("GET", "/v1/health")).ms);
      const t0 = performance.now();
      await (await fetch(`${url}/v1/health`)).arrayBuffer();
      healthFetch.push(performance.now() - t0);
    }
    const inline: number[] = [];
    for (let i = 0; i < 100; i++) {
      const body = request(100, i);
      const p = data.profiles.find((x) => x.userId === body.userId)!;
      inline.push((await post(`${url}/v1/score`, { ...body, attributes: p.attributes, history: p.history })).ms);
    }
    // 100 candidates with every profile read from KV: past the cache TTL, each user once.
    await new Promise((r) => setTimeout(r, profileCache.ttlMs + 500));
    const fromKvBefore = await profileStats();
    const fromKv: number[] = [];
    for (let i = 0; i < Math.min(100, users.length); i++) fromKv.push((await post(`${url}/v1/score`, request(100, i))).ms);
    const fromKvReads = (await profileStats()).kvReads - fromKvBefore.kvReads;
    if (fromKvReads !== fromKv.length)
      throw new Error(`expected ${fromKv.length} profile reads from KV, the worker counted ${fromKvReads}`);
    // Stages inside the worker (Server-Timing from `x-kser-debug: timing`, whole ms from workerd's Date.now, which
    // advances locally): mean over 100 warm requests of 100 candidates.
    const stageSums: Record<string, number> = {};
    const STAGE_REQUESTS = 100;
    for (let i = 0; i < STAGE_REQUESTS; i++) {
      const r = await post(`${url}/v1/score`, request(100, i), { ...admin, "x-kser-debug": "timing" });
      for (const [stage, ms] of Object.entries(serverTiming(r))) stageSums[stage] = (stageSums[stage] ?? 0) + ms;
    }
    const workerStages100 = Object.fromEntries(Object.entries(stageSums).map(([k, v]) => [k, round(v / STAGE_REQUESTS, 2)]));
    const breakdown = {
      healthRoundTrip: quantiles(health),
      healthRoundTripFetch: quantiles(healthFetch),
      score100ProfileInRequest: quantiles(inline),
      score100ProfileFromKv: quantiles(fromKv),
      workerStages100,
    };
    log(`breakdown: ${JSON.stringify(breakdown)}`);

    // 5. KV reads per request and knowledge bytes per candidate (worker counters), warm and after a cache flush.
    const kvStats = async (body: ScoreBody) => {
      const r = await post(`${url}/v1/score`, body, { ...admin, "x-kser-debug": "kv" });
      const reads = header(r, "x-kser-kv-reads");
      if (r.status !== 200 || !reads) throw new Error(`debug score request failed: ${r.status}`);
      return JSON.parse(reads) as { reads: number; bytes: number; knowledgeReads: number; knowledgeBytes: number };
    };
    const kv: Record<string, unknown> = {};
    for (const n of SIZES) {
      const warm = [];
      for (let i = 0; i < 20; i++) warm.push(await kvStats(request(n, i)));
      kv[String(n)] = {
        warmReadsPerRequest: round(warm.reduce((s, x) => s + x.reads, 0) / warm.length),
        warmKnowledgeBytesPerCandidate: round(warm.reduce((s, x) => s + x.knowledgeBytes, 0) / (warm.length * n)),
      };
    }
    // Cold: every isolate cache flushed, the model reloaded by a 1-candidate request, the shard caches flushed again,
    // then one request: all of its knowledge comes from KV.
    for (const n of SIZES) {
      for (const step of ["flush", "load", "flush"]) {
        if (step === "load") await kvStats(request(1, 0));
        else if ((await post(`${url}/v1/admin/cache/flush`, {}, admin)).status !== 200) throw new Error("cache flush failed");
      }
      const cold = await kvStats(request(n, 7));
      kv[String(n)] = {
        ...(kv[String(n)] as object),
        coldReadsPerRequest: cold.reads,
        coldKnowledgeReads: cold.knowledgeReads,
        coldKnowledgeBytesPerCandidate: round(cold.knowledgeBytes / n),
      };
      log(`KV ${n} candidates: ${JSON.stringify(kv[String(n)])}`);
    }

    // 6. Model only, 100 candidates: workerd (ORT-web wasm, 1 thread) vs onnxruntime-node (1 thread), same graph/feeds.
    const benchBody = (repeats: number) => ({ ...request(100, 3), repeats });
    const fixed = benchBody(1);
    const timeBench = async (repeats: number, stage = "backbone") => {
      const r = await post(`${url}/v1/admin/bench/backbone`, { ...fixed, repeats, stage }, admin);
      if (r.status !== 200) throw new Error(`bench route failed: ${r.status} ${r.text.slice(0, 300)}`);
      return { ms: r.ms, workerMs: (JSON.parse(r.text) as { workerMs: number }).workerMs };
    };
    const R = 51;
    await timeBench(5);
    const one: number[] = [];
    const many: number[] = [];
    const inWorker: number[] = [];
    for (let i = 0; i < 7; i++) {
      one.push((await timeBench(1)).ms);
      const m = await timeBench(R);
      many.push(m.ms);
      inWorker.push(m.workerMs / R);
    }
    const workerdModelMs = (median(many) - median(one)) / (R - 1);
    // The same for everything before the backbone (encoding, user extractor, cached shard lookups).
    const oneInputs: number[] = [];
    const manyInputs: number[] = [];
    for (let i = 0; i < 5; i++) {
      oneInputs.push((await timeBench(1, "inputs")).ms);
      manyInputs.push((await timeBench(R, "inputs")).ms);
    }
    const workerdInputsMs = (median(manyInputs) - median(oneInputs)) / (R - 1);

    const profile = data.profiles.find((p) => p.userId === fixed.userId)!;
    const batch = requestBatch(model, bank, { ...profile, candidates: fixed.candidates });
    const opts = {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: "sequential" as const,
      // The worker's level (worker/src/ort-runtime.ts), so both sides run the same graph the same way.
      graphOptimizationLevel: "disabled" as const,
    };
    const backbone = await ortNode.InferenceSession.create(built.graphs.backbone.bytes, opts);
    const n = batch.count;
    const spec = model.spec;
    const Fi = spec.itemFields.length;
    const Fu = spec.userFields.length;
    const L = spec.historyLength;
    const feeds: Record<string, ortNode.Tensor> = {
      item_feats: new ortNode.Tensor("int32", batch.itemFeats.slice(0, n * Fi), [n, Fi]),
      user_feats: new ortNode.Tensor("int32", batch.userFeats.slice(0, n * Fu), [n, Fu]),
      hist_feats: new ortNode.Tensor("int32", batch.histFeats.slice(0, n * L * Fi), [n, L, Fi]),
      hist_ratings: new ortNode.Tensor("int32", batch.histRatings.slice(0, n * L), [n, L]),
      hist_mask: new ortNode.Tensor("float32", batch.histMask.slice(0, n * L), [n, L]),
    };
    if (built.graphs.userExtractor && built.graphs.itemExtractor && model.config.knowledge) {
      const k = model.config.knowledge;
      const user = await ortNode.InferenceSession.create(built.graphs.userExtractor.bytes, opts);
      const item = await ortNode.InferenceSession.create(built.graphs.itemExtractor.bytes, opts);
      const all: Record<string, ortNode.Tensor> = {
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
    }
    // Like the worker: inputs the manifest lists as requestInputs go in once (batch 1), the rest per candidate.
    const requestInputs = new Set(manifest.graphs.backbone.requestInputs ?? []);
    const firstRow = (t: ortNode.Tensor) =>
      new ortNode.Tensor(t.type as "float32", (t.data as Float32Array).slice(0, t.size / t.dims[0]), [1, ...t.dims.slice(1)]);
    const backboneFeeds = Object.fromEntries(
      backbone.inputNames.map((name) => [name, requestInputs.has(name) ? firstRow(feeds[name]) : feeds[name]]),
    );
    // Median of 200 runs after `warmUp` unmeasured ones.
    const medianRunMs = async (runOnce: () => Promise<unknown>, warmUp: number) => {
      for (let i = 0; i < warmUp; i++) await runOnce();
      const runs: number[] = [];
      for (let i = 0; i < 200; i++) {
        const t0 = performance.now();
        await runOnce();
        runs.push(performance.now() - t0);
      }
      return median(runs);
    };
    const nodeModelMs = await medianRunMs(() => backbone.run(backboneFeeds), 20);
    // onnxruntime-node at its own best level too ("all"), as a reference for what native code can do here.
    const backboneLevelAll = await ortNode.InferenceSession.create(built.graphs.backbone.bytes, { ...opts, graphOptimizationLevel: "all" });
    const nodeAllModelMs = await medianRunMs(() => backboneLevelAll.run(backboneFeeds), 20);
    // The same wasm build the worker runs, under plain Node (1 thread, the worker's level): separates what wasm costs
    // against native code from what workerd adds. Many warm-up runs: V8 tiers the hot wasm functions up lazily.
    ortWeb.env.wasm.numThreads = 1;
    const web = await ortWeb.InferenceSession.create(built.graphs.backbone.bytes, { graphOptimizationLevel: "disabled" });
    const webFeeds = Object.fromEntries(
      Object.entries(backboneFeeds).map(([name, t]) => [name, new ortWeb.Tensor(t.type as "float32", t.data as Float32Array, t.dims)]),
    );
    const webInNodeMs = await medianRunMs(() => web.run(webFeeds), 400);
    await web.release();
    log(
      `model only, 100 candidates: workerd ${round(workerdModelMs, 3)} ms (client-timed), ${round(median(inWorker), 3)} ms (Date.now in the worker), inputs before the backbone ${round(workerdInputsMs, 3)} ms, onnxruntime-node ${round(nodeModelMs, 3)} ms (level "all": ${round(nodeAllModelMs, 3)} ms), onnxruntime-web wasm in Node ${round(webInNodeMs, 3)} ms`,
    );

    await worker.stop();
    worker = undefined;

    // 7. Upload size.
    const upload = await uploadSize(join(tmp, "dry-run"));
    log(`upload: ${JSON.stringify({ ...upload, files: undefined })}`);

    const groupsLeft = pids.filter((pid) => {
      try {
        process.kill(-pid, 0);
        return true;
      } catch {
        return false;
      }
    }).length;

    const result = {
      bench: "edge",
      loadAverage: loadavg().map((x) => round(x, 2)),
      model: {
        modelId: manifest.modelId,
        users: data.userIds.length,
        items: bank.item.ids.length,
        embeddingDim: manifest.embeddingDim,
        knowledge: `${bank.item.chunks}x${bank.item.dim} i8`,
        entitiesPerShard,
        graphBytes,
      },
      latencyMs: latency,
      profileCache,
      latencyBreakdownMs: breakdown,
      firstRequestMs: {
        runs: firstRequestMs.map((x) => round(x)),
        max: round(Math.max(...firstRequestMs)),
        secondRequestRuns: secondRequestMs.map((x) => round(x)),
        workerStages: firstRequestStages,
        modelLoad: modelLoadMs,
      },
      modelOnly100: {
        workerdMs: round(workerdModelMs, 3),
        workerdInWorkerDateNowMs: round(median(inWorker), 3),
        workerdInputsMs: round(workerdInputsMs, 3),
        benchRouteOneRepeatMs: round(median(one), 3),
        onnxruntimeNodeMs: round(nodeModelMs, 3),
        ratio: round(workerdModelMs / nodeModelMs, 2),
        onnxruntimeNodeLevelAllMs: round(nodeAllModelMs, 3),
        ratioVsNodeLevelAll: round(workerdModelMs / nodeAllModelMs, 2),
        onnxruntimeWebInNodeMs: round(webInNodeMs, 3),
        ratioWebInNodeVsNode: round(webInNodeMs / nodeModelMs, 2),
        method: `client-timed admin route, (median t(R=${R}) - median t(R=1)) / ${R - 1}; onnxruntime-node 1 thread, median of 200 runs`,
        sameFeeds: `both sides: the same backbone bytes, graphOptimizationLevel disabled (the worker's), one thread, user-side inputs ${[...requestInputs].join(",") || "(none)"} once (batch 1), the rest for 100 candidates`,
      },
      upload: { ...upload, files: undefined },
      kv,
      targets: {
        p50_100_le_5ms: latency["100"].p50 <= 5,
        p50_100_profileFromKv_le_5ms: breakdown.score100ProfileFromKv.p50 <= 5,
        modelRatio_le_1_5: workerdModelMs / nodeModelMs <= 1.5,
        firstRequest_le_100ms: Math.max(...firstRequestMs) <= 100,
        uploadGzip_le_5MB: upload.ok && upload.gzipMB <= 5,
        knowledgeBytesPerCandidate_le_1KB: (kv["100"] as { coldKnowledgeBytesPerCandidate: number }).coldKnowledgeBytesPerCandidate <= 1024,
      },
      workerProcessGroupsLeft: groupsLeft,
      seconds: round((performance.now() - started) / 1000, 1),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    for (const client of clients.values()) client.close();
    if (worker) await worker.stop();
    await rm(tmp, { recursive: true, force: true });
    await stat(tmp).catch(() => undefined);
  }
}

await main();
