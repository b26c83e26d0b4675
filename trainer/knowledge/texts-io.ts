/**
 * Knowledge texts on disk as JSONL: a header line {"format", "source", "factors"}, then one line per entity
 * {"field", "id", "text", "chunks"?}. Written atomically; read with line-numbered errors.
 */

import { writeFileAtomicSync } from "../util/atomic-write.ts";
import { InputFormatError } from "../util/errors.ts";
import { readInputText } from "../util/input-file.ts";
import { KNOWLEDGE_FIELDS, type KnowledgeField, type KnowledgeTexts } from "./types.ts";

export const TEXTS_FORMAT = "kser-knowledge-texts/1";

export function saveTexts(path: string, texts: KnowledgeTexts): void {
  const lines = [JSON.stringify({ format: TEXTS_FORMAT, source: texts.source, factors: texts.factors })];
  for (const field of KNOWLEDGE_FIELDS) {
    for (const [id, entity] of texts[field]) lines.push(JSON.stringify({ field, id, ...entity }));
  }
  writeFileAtomicSync(path, `${lines.join("\n")}\n`);
}

export function loadTexts(path: string): KnowledgeTexts {
  const lines = readInputText(path, "knowledge texts file").split("\n");
  let header: { format?: string; source?: string; factors?: KnowledgeTexts["factors"] };
  try {
    header = JSON.parse(lines[0]);
  } catch {
    throw new InputFormatError(path, 1, undefined, "header is not valid JSON");
  }
  if (header.format !== TEXTS_FORMAT) throw new InputFormatError(path, 1, "format", `expected ${TEXTS_FORMAT}`);
  const texts: KnowledgeTexts = {
    source: header.source ?? "unknown",
    factors: header.factors ?? { user: [], item: [] },
    user: new Map(),
    item: new Map(),
  };
  lines.slice(1).forEach((line, i) => {
    if (line.trim() === "") return;
    let record: { field?: KnowledgeField; id?: string; text?: string; chunks?: { text: string }[] };
    try {
      record = JSON.parse(line);
    } catch {
      throw new InputFormatError(path, i + 2, undefined, "not valid JSON");
    }
    if (record.field !== "user" && record.field !== "item") throw new InputFormatError(path, i + 2, "field", "must be user or item");
    if (typeof record.id !== "string" || typeof record.text !== "string") throw new InputFormatError(path, i + 2, "id/text", "missing");
    texts[record.field].set(record.id, { text: record.text, ...(record.chunks ? { chunks: record.chunks } : {}) });
  });
  return texts;
}
