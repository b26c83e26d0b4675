/**
 * Knowledge refresh: only users and items the previous successful run's bank lacks get knowledge texts and new
 * vectors; every other row is copied from that bank unchanged. New rows are encoded with the previous bank's
 * fitted encoder (its idf, not refitted) and projected with its PCA, so old and new rows live in one space and
 * a champion trained on the old bank scores the same on the new one. Without a usable previous bank (first run,
 * or chunks/dimensions changed in the config), the whole bank is built and compressed from scratch.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { quantizeLikeCodec } from "../../shared/vector-codec.ts";
import type { KnowledgeBankField, PreparedDataset, RawDataset } from "../data/types.ts";
import { buildBank, finishBank, loadBank, type StoredBank, saveBank } from "../knowledge/bank.ts";
import { compressBank, type PcaModel, projectPca } from "../knowledge/compress.ts";
import { createHashEncoder, HashEncoder, type HashEncoderState } from "../knowledge/encoders/hash.ts";
import type { KnowledgeEncoder } from "../knowledge/encoders/types.ts";
import { createOpenAIChat, createWorkersAiChat } from "../knowledge/providers/chat.ts";
import { generateKnowledge } from "../knowledge/providers/generate.ts";
import { describeRetry, type RetryInfo } from "../knowledge/providers/http.ts";
import { simulateKnowledge } from "../knowledge/simulator.ts";
import { loadTexts, saveTexts } from "../knowledge/texts-io.ts";
import { KNOWLEDGE_FIELDS, type KnowledgeField, type KnowledgeTexts } from "../knowledge/types.ts";
import { UserFacingError } from "../util/errors.ts";
import type { NightlyConfig } from "./config.ts";

export interface KnowledgeSummary {
  bankId: string;
  source: string;
  mode: "full" | "incremental";
  previousBankId: string | null;
  /** Entities that got new knowledge this run. */
  added: Record<KnowledgeField, number>;
  /** Rows copied unchanged from the previous bank. */
  reused: Record<KnowledgeField, number>;
}

export const bankDir = (runDir: string) => path.join(runDir, "knowledge", "bank");

async function knowledgeTexts(
  config: NightlyConfig,
  raw: RawDataset,
  data: PreparedDataset,
  log: (line: string) => void,
): Promise<KnowledgeTexts> {
  const k = config.knowledge;
  if (k.kind === "simulator") return simulateKnowledge(raw, data, { seed: k.seed, chunksPerField: config.compress.chunks });
  if (k.kind === "import") return loadTexts(k.texts);
  const common = {
    model: k.model,
    policy: { timeoutMs: k.timeoutMs, retries: k.retries },
    hooks: { onRetry: (info: RetryInfo) => log(describeRetry("provider", info)) },
  };
  const client = k.provider === "openai" ? createOpenAIChat({ ...common, baseUrl: k.baseUrl }) : createWorkersAiChat(common);
  // The cache lives beside the runs: entities answered on an earlier night are read from it, not requested again.
  const { texts, stats } = await generateKnowledge(raw, data, client, {
    concurrency: k.concurrency,
    cachePath: path.join(config.runsDir, "knowledge-cache.jsonl"),
  }).catch((error) => {
    // Exit code 3 means a failed publish to a nightly scheduler: a stopped provider is a failed run (1).
    throw error instanceof UserFacingError ? new UserFacingError(error.message, 1) : error;
  });
  if (stats.failures.length)
    throw new UserFacingError(`knowledge provider failed for ${stats.failures.length} entities, e.g. ${stats.failures[0].error}`, 1);
  return texts;
}

interface PcaState {
  inputDim: number;
  outputDim: number;
  mean: number[];
  components: number[];
  variances: number[];
}

function pcaFromState(s: PcaState): PcaModel {
  return {
    inputDim: s.inputDim,
    outputDim: s.outputDim,
    mean: Float32Array.from(s.mean),
    components: Float32Array.from(s.components),
    variances: s.variances,
    totalVariance: 0,
  };
}

/** The previous bank's encoder without fit(): buildBank must not refit the idf on the new texts alone. */
function frozenEncoder(state: HashEncoderState): KnowledgeEncoder {
  const inner = HashEncoder.fromState(state);
  return { name: inner.name, dim: inner.dim, encode: (texts) => inner.encode(texts), state: () => inner.state() };
}

function appendRows(old: KnowledgeBankField, added: KnowledgeBankField): KnowledgeBankField {
  const cat = <T extends Float32Array | Uint8Array>(a: T, b: T): T => {
    const out = new (a.constructor as new (n: number) => T)(a.length + b.length);
    out.set(a);
    out.set(b, a.length);
    return out;
  };
  return {
    ids: [...old.ids, ...added.ids],
    chunks: old.chunks,
    dim: old.dim,
    values: cat(old.values, added.values),
    mask: cat(old.mask, added.mask),
    ...(old.kinds && added.kinds ? { kinds: cat(old.kinds, added.kinds) } : {}),
  };
}

function usablePrevious(previousRun: string | null, config: NightlyConfig): StoredBank | null {
  if (!previousRun || !existsSync(path.join(bankDir(previousRun), "manifest.json"))) return null;
  const prev = loadBank(bankDir(previousRun));
  const state = prev.encoderState as { kind?: string; base?: HashEncoderState } | undefined;
  const { chunks, dim, encoderDim } = config.compress;
  if (state?.kind !== "pca" || state.base?.kind !== "hash" || state.base.dim !== encoderDim) return null;
  if (prev.user.chunks !== chunks || prev.user.dim !== dim) return null;
  return prev;
}

export async function refreshKnowledge(
  config: NightlyConfig,
  raw: RawDataset,
  data: PreparedDataset,
  runDir: string,
  previousRun: string | null,
  log: (line: string) => void,
  /** Encoding progress as (texts done, texts total), for a progress bar. */
  onProgress?: (done: number, total: number) => void,
): Promise<KnowledgeSummary> {
  const { chunks, dim, encoderDim } = config.compress;
  const ids = { user: raw.users.map((u) => u.id), item: raw.items.map((i) => i.id) };
  const prev = usablePrevious(previousRun, config);
  const texts = await knowledgeTexts(config, raw, data, log);
  let bank: StoredBank;
  let added: Record<KnowledgeField, number>;
  if (!prev) {
    const encoded = await buildBank(texts, createHashEncoder({ dim: encoderDim }), { chunks, ids, onProgress });
    bank = compressBank(encoded, { dim, codec: "i8", seed: config.prepare.seed }).bank;
    added = { user: ids.user.length, item: ids.item.length };
    log(`built a new bank: ${ids.user.length} users, ${ids.item.length} items`);
  } else {
    const known = { user: new Set(prev.user.ids), item: new Set(prev.item.ids) };
    const fresh = { user: ids.user.filter((id) => !known.user.has(id)), item: ids.item.filter((id) => !known.item.has(id)) };
    const state = prev.encoderState as { base: HashEncoderState; user: PcaState; item: PcaState };
    const encoded = await buildBank(texts, frozenEncoder(state.base), { chunks, ids: fresh, onProgress });
    const fields = {} as Record<KnowledgeField, KnowledgeBankField>;
    for (const f of KNOWLEDGE_FIELDS) {
      const e = encoded[f];
      const projected = projectPca(pcaFromState(state[f]), e.values, e.mask);
      fields[f] = appendRows(prev[f], { ...e, dim, values: quantizeLikeCodec(projected, dim, prev.codec) });
    }
    bank = finishBank({
      encoder: prev.encoder,
      user: fields.user,
      item: fields.item,
      codec: prev.codec,
      corpusHash: prev.corpusHash,
      source: prev.source === texts.source ? prev.source : `${prev.source}+${texts.source}`,
      encoderState: prev.encoderState,
      extra: { ...prev.extra, refreshedFrom: prev.bankId, added: { user: fresh.user.length, item: fresh.item.length } },
    });
    added = { user: fresh.user.length, item: fresh.item.length };
    log(
      `reused ${prev.user.ids.length} users + ${prev.item.ids.length} items from bank ${prev.bankId}; new: ${added.user} users, ${added.item} items`,
    );
  }
  saveTexts(path.join(runDir, "knowledge", "texts.jsonl"), texts);
  saveBank(bankDir(runDir), bank);
  return {
    bankId: bank.bankId,
    source: bank.source,
    mode: prev ? "incremental" : "full",
    previousBankId: prev?.bankId ?? null,
    added,
    reused: { user: bank.user.ids.length - added.user, item: bank.item.ids.length - added.item },
  };
}
