/**
 * Soak benchmark: the demo's published state (`npm run demo`'s pipeline, 1 epoch: a DeepFM champion and a
 * DeepFM + KSER candidate, 50/50, fallback the champion) served by `wrangler dev`, under 100-candidate score load
 * (autocannon) at each connection count for --seconds, while bench/soak-faults.ts breaks and restores the candidate's
 * backbone blob, its knowledge shards and the rollout config, flushing the worker's caches around them.
 * Prints progress lines, then as its LAST line one JSON object: requests, status5xx, timeouts (load, probe, flush and
 * readiness requests unanswered after 10 s),
 * neverCompleteLogLines (workerd's "Promise will never complete"), scoresEqualAfterRestore (24 probe requests after
 * each phase against their scores before any fault), and p50/p99 ms per phase. How to read it: docs/worker.md.
 *
 *   npm run bench:soak [-- --seconds 30 --connections 8,32 --epochs 1]
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { kvKeys } from "../shared/kv-keys.ts";
import { parseManifest, type VocabularyBlob } from "../shared/manifest.ts";
import { parseRolloutConfig } from "../shared/rollout.ts";
import type { ScoreResponse } from "../shared/score-api.ts";
import { runDemo } from "../trainer/demo/run-demo.ts";
import { openLocalTarget } from "../trainer/kv/local.ts";
import type { KvTarget } from "../trainer/kv/types.ts";
import { type RunningWorker, startWranglerDev } from "../trainer/serve/wrangler-dev.ts";
import { type Fault, soakFaults } from "./soak-faults.ts";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "30" },
    connections: { type: "string", default: "8,32" },
    epochs: { type: "string", default: "1" },
  },
});
const SECONDS = Number(args.seconds);
const CONNECTIONS = args.connections.split(",").map(Number);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ADMIN_TOKEN = randomBytes(16).toString("hex");
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };
/** A request unanswered this long counts as a timeout (autocannon then drops the connection and opens another). */
const TIMEOUT_S = 10;
const PROBES = 24;
const log = (line: string) => process.stderr.write(`[bench:soak] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const round = (x: number) => Math.round(x * 100) / 100;

/** Worker log lines that mean trouble, counted over the whole run. */
const logCounts = { neverComplete: 0, hung: 0, rolloutCorruptUsingPrevious: 0 };
function countLogLine(line: string): void {
  if (line.includes("Promise will never complete")) logCounts.neverComplete++;
  if (line.includes("code had hung")) logCounts.hung++;
  if (line.includes("rollout_corrupt_using_previous")) logCounts.rolloutCorruptUsingPrevious++;
}

interface Published {
  users: string[];
  items: string[];
  candidateModelId: string;
}

async function readPublished(target: KvTarget): Promise<Published> {
  const text = async (key: string) => {
    const v = await target.get(key);
    if (v === null) throw new Error(`the demo state has no ${key}`);
    return new TextDecoder().decode(v);
  };
  const config = parseRolloutConfig(JSON.parse(await text(kvKeys.rolloutConfig())));
  const candidate = config.variants.find((v) => v.name !== config.fallback);
  if (!candidate) throw new Error("the demo rollout has no variant besides its fallback");
  const manifest = parseManifest(JSON.parse(await text(kvKeys.model(candidate.modelId))));
  const vocabulary = JSON.parse(await text(kvKeys.blob(manifest.vocabulary.blob))) as VocabularyBlob;
  const users = (await target.list("user/")).map((key) => key.slice("user/".length));
  return { users, items: vocabulary.fields.item_id.slice(1), candidateModelId: candidate.modelId };
}

/** Deterministic 100-candidate requests (an LCG), user i % users. */
function requestMaker(p: Published) {
  let state = 20260101;
  const rand = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  return (i: number) => ({
    userId: p.users[i % p.users.length],
    candidates: Array.from({ length: 100 }, () => p.items[Math.floor(rand() * p.items.length)]),
  });
}

/** Requests of the bench itself (probes, flushes, readiness) that got no answer within TIMEOUT_S. */
let ownTimeouts = 0;

/** One request with the same 10 s limit as the load: its status and body text, or status 0 when unanswered. */
async function request(url: string, init: RequestInit = {}): Promise<{ status: number; text: string }> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_S * 1000) });
    return { status: res.status, text: await res.text() };
  } catch (e) {
    if ((e as Error).name !== "TimeoutError") throw e;
    ownTimeouts++;
    return { status: 0, text: "" };
  }
}

function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  return request(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

/** Flushes the worker's caches; a failed flush is kept (status and body) for the output, and a 5xx counted. */
const flushProblems: string[] = [];
let own5xx = 0;
async function flush(url: string): Promise<void> {
  const res = await post(`${url}/v1/admin/cache/flush`, {}, ADMIN);
  if (res.status === 200) return;
  if (res.status >= 500) own5xx++;
  flushProblems.push(`${res.status} ${res.text.slice(0, 200)}`);
}
const readiness = async (url: string) => (await request(`${url}/v1/ready`)).status;

/** The probe requests' scores, one request at a time; null for a request that did not answer 200. */
async function probeScores(url: string, probes: ReturnType<ReturnType<typeof requestMaker>>[]): Promise<(number[] | null)[]> {
  const out: (number[] | null)[] = [];
  for (const body of probes) {
    const res = await post(`${url}/v1/score`, body);
    if (res.status >= 500) own5xx++;
    out.push(res.status === 200 ? (JSON.parse(res.text) as ScoreResponse).scores : null);
  }
  return out;
}

/**
 * The faults of one phase, spread over it: each injected (then a flush, except for the rollout config: a flush
 * while it is corrupt leaves the worker no config to serve with, by design), readiness read, restored, flushed.
 */
async function faultSchedule(url: string, faults: Fault[], durationMs: number) {
  const started = Date.now();
  const at = (fraction: number) => sleep(started + fraction * durationMs - Date.now());
  const plan: [Fault["name"], number, number, boolean][] = [
    ["modelBlob", 0.1, 0.3, true],
    ["knowledgeShards", 0.4, 0.55, true],
    ["rolloutConfig", 0.65, 0.85, false],
  ];
  const readyDuringFault: Record<string, number> = {};
  for (const [name, injectAt, restoreAt, flushAfterInject] of plan) {
    const fault = faults.find((f) => f.name === name) as Fault;
    await at(injectAt);
    await fault.inject();
    if (flushAfterInject) await flush(url);
    await sleep(500);
    readyDuringFault[name] = await readiness(url);
    await at(restoreAt);
    await fault.restore();
    await flush(url);
    log(
      `  ${name}: injected at ${Math.round(injectAt * 100)}%, readiness ${readyDuringFault[name]}, restored at ${Math.round(restoreAt * 100)}%`,
    );
  }
  return { readyDuringFault };
}

async function runPhase(url: string, connections: number, faults: Fault[], next: (i: number) => unknown) {
  let n = 0;
  const load = autocannon({
    url,
    connections,
    duration: SECONDS,
    timeout: TIMEOUT_S,
    requests: [
      {
        method: "POST",
        path: "/v1/score",
        headers: { "content-type": "application/json" },
        setupRequest: (req) => ({ ...req, body: JSON.stringify(next(n++)) }),
      },
    ],
  });
  const [result, schedule] = await Promise.all([load, faultSchedule(url, faults, SECONDS * 1000)]);
  const status = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count ?? 0]));
  return {
    connections,
    seconds: SECONDS,
    requests: result.requests.total,
    requestsPerSecond: round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    status,
    status5xx: result["5xx"],
    timeouts: result.timeouts,
    errors: result.errors,
    ...schedule,
  };
}

async function main() {
  const started = performance.now();
  const tmp = await mkdtemp(join(tmpdir(), "kser-bench-soak-"));
  const outDir = join(tmp, "demo");
  let worker: RunningWorker | undefined;
  let target: KvTarget | undefined;
  try {
    await runDemo({ projectRoot: ROOT, outDir, epochs: Number(args.epochs), serve: false, log: (line) => log(line) });
    const persistTo = join(outDir, "kv-state");
    target = await openLocalTarget({ configPath: join(ROOT, "wrangler.toml"), persistTo });
    const published = await readPublished(target);
    const faults = await soakFaults(target, published.candidateModelId);
    log(`demo state: ${published.users.length} users, ${published.items.length} items, candidate ${published.candidateModelId}`);

    worker = await startWranglerDev({ projectRoot: ROOT, persistTo, vars: { ADMIN_TOKEN }, readyTimeoutMs: 90_000, log: countLogLine });
    const url = worker.url;
    const next = requestMaker(published);
    const probes = Array.from({ length: PROBES }, (_, i) => next(i));
    const baseline = await probeScores(url, probes);
    if (baseline.some((s) => s === null)) throw new Error("a probe request failed before any fault was injected");
    const setupSeconds = round((performance.now() - started) / 1000);

    const phases: (Awaited<ReturnType<typeof runPhase>> & { scoresEqualAfterRestore: boolean; readyAfterRestore: number })[] = [];
    for (const connections of CONNECTIONS) {
      log(`${connections} connections, ${SECONDS} s of 100-candidate score requests with faults injected and restored`);
      const phase = await runPhase(url, connections, faults, next);
      const after = await probeScores(url, probes);
      const scoresEqualAfterRestore = after.every((s, i) => JSON.stringify(s) === JSON.stringify(baseline[i]));
      const readyAfterRestore = await readiness(url);
      phases.push({ ...phase, scoresEqualAfterRestore, readyAfterRestore });
      log(`  ${phase.requests} requests, p50 ${phase.p50Ms} ms, p99 ${phase.p99Ms} ms, status ${JSON.stringify(phase.status)}`);
    }
    const sum = (f: (p: (typeof phases)[number]) => number) => phases.reduce((s, p) => s + f(p), 0);
    console.log(
      JSON.stringify({
        bench: "soak",
        date: new Date().toISOString(),
        machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg().map(round) },
        requests: sum((p) => p.requests),
        status5xx: sum((p) => p.status5xx) + own5xx,
        timeouts: sum((p) => p.timeouts) + ownTimeouts,
        errors: sum((p) => p.errors),
        neverCompleteLogLines: logCounts.neverComplete,
        hungLogLines: logCounts.hung,
        rolloutCorruptUsingPreviousLines: logCounts.rolloutCorruptUsingPrevious,
        scoresEqualAfterRestore: phases.every((p) => p.scoresEqualAfterRestore),
        flushProblems,
        phases,
        setupSeconds,
        totalSeconds: round((performance.now() - started) / 1000),
      }),
    );
  } finally {
    if (worker) await worker.stop();
    if (target) await target.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
