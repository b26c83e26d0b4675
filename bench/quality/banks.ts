/**
 * The bench's knowledge banks: texts encoded by the hash encoder, then PCA + int8 as the serving bundle stores
 * them. Simulated knowledge for MovieLens, the knowledge world's chunks of known kinds (and the same bank with only
 * its informative chunks), and DBbook's LLM profiles by aspect slot.
 */
import {
  CHUNK_KINDS,
  type KnowledgeBank,
  type KnowledgeBankField,
  type PreparedDataset,
  type RawDataset,
} from "../../trainer/data/types.ts";
import { maskBank } from "../../trainer/eval/masked-scores.ts";
import { buildBank } from "../../trainer/knowledge/bank.ts";
import { compressBank } from "../../trainer/knowledge/compress.ts";
import { createHashEncoder } from "../../trainer/knowledge/encoders/hash.ts";
import { type KindProportions, simulateKnowledge } from "../../trainer/knowledge/simulator.ts";
import type { KnowledgeTexts } from "../../trainer/knowledge/types.ts";
import type { QualitySettings } from "./settings.ts";
import type { BankSummary } from "./types.ts";

export interface BuiltBank {
  bank: KnowledgeBank;
  summary: BankSummary;
}

/** A bank as built from texts, with its user field before PCA and int8 (for the data facts, then dropped). */
export interface EncodedBank extends BuiltBank {
  uncompressedUser: KnowledgeBankField;
}

const present = (field: KnowledgeBankField) => field.mask.reduce((a, m) => a + (m > 0 ? 1 : 0), 0);

function kindCounts(field: KnowledgeBankField): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(CHUNK_KINDS.map((k) => [k, 0]));
  for (let i = 0; i < field.mask.length; i++) {
    const k = field.kinds?.[i];
    if (field.mask[i] > 0 && k !== undefined && k < CHUNK_KINDS.length) out[CHUNK_KINDS[k]]++;
  }
  return out;
}

function slotCounts(field: KnowledgeBankField, names: string[]): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (let i = 0; i < field.mask.length; i++) if (field.mask[i] > 0) out[names[i % field.chunks]]++;
  return out;
}

function summarise(
  bank: KnowledgeBank,
  proportions: KindProportions | null,
  meanCosine: BankSummary["meanCosine"],
  slotNames?: Record<"user" | "item", string[]>,
): BankSummary {
  return {
    bankId: bank.bankId,
    proportions,
    encoder: bank.encoder,
    present: { user: present(bank.user), item: present(bank.item) },
    ...(bank.user.kinds && bank.item.kinds ? { kinds: { user: kindCounts(bank.user), item: kindCounts(bank.item) } } : {}),
    ...(slotNames ? { slots: { user: slotCounts(bank.user, slotNames.user), item: slotCounts(bank.item, slotNames.item) } } : {}),
    meanCosine,
  };
}

/** Hash-encode the texts and compress them (PCA to pcaDim, int8; the PCA's seed is the data seed). */
async function encode(
  texts: KnowledgeTexts,
  s: QualitySettings,
  proportions: KindProportions | null,
  opts: { ids?: { user: string[]; item: string[] }; slotNames?: Record<"user" | "item", string[]> } = {},
): Promise<EncodedBank> {
  const encoded = await buildBank(texts, createHashEncoder({ dim: s.encoderDim }), { chunks: s.chunks, ids: opts.ids });
  const { bank, report } = compressBank(encoded, { dim: s.pcaDim, codec: "i8", seed: s.dataSeed });
  // A field without knowledge (none in these banks) has no compression report: NaN says so in the summary.
  const meanCosine = { user: report.user?.total.meanCosine ?? Number.NaN, item: report.item?.total.meanCosine ?? Number.NaN };
  return { bank, summary: summarise(bank, proportions, meanCosine, opts.slotNames), uncompressedUser: encoded.user };
}

/** MovieLens: the simulator's knowledge at the given kind proportions. */
export function simulatedBank(
  raw: RawDataset,
  data: PreparedDataset,
  s: QualitySettings,
  proportions: KindProportions,
): Promise<EncodedBank> {
  if (s.chunks.user !== s.chunks.item) throw new Error("simulated knowledge has the same number of chunks per field");
  const texts = simulateKnowledge(raw, data, { seed: s.dataSeed, chunksPerField: s.chunks.user, proportions });
  return encode(texts, s, proportions);
}

/** Texts of known kinds (the knowledge world) at the settings' proportions. */
export function kindedBank(texts: KnowledgeTexts, s: QualitySettings): Promise<EncodedBank> {
  return encode(texts, s, s.proportions);
}

/** Real knowledge in named slots (DBbook: profile aspects, titles), with a row for every user and item. */
export function slottedBank(texts: KnowledgeTexts, raw: RawDataset, s: QualitySettings): Promise<EncodedBank> {
  const slotNames = { user: texts.factors.user, item: texts.factors.item };
  for (const side of ["user", "item"] as const)
    if (slotNames[side].length !== s.chunks[side])
      throw new Error(`${side} knowledge has ${slotNames[side].length} slots, the settings ${s.chunks[side]} chunks`);
  const ids = { user: raw.users.map((u) => u.id), item: raw.items.map((i) => i.id) };
  return encode(texts, s, null, { ids, slotNames });
}

/**
 * The same bank with every non-informative chunk masked: the same true facts in the same slots, the noise
 * removed (drawing clean proportions instead would also change which true facts an entity states).
 */
export function onlyInformative(built: BuiltBank): BuiltBank {
  const notInformative = (field: KnowledgeBankField) => {
    if (!field.kinds) throw new Error("the clean bank needs a bank whose chunk kinds are known");
    return Uint8Array.from(field.kinds, (k, i) => (field.mask[i] > 0 && k !== 0 ? 1 : 0));
  };
  const bank = maskBank(built.bank, { user: notInformative(built.bank.user), item: notInformative(built.bank.item) });
  const proportions: KindProportions = { informative: 1, hallucinated: 0, redundant: 0, homogeneous: 0 };
  return { bank, summary: summarise(bank, proportions, built.summary.meanCosine) };
}
