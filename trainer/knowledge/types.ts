/**
 * Knowledge texts: what an LLM (or the simulator, or an import) says about each user and item, before encoding.
 * The bank (trainer/data/types.ts KnowledgeBank) is built from these.
 */
import type { ChunkKind } from "../data/types.ts";

export type KnowledgeField = "user" | "item";
export const KNOWLEDGE_FIELDS: KnowledgeField[] = ["user", "item"];

export interface KnowledgeChunk {
  text: string;
  /** True kind when known (simulated knowledge); absent for real LLM answers. */
  kind?: ChunkKind;
  /** The factor the chunk talks about (genre, mood, ...), when known. */
  factor?: string;
  /** Fixed slot of the chunk (its aspect's position) when the chunker assigns one; else chunks fill slots in order. */
  slot?: number;
}

export interface EntityKnowledge {
  /** The whole answer as one text ("" when the entity has no knowledge). */
  text: string;
  /** Pre-split chunks; when absent, the bank splits `text` with the chunker. */
  chunks?: KnowledgeChunk[];
}

export interface KnowledgeTexts {
  /** Where the texts come from: "simulated:seed=1", "openai:gpt-4o-mini", "klg", ... */
  source: string;
  /** Factor lists used to split each field's texts into chunks. */
  factors: Record<KnowledgeField, string[]>;
  user: Map<string, EntityKnowledge>;
  item: Map<string, EntityKnowledge>;
}
