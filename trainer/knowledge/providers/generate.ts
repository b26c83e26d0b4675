/**
 * Asks an LLM for every user's preference knowledge and every item's facts, with bounded concurrency, retries (in
 * the client), a resumable JSONL cache keyed by field + entity + hash(model, prompt), and a progress bar. A dry run
 * prints the prompts and calls nothing. Entities that still fail after retries are reported and left out (the bank
 * masks them); rerunning resumes from the cache. A fatal answer (bad key, unknown model, bad request) stops the run
 * at once: no further prompt is sent, since every one would be refused the same way.
 */
import { createHash } from "node:crypto";
import cliProgress from "cli-progress";
import type { PreparedDataset, RawDataset } from "../../data/types.ts";
import { UserFacingError } from "../../util/errors.ts";
import { promptsFor } from "../prompts.ts";
import { KNOWLEDGE_FIELDS, type KnowledgeField, type KnowledgeTexts } from "../types.ts";
import { JsonlCache } from "./cache.ts";
import type { ChatClient } from "./chat.ts";
import { isFatal, PROVIDER_EXIT_CODE } from "./http.ts";
import { mapPool } from "./pool.ts";

export interface GenerateOptions {
  fields?: KnowledgeField[];
  /** Requests in flight at most; default 4. */
  concurrency?: number;
  /** JSONL cache path; without it nothing is resumable. */
  cachePath?: string;
  /** Only the first n entities per field (trial runs). */
  limit?: number;
  /** Print prompts instead of calling the model. */
  dryRun?: boolean;
  /** Show a progress bar on stderr (when more than 20 requests are due). */
  progress?: boolean;
  /** Where dry-run prompts and notes go; default console.log. */
  print?: (line: string) => void;
}

export interface GenerateStats {
  requested: number;
  fromCache: number;
  generated: number;
  failures: { field: KnowledgeField; id: string; error: string }[];
}

interface Job {
  field: KnowledgeField;
  id: string;
  prompt: string;
  key: string;
}

export function cacheKey(field: KnowledgeField, id: string, model: string, prompt: string): string {
  return `${field}/${id}/${createHash("sha256").update(model).update("\u0000").update(prompt).digest("hex").slice(0, 16)}`;
}

/** Every prompt of a dataset, users (from their knowledge prefix only) then items. */
export function buildPrompts(
  raw: RawDataset,
  prepared: Pick<PreparedDataset, "knowledgePrefix">,
  fields: KnowledgeField[] = KNOWLEDGE_FIELDS,
  limit?: number,
): { field: KnowledgeField; id: string; prompt: string }[] {
  const prompts = promptsFor(raw.domain);
  const itemsById = new Map(raw.items.map((i) => [i.id, i]));
  const out: { field: KnowledgeField; id: string; prompt: string }[] = [];
  if (fields.includes("user")) {
    for (const user of raw.users.slice(0, limit)) {
      const prefix = prepared.knowledgePrefix[user.id] ?? [];
      out.push({ field: "user", id: user.id, prompt: prompts.user.render({ dataset: raw, user, prefix, itemsById }) });
    }
  }
  if (fields.includes("item")) {
    for (const item of raw.items.slice(0, limit))
      out.push({ field: "item", id: item.id, prompt: prompts.item.render({ dataset: raw, item }) });
  }
  return out;
}

/** Serves what the cache holds into texts; returns the prompts still to ask. */
function uncachedJobs(
  all: ReturnType<typeof buildPrompts>,
  cache: JsonlCache<string> | undefined,
  clientName: string,
  texts: KnowledgeTexts,
  stats: GenerateStats,
): Job[] {
  const jobs: Job[] = [];
  for (const p of all) {
    const key = cacheKey(p.field, p.id, clientName, p.prompt);
    const hit = cache?.get(key);
    if (hit !== undefined) {
      texts[p.field].set(p.id, { text: hit });
      stats.fromCache++;
    } else {
      jobs.push({ ...p, key });
    }
  }
  return jobs;
}

/** Asks the client every job, concurrently, caching each answer as it comes; a fatal provider error stops the run. */
async function askAll(
  client: ChatClient,
  jobs: Job[],
  cache: JsonlCache<string> | undefined,
  texts: KnowledgeTexts,
  stats: GenerateStats,
  opts: GenerateOptions,
): Promise<void> {
  const bar =
    opts.progress && jobs.length > 20
      ? new cliProgress.SingleBar({
          format: "knowledge {bar} {value}/{total} | {eta_formatted} left | failed {failed}",
          stream: process.stderr,
        })
      : undefined;
  bar?.start(jobs.length, 0, { failed: 0 });
  try {
    await mapPool(jobs, opts.concurrency ?? 4, async (job) => {
      try {
        const answer = await client.complete(job.prompt);
        cache?.set(job.key, answer);
        texts[job.field].set(job.id, { text: answer });
        stats.generated++;
      } catch (error) {
        // Thrown out of the pool: no new prompt starts, the ones in flight finish (and are cached).
        if (isFatal(error)) throw error;
        stats.failures.push({ field: job.field, id: job.id, error: (error as Error).message });
      }
      bar?.increment(1, { failed: stats.failures.length });
    });
  } catch (error) {
    if (!isFatal(error)) throw error;
    throw new UserFacingError(
      `${client.name} refused a request, run stopped (${stats.generated} new answers cached): ${(error as Error).message}`,
      PROVIDER_EXIT_CODE,
    );
  } finally {
    bar?.stop();
  }
}

export async function generateKnowledge(
  raw: RawDataset,
  prepared: Pick<PreparedDataset, "knowledgePrefix">,
  client: ChatClient | undefined,
  opts: GenerateOptions = {},
): Promise<{ texts: KnowledgeTexts; stats: GenerateStats }> {
  const print = opts.print ?? console.log;
  const prompts = promptsFor(raw.domain);
  const texts: KnowledgeTexts = {
    source: client ? client.name : "dry-run",
    factors: { user: prompts.user.factors, item: prompts.item.factors },
    user: new Map(),
    item: new Map(),
  };
  const all = buildPrompts(raw, prepared, opts.fields, opts.limit);
  const stats: GenerateStats = { requested: all.length, fromCache: 0, generated: 0, failures: [] };
  if (opts.dryRun || !client) {
    for (const p of all) print(`### ${p.field} ${p.id}\n${p.prompt}\n`);
    return { texts, stats };
  }
  const cache = opts.cachePath ? JsonlCache.open<string>(opts.cachePath) : undefined;
  if (cache && (cache.recovered.tornBytes > 0 || cache.recovered.badLines > 0)) {
    print(
      `cache ${opts.cachePath}: dropped a torn last line (${cache.recovered.tornBytes} bytes) and ${cache.recovered.badLines} unreadable lines`,
    );
  }
  try {
    await askAll(client, uncachedJobs(all, cache, client.name, texts, stats), cache, texts, stats, opts);
  } finally {
    cache?.close();
  }
  // Answers arrive in any order; rebuild the maps in dataset order so banks built from them are reproducible.
  for (const field of KNOWLEDGE_FIELDS) {
    const got = texts[field];
    texts[field] = new Map(all.filter((p) => p.field === field && got.has(p.id)).map((p) => [p.id, got.get(p.id)!]));
  }
  return { texts, stats };
}
