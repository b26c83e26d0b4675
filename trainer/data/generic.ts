/**
 * Generic interaction logs (CSV with a header row, or Parquet) described by a JSON column-mapping config:
 *
 *   { "name": "shop", "file": "events.csv", "format": "csv", "delimiter": ",",
 *     "columns": { "user": "uid", "item": "sku", "timestamp": "ts", "rating": "stars" },   // or "label": "clicked"
 *     "minPositiveRating": 4, "ratingLevels": 5,
 *     "itemFeatures": ["category"], "userFeatures": ["country"], "itemTitle": "name" }
 *
 * With a rating column the label is rating >= minPositiveRating; with a 0/1 label column the label is the column and
 * history ratings become 1 (negative) / 2 (positive). Side-feature columns become model fields named like the column;
 * an item's (user's) features are taken from its first row. Timestamps: numbers (any monotone clock) or ISO dates.
 */
import { readFile } from "node:fs/promises";
import { dirname, extname, resolve } from "node:path";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";
import { z } from "zod";
import { ITEM_ID_FIELD } from "../../shared/feature-encoding.ts";
import { InputFormatError } from "../util/errors.ts";
import { assertReadable, parseIdField, parseNumberField, readLines } from "./lines.ts";
import type { RawDataset, RawInteraction, RawItem, RawUser } from "./types.ts";

const fieldName = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,100}$/, "must be 1-100 of A-Z a-z 0-9 . _ - (it becomes a model field name)")
  .refine((s) => s !== ITEM_ID_FIELD, `${ITEM_ID_FIELD} is reserved`);

export const genericConfigSchema = z
  .object({
    name: z.string().min(1).default("generic"),
    /** Interaction file, relative to the config file; --data overrides it. */
    file: z.string().min(1).optional(),
    format: z.enum(["csv", "parquet"]).optional(),
    delimiter: z.string().length(1).default(","),
    columns: z.strictObject({
      user: z.string().min(1),
      item: z.string().min(1),
      timestamp: z.string().min(1),
      rating: z.string().min(1).optional(),
      label: z.string().min(1).optional(),
    }),
    minPositiveRating: z.number().optional(),
    ratingLevels: z.number().int().min(1).max(100).default(5),
    itemFeatures: z.array(fieldName).default([]),
    userFeatures: z.array(fieldName).default([]),
    itemTitle: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.columns.rating === undefined) === (c.columns.label === undefined)) {
      ctx.addIssue({ code: "custom", path: ["columns"], message: "give exactly one of rating or label" });
    }
    if (c.columns.rating !== undefined && c.minPositiveRating === undefined) {
      ctx.addIssue({ code: "custom", path: ["minPositiveRating"], message: "is required with a rating column (the label rule)" });
    }
    const all = [...c.itemFeatures, ...c.userFeatures];
    if (new Set(all).size !== all.length) ctx.addIssue({ code: "custom", path: ["itemFeatures"], message: "a column is listed twice" });
  });
export type GenericConfig = z.infer<typeof genericConfigSchema>;

export async function readGenericConfig(file: string): Promise<GenericConfig> {
  await assertReadable(file);
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new InputFormatError(file, undefined, undefined, `not valid JSON (${(error as Error).message})`);
  }
  const result = genericConfigSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new InputFormatError(file, undefined, issue.path.map(String).join(".") || "(root)", issue.message);
  }
  return result.data;
}

/** Loads a log described by `configFile`; `dataFile` (when given) replaces the config's `file`. */
export async function loadGeneric(configFile: string, dataFile?: string): Promise<RawDataset> {
  const config = await readGenericConfig(configFile);
  if (!dataFile && !config.file)
    throw new InputFormatError(configFile, undefined, "file", "no interaction file: set it here or pass --data");
  const file = dataFile ?? resolve(dirname(configFile), config.file!);
  const format = config.format ?? (extname(file).toLowerCase() === ".parquet" ? "parquet" : "csv");
  const builder = new Builder(file, config);
  if (format === "csv") await readCsv(file, config, builder);
  else await readParquet(file, config, builder);
  return builder.result();
}

/** Collects rows into a RawDataset, validating each value with the row number. */
class Builder {
  private readonly interactions: RawInteraction[] = [];
  private readonly users = new Map<string, RawUser>();
  private readonly items = new Map<string, RawItem>();
  private readonly labelMode: boolean;

  constructor(
    private readonly file: string,
    private readonly config: GenericConfig,
  ) {
    this.labelMode = config.columns.label !== undefined;
  }

  add(row: (column: string) => unknown, line: number): void {
    const { file, config } = this;
    const c = config.columns;
    const userId = parseIdField(file, line, c.user, idText(row(c.user)));
    const itemId = parseIdField(file, line, c.item, idText(row(c.item)));
    const timestamp = parseTimestamp(file, line, c.timestamp, row(c.timestamp));
    let rating: number;
    if (this.labelMode) {
      const v = row(c.label!);
      const label =
        v === true || v === 1 || v === 1n || v === "1" || v === "true"
          ? 1
          : v === false || v === 0 || v === 0n || v === "0" || v === "false"
            ? 0
            : -1;
      if (label < 0) throw new InputFormatError(file, line, c.label, `must be 0 or 1, got ${JSON.stringify(String(v))}`);
      rating = label + 1;
    } else {
      rating = parseNumberField(file, line, c.rating!, row(c.rating!), { min: 0, max: config.ratingLevels });
    }
    this.interactions.push({ userId, itemId, rating, timestamp });
    if (!this.users.has(userId)) this.users.set(userId, { id: userId, attributes: this.features(row, config.userFeatures) });
    if (!this.items.has(itemId)) {
      const title = config.itemTitle ? idText(row(config.itemTitle)) : undefined;
      const attributes = this.features(row, config.itemFeatures);
      const first = config.itemFeatures.map((f) => attributes[f]).find((v) => v !== undefined);
      this.items.set(itemId, { id: itemId, title: title || itemId, genres: first ? [first] : [], attributes });
    }
  }

  private features(row: (column: string) => unknown, columns: string[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const col of columns) {
      const v = idText(row(col))?.trim();
      if (v) out[col] = v; // an empty cell is a missing value (OOV), not an error
    }
    return out;
  }

  result(): RawDataset {
    const { config } = this;
    return {
      name: config.name,
      domain: "generic",
      users: [...this.users.values()],
      items: [...this.items.values()],
      interactions: this.interactions,
      userFieldNames: config.userFeatures,
      itemFieldNames: config.itemFeatures,
      minPositiveRating: this.labelMode ? 2 : config.minPositiveRating!,
      ratingLevels: this.labelMode ? 2 : config.ratingLevels,
    };
  }
}

function requiredColumns(config: GenericConfig): string[] {
  const c = config.columns;
  return [
    c.user,
    c.item,
    c.timestamp,
    ...(c.rating ? [c.rating] : []),
    ...(c.label ? [c.label] : []),
    ...config.itemFeatures,
    ...config.userFeatures,
    ...(config.itemTitle ? [config.itemTitle] : []),
  ];
}

async function readCsv(file: string, config: GenericConfig, builder: Builder): Promise<void> {
  let index: Map<string, number> | undefined;
  for await (const line of readLines(file)) {
    if (line.text.trim() === "") continue;
    const cells = parseCsvLine(file, line.number, line.text, config.delimiter);
    if (!index) {
      index = new Map(cells.map((name, i) => [name.trim(), i]));
      for (const col of requiredColumns(config))
        if (!index.has(col)) throw new InputFormatError(file, line.number, col, "column not found in the header row");
      continue;
    }
    if (cells.length !== index.size)
      throw new InputFormatError(file, line.number, undefined, `expected ${index.size} cells, found ${cells.length}`);
    const at = index;
    builder.add((col) => cells[at.get(col)!], line.number);
  }
  if (!index) throw new InputFormatError(file, 1, undefined, "empty file: expected a header row");
}

/** One CSV record on one line (RFC 4180 quoting with "" escapes; quoted newlines are not supported). */
export function parseCsvLine(file: string, lineNumber: number, text: string, delimiter: string): string[] {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let value = "";
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) throw new InputFormatError(file, lineNumber, `column ${cells.length + 1}`, "unterminated quoted cell");
        value += text.slice(i, q);
        if (text[q + 1] === '"') {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      if (i < text.length && text[i] !== delimiter)
        throw new InputFormatError(file, lineNumber, `column ${cells.length + 1}`, "text after a closing quote");
      cells.push(value);
    } else {
      const d = text.indexOf(delimiter, i);
      const end = d < 0 ? text.length : d;
      cells.push(text.slice(i, end));
      i = end;
    }
    if (i >= text.length) return cells;
    i++; // skip the delimiter
    if (i === text.length) {
      cells.push("");
      return cells;
    }
  }
}

async function readParquet(file: string, config: GenericConfig, builder: Builder): Promise<void> {
  await assertReadable(file);
  const buffer = await asyncBufferFromFile(file);
  let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (error) {
    throw new InputFormatError(file, undefined, undefined, `not a readable Parquet file (${(error as Error).message})`);
  }
  const present = new Set(parquetSchema(metadata).children.map((c) => c.element.name));
  const columns = [...new Set(requiredColumns(config))];
  for (const col of columns)
    if (!present.has(col)) throw new InputFormatError(file, undefined, col, "column not found in the Parquet schema");
  // One row group at a time keeps memory bounded by the largest group. Line numbers are 1-based row numbers.
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    const rows = await parquetReadObjects({ file: buffer, metadata, columns, rowStart, rowEnd });
    for (let k = 0; k < rows.length; k++) builder.add((col) => rows[k][col], rowStart + k + 1);
    rowStart = rowEnd;
  }
}

function idText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  return undefined;
}

function parseTimestamp(file: string, line: number, field: string, value: unknown): number {
  if (value instanceof Date) return value.getTime() / 1000;
  if (typeof value === "string" && value.trim() !== "" && !Number.isFinite(Number(value))) {
    const ms = Date.parse(value);
    if (!Number.isFinite(ms))
      throw new InputFormatError(file, line, field, `is neither a number nor an ISO date: ${JSON.stringify(value).slice(0, 60)}`);
    return ms / 1000;
  }
  return parseNumberField(file, line, field, value);
}
