/**
 * Each dataset's data and knowledge banks, prepared once and shared by every run of the grid:
 * - ml-100k: MovieLens-100K (or any RawDataset given, e.g. generated), users split 80/10/10, simulated knowledge at
 *   the default and the high noise;
 * - dbbook: the LLM-profiles folder with the authors' split (validation carved from train), no knowledge prefix,
 *   profiles chunked by aspect as user knowledge and titles as item knowledge;
 * - synthetic: the knowledge world (hidden tastes drive labels, new test users, cold items), its knowledge at the
 *   default kind proportions and the same bank with only its informative chunks.
 */
import { loadDbbook } from "../../trainer/data/dbbook.ts";
import { generateKnowledgeWorld } from "../../trainer/data/knowledge-world.ts";
import { loadRawDataset } from "../../trainer/data/load.ts";
import { prepareDataset } from "../../trainer/data/prepare.ts";
import type { PreparedDataset, RawDataset } from "../../trainer/data/types.ts";
import { loadDbbookKnowledge } from "../../trainer/knowledge/import-dbbook.ts";
import { worldKnowledge } from "../../trainer/knowledge/world-knowledge.ts";
import { type BuiltBank, kindedBank, onlyInformative, simulatedBank, slottedBank } from "./banks.ts";
import { dataFacts } from "./data-facts.ts";
import type { BankVariant, QualitySettings } from "./settings.ts";
import type { DataFacts } from "./types.ts";

export interface SourceSetup {
  raw: RawDataset;
  data: PreparedDataset;
  banks: Partial<Record<BankVariant, BuiltBank>>;
  facts: DataFacts;
  /** Slot names per field, where the slots are named (dbbook). */
  slotNames?: Record<"user" | "item", string[]>;
}

export interface SourceInput {
  /** The dataset folder (ml-100k, dbbook). */
  dir?: string;
  /** ml-100k only: use this dataset instead of loading the folder (tests run the protocol on generated data). */
  raw?: RawDataset;
}

/** Deterministic pick of `count` users and their interactions (a seeded partial shuffle). */
export function subsampleUsers(raw: RawDataset, count: number, seed: number): RawDataset {
  if (!(count > 0) || count >= raw.users.length) return raw;
  const ids = raw.users.map((u) => u.id);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const j = i + (state % (ids.length - i));
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  const keep = new Set(ids.slice(0, count));
  return {
    ...raw,
    name: `${raw.name}-users${count}`,
    users: raw.users.filter((u) => keep.has(u.id)),
    interactions: raw.interactions.filter((it) => keep.has(it.userId)),
  };
}

async function movieLens(s: QualitySettings, input: SourceInput): Promise<SourceSetup> {
  const loaded = input.raw ?? (await loadRawDataset({ source: "ml-100k", data: input.dir }));
  const raw = subsampleUsers(loaded, s.users, s.dataSeed);
  const data = prepareDataset(raw, { seed: s.dataSeed });
  if (!s.proportions) throw new Error("ml-100k: simulated knowledge needs kind proportions");
  const { uncompressedUser, ...built } = await simulatedBank(raw, data, s, s.proportions);
  const banks: SourceSetup["banks"] = { default: built };
  if (s.variant === "high" && s.variantConfigs.some((c) => c !== "none")) {
    if (!s.variantProportions) throw new Error("ml-100k: the high-noise bank needs its proportions");
    const { uncompressedUser: _, ...high } = await simulatedBank(raw, data, s, s.variantProportions);
    banks.high = high;
  }
  return { raw, data, banks, facts: dataFacts(data, built.bank.user, uncompressedUser) };
}

async function dbbook(s: QualitySettings, input: SourceInput): Promise<SourceSetup> {
  if (!input.dir) throw new Error("dbbook: no data folder");
  const raw = subsampleUsers(await loadDbbook(input.dir, { seed: s.dataSeed }), s.users, s.dataSeed);
  const data = prepareDataset(raw, { seed: s.dataSeed, split: "given", knowledgePrefix: 0 });
  const { texts, chunking } = await loadDbbookKnowledge(input.dir, raw);
  const { uncompressedUser, ...built } = await slottedBank(texts, raw, s);
  const slotNames = { user: texts.factors.user, item: texts.factors.item };
  const facts = { ...dataFacts(data, built.bank.user, uncompressedUser), chunking };
  return { raw, data, banks: { default: built }, facts, slotNames };
}

async function synthetic(s: QualitySettings): Promise<SourceSetup> {
  const world = generateKnowledgeWorld({
    seed: s.dataSeed,
    ...(s.users > 0 ? { users: s.users } : {}),
    ...(s.items > 0 ? { items: s.items } : {}),
  });
  const data = prepareDataset(world.raw, { seed: s.dataSeed, split: "given" });
  if (!s.proportions) throw new Error("synthetic: world knowledge needs kind proportions");
  if (s.chunks.user !== s.chunks.item) throw new Error("synthetic: world knowledge has the same number of chunks per field");
  const texts = worldKnowledge(world, { seed: s.dataSeed, chunksPerField: s.chunks.user, proportions: s.proportions });
  const { uncompressedUser, ...built } = await kindedBank(texts, s);
  const banks: SourceSetup["banks"] = { default: built };
  if (s.variant === "clean" && s.variantConfigs.some((c) => c !== "none")) banks.clean = onlyInformative(built);
  return { raw: world.raw, data, banks, facts: dataFacts(data, built.bank.user, uncompressedUser) };
}

export function setupSource(s: QualitySettings, input: SourceInput): Promise<SourceSetup> {
  switch (s.source) {
    case "ml-100k":
      return movieLens(s, input);
    case "dbbook":
      return dbbook(s, input);
    case "synthetic":
      return synthetic(s);
  }
}
