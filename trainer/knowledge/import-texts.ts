/**
 * Knowledge from plain files, for `kser knowledge import --texts FILE`: JSONL records {"field", "id", "text"} or a
 * CSV with a header row (columns field,id,text by default; any other names with --field-column / --id-column /
 * --text-column, or one field for the whole file with --field). Several records of the same entity (a tags file: one
 * row per tag) are joined in file order, one line each, so the chunker sees them as separate sentences. Bad records
 * are errors naming file, line and column; empty texts are counted, never silently kept.
 */
import { extname } from "node:path";
import { parseCsvLine } from "../data/tables.ts";
import { InputFormatError } from "../util/errors.ts";
import { readInputText } from "../util/input-file.ts";
import { KNOWLEDGE_FIELDS, type KnowledgeField, type KnowledgeTexts } from "./types.ts";

export interface ImportTextsOptions {
  /** jsonl or csv; default from the extension (.csv / .tsv are CSV, else JSONL). */
  format?: "jsonl" | "csv";
  /** CSV delimiter (default "," or a tab for .tsv). */
  delimiter?: string;
  /** One field for every record (the file then needs no field column / key). */
  field?: KnowledgeField;
  fieldColumn?: string;
  idColumn?: string;
  textColumn?: string;
  /** Factors that head chunks ("Genre: ..."), per field; default none (a text's own headings, else sentences). */
  factors?: Record<KnowledgeField, string[]>;
}

export interface ImportTextsStats {
  /** Records read per field. */
  records: Record<KnowledgeField, number>;
  /** Entities per field (records of one id are joined). */
  entities: Record<KnowledgeField, number>;
  /** Records whose text was empty (skipped). */
  empty: Record<KnowledgeField, number>;
}

interface TextRecord {
  field: KnowledgeField;
  id: string;
  text: string;
  line: number;
}

function fieldOf(file: string, line: number, column: string, value: unknown): KnowledgeField {
  if (value === "user" || value === "item") return value;
  throw new InputFormatError(file, line, column, `must be "user" or "item", got ${JSON.stringify(value)}`);
}

function idOf(file: string, line: number, column: string, value: unknown): string {
  const id = typeof value === "number" ? String(value) : typeof value === "string" ? value.trim() : "";
  if (!id) throw new InputFormatError(file, line, column, "missing or empty");
  return id;
}

function textOf(file: string, line: number, column: string, value: unknown): string {
  if (typeof value !== "string") throw new InputFormatError(file, line, column, "missing or not a string");
  return value.trim();
}

function* jsonlRecords(file: string, text: string, opts: ImportTextsOptions): Generator<TextRecord> {
  const [fieldKey, idKey, textKey] = [opts.fieldColumn ?? "field", opts.idColumn ?? "id", opts.textColumn ?? "text"];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(lines[i]);
    } catch {
      throw new InputFormatError(file, i + 1, undefined, "not valid JSON");
    }
    if (record === null || typeof record !== "object" || Array.isArray(record))
      throw new InputFormatError(file, i + 1, undefined, `expected an object {"${fieldKey}", "${idKey}", "${textKey}"}`);
    if (i === 0 && "format" in record) continue; // a kser-knowledge-texts header
    yield {
      field: opts.field ?? fieldOf(file, i + 1, fieldKey, record[fieldKey]),
      id: idOf(file, i + 1, idKey, record[idKey]),
      text: textOf(file, i + 1, textKey, record[textKey]),
      line: i + 1,
    };
  }
}

function* csvRecords(file: string, text: string, opts: ImportTextsOptions): Generator<TextRecord> {
  const delimiter = opts.delimiter ?? (extname(file).toLowerCase() === ".tsv" ? "\t" : ",");
  const [fieldCol, idCol, textCol] = [opts.fieldColumn ?? "field", opts.idColumn ?? "id", opts.textColumn ?? "text"];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  let index: Map<string, number> | undefined;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    const cells = parseCsvLine(file, i + 1, lines[i], delimiter);
    if (!index) {
      index = new Map(cells.map((c, k) => [c.trim(), k]));
      for (const col of [...(opts.field ? [] : [fieldCol]), idCol, textCol])
        if (!index.has(col)) throw new InputFormatError(file, i + 1, col, `column not found in the header row (${cells.join(", ")})`);
      continue;
    }
    if (cells.length !== index.size)
      throw new InputFormatError(file, i + 1, undefined, `expected ${index.size} cells, found ${cells.length}`);
    const cell = (col: string) => cells[index!.get(col)!];
    yield {
      field: opts.field ?? fieldOf(file, i + 1, fieldCol, cell(fieldCol)),
      id: idOf(file, i + 1, idCol, cell(idCol)),
      text: textOf(file, i + 1, textCol, cell(textCol)),
      line: i + 1,
    };
  }
  if (!index) throw new InputFormatError(file, 1, undefined, "empty file: expected a header row");
}

/** Reads a plain knowledge file into knowledge texts (unchunked: encode chunks them). */
export function importPlainTexts(file: string, opts: ImportTextsOptions = {}): { texts: KnowledgeTexts; stats: ImportTextsStats } {
  const ext = extname(file).toLowerCase();
  const format = opts.format ?? (ext === ".csv" || ext === ".tsv" ? "csv" : "jsonl");
  const text = readInputText(file, "knowledge texts file");
  const zero = () => ({ user: 0, item: 0 });
  const stats: ImportTextsStats = { records: zero(), entities: zero(), empty: zero() };
  const texts: KnowledgeTexts = {
    source: `import:${file}`,
    factors: opts.factors ?? { user: [], item: [] },
    user: new Map(),
    item: new Map(),
  };
  const records = format === "csv" ? csvRecords(file, text, opts) : jsonlRecords(file, text, opts);
  for (const r of records) {
    stats.records[r.field]++;
    if (r.text === "") {
      stats.empty[r.field]++;
      continue;
    }
    const known = texts[r.field].get(r.id);
    texts[r.field].set(r.id, { text: known ? `${known.text}\n${r.text}` : r.text });
  }
  for (const f of KNOWLEDGE_FIELDS) stats.entities[f] = texts[f].size;
  if (stats.entities.user + stats.entities.item === 0) throw new InputFormatError(file, undefined, undefined, "no record with a text");
  return { texts, stats };
}
