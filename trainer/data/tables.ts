/**
 * Rows of a table file, CSV (header row, RFC 4180 quoting on one line) or Parquet (any common codec: snappy, gzip,
 * zstd, brotli, lz4, through hyparquet-compressors), as callbacks with 1-based line (CSV) or row (Parquet) numbers
 * for error messages. Only the named columns are read; a missing one is an error naming file and column.
 */
import { extname } from "node:path";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { InputFormatError } from "../util/errors.ts";
import { assertReadable, readLines } from "./lines.ts";

export type TableFormat = "csv" | "parquet";

export interface TableSource {
  file: string;
  /** Default: from the extension (.parquet), else CSV. */
  format?: TableFormat;
  /** CSV only. */
  delimiter: string;
}

/** A row's value of a column (string for CSV; string, number, bigint, boolean, Date or null for Parquet). */
export type Row = (column: string) => unknown;

export function formatOf(source: TableSource): TableFormat {
  return source.format ?? (extname(source.file).toLowerCase() === ".parquet" ? "parquet" : "csv");
}

/** Calls onRow for every data row; `columns` must all exist. */
export async function readTable(source: TableSource, columns: string[], onRow: (row: Row, line: number) => void): Promise<void> {
  await assertReadable(source.file);
  if (formatOf(source) === "csv") await readCsv(source, columns, onRow);
  else await readParquet(source.file, columns, onRow);
}

/** The column names of a table (CSV header row or Parquet schema) and its first rows, for `kser data init-config`. */
export async function peekTable(source: TableSource, rows: number): Promise<{ columns: string[]; sample: Record<string, unknown>[] }> {
  await assertReadable(source.file);
  if (formatOf(source) === "csv") {
    let columns: string[] | undefined;
    const sample: Record<string, unknown>[] = [];
    for await (const line of readLines(source.file)) {
      if (line.text.trim() === "") continue;
      const cells = parseCsvLine(source.file, line.number, line.text, source.delimiter);
      if (!columns) columns = cells.map((c) => c.trim());
      else sample.push(Object.fromEntries(columns.map((c, i) => [c, cells[i]])));
      if (sample.length >= rows) break;
    }
    if (!columns) throw new InputFormatError(source.file, 1, undefined, "empty file: expected a header row");
    return { columns, sample };
  }
  const { buffer, metadata } = await openParquet(source.file);
  const columns = parquetSchema(metadata).children.map((c) => c.element.name);
  const rowEnd = Math.min(rows, Number(metadata.num_rows));
  const sample = await readRows(source.file, { file: buffer, metadata, columns, rowStart: 0, rowEnd });
  return { columns, sample };
}

async function readCsv(source: TableSource, columns: string[], onRow: (row: Row, line: number) => void): Promise<void> {
  const { file, delimiter } = source;
  let index: Map<string, number> | undefined;
  for await (const line of readLines(file)) {
    if (line.text.trim() === "") continue;
    const cells = parseCsvLine(file, line.number, line.text, delimiter);
    if (!index) {
      index = new Map(cells.map((name, i) => [name.trim(), i]));
      for (const col of columns)
        if (!index.has(col)) throw new InputFormatError(file, line.number, col, "column not found in the header row");
      continue;
    }
    if (cells.length !== index.size)
      throw new InputFormatError(file, line.number, undefined, `expected ${index.size} cells, found ${cells.length}`);
    const at = index;
    onRow((col) => cells[at.get(col)!], line.number);
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

async function openParquet(file: string) {
  const buffer = await asyncBufferFromFile(file);
  try {
    return { buffer, metadata: await parquetMetadataAsync(buffer) };
  } catch (error) {
    throw new InputFormatError(file, undefined, undefined, `not a readable Parquet file (${(error as Error).message})`);
  }
}

type ReadOptions = Parameters<typeof parquetReadObjects>[0];

/** Rows of one range; a page the codecs cannot decode is an error naming the file, not a stack trace. */
async function readRows(file: string, options: ReadOptions): Promise<Record<string, unknown>[]> {
  try {
    return await parquetReadObjects({ ...options, compressors });
  } catch (error) {
    const rows = `rows ${(options.rowStart ?? 0) + 1}-${options.rowEnd}`;
    throw new InputFormatError(file, undefined, undefined, `cannot read ${rows} (${(error as Error).message})`);
  }
}

async function readParquet(file: string, wanted: string[], onRow: (row: Row, line: number) => void): Promise<void> {
  const { buffer, metadata } = await openParquet(file);
  const present = new Set(parquetSchema(metadata).children.map((c) => c.element.name));
  const columns = [...new Set(wanted)];
  for (const col of columns)
    if (!present.has(col)) throw new InputFormatError(file, undefined, col, "column not found in the Parquet schema");
  // One row group at a time keeps memory bounded by the largest group. Line numbers are 1-based row numbers.
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    const rows = await readRows(file, { file: buffer, metadata, columns, rowStart, rowEnd });
    for (let k = 0; k < rows.length; k++) onRow((col) => rows[k][col], rowStart + k + 1);
    rowStart = rowEnd;
  }
}
