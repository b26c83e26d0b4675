/**
 * What chunking K slots per entity does to a field's texts, for the person importing or encoding them: chunks made,
 * pieces merged (a text with more headed sections or sentences than K has the extra ones joined to a chunk), and
 * entities left with masked slots or dropped (no text). Texts with pre-split chunks count as they are.
 */
import { chunkText } from "./chunker.ts";
import type { KnowledgeField, KnowledgeTexts } from "./types.ts";

export interface ChunkReport {
  entities: number;
  /** Present chunks over all entities. */
  made: number;
  /** Pieces (headed sections or sentences) joined into another chunk because there were more than K. */
  merged: number;
  /** Entities with fewer than K chunks (the rest of their slots masked). */
  short: number;
  /** Entities whose text is empty: no chunk at all. */
  dropped: number;
}

/** More slots than chunkText can find pieces in a text (pieces end at line breaks or . ! ?), so none is merged. */
const roomFor = (text: string) => (text.match(/[\n.!?]/g)?.length ?? 0) + 1;

export function chunkReport(texts: KnowledgeTexts, field: KnowledgeField, k: number): ChunkReport {
  const report: ChunkReport = { entities: texts[field].size, made: 0, merged: 0, short: 0, dropped: 0 };
  for (const entity of texts[field].values()) {
    const count = (chunks: { text: string }[] | Float32Array) =>
      chunks instanceof Float32Array ? chunks.reduce((a, b) => a + b, 0) : chunks.filter((c) => c.text.trim()).length;
    const pieces = entity.chunks ? count(entity.chunks) : count(chunkText(entity.text, roomFor(entity.text), texts.factors[field]).mask);
    const made = Math.min(pieces, k);
    report.made += made;
    report.merged += pieces - made;
    if (made === 0) report.dropped++;
    else if (made < k) report.short++;
  }
  return report;
}

export function describeChunkReport(field: KnowledgeField, k: number, r: ChunkReport): string {
  return (
    `${field}: ${r.entities} entities into ${k} chunks each: ${r.made} chunks made, ${r.merged} pieces merged into another chunk, ` +
    `${r.short} entities with masked slots, ${r.dropped} dropped (no text)`
  );
}
