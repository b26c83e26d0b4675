/**
 * Streams a text file line by line (constant memory on multi-GB logs), with 1-based line numbers for error messages,
 * and the small parsing helpers the loaders share so every bad value is reported the same way.
 */
import { createReadStream } from "node:fs";
import { access, stat } from "node:fs/promises";
import { createInterface } from "node:readline";
import { createGunzip } from "node:zlib";
import { InputFormatError } from "../util/errors.ts";

export interface Line {
  /** 1-based line number in the file. */
  number: number;
  text: string;
}

/** Lines of a text file; a `.gz` file is decompressed on the fly (Amazon's dumps ship gzipped). */
export async function* readLines(file: string, encoding: BufferEncoding = "utf8"): AsyncGenerator<Line> {
  await assertReadable(file);
  const raw = createReadStream(file);
  const input = file.endsWith(".gz") ? raw.pipe(createGunzip()) : raw;
  input.setEncoding(encoding);
  raw.on("error", (e) => input.destroy(e));
  const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let number = 0;
  for await (const text of rl) {
    number++;
    if (number === 1 && text.charCodeAt(0) === 0xfeff)
      yield { number, text: text.slice(1) }; // UTF-8 BOM
    else yield { number, text };
  }
}

export async function assertReadable(file: string): Promise<void> {
  try {
    await access(file);
  } catch {
    throw new InputFormatError(file, undefined, undefined, "file not found or not readable");
  }
  if ((await stat(file)).isDirectory()) throw new InputFormatError(file, undefined, undefined, "is a folder; give the file itself");
}

/** Splits a line into exactly `names.length` fields, or throws naming the first missing one. */
export function splitFields(file: string, line: Line, separator: string, names: readonly string[], allowExtra = false): string[] {
  const parts = line.text.split(separator);
  if (parts.length < names.length) {
    throw new InputFormatError(
      file,
      line.number,
      names[parts.length],
      `expected ${names.length} ${JSON.stringify(separator)}-separated fields, found ${parts.length}`,
    );
  }
  if (!allowExtra && parts.length > names.length) {
    throw new InputFormatError(
      file,
      line.number,
      undefined,
      `expected ${names.length} ${JSON.stringify(separator)}-separated fields, found ${parts.length}`,
    );
  }
  return parts;
}

export function parseIdField(file: string, line: number, field: string, value: string | undefined): string {
  const v = value?.trim();
  if (!v) throw new InputFormatError(file, line, field, "is empty");
  return v;
}

export function parseNumberField(
  file: string,
  line: number,
  field: string,
  value: unknown,
  rule: { integer?: boolean; min?: number; max?: number } = {},
): number {
  const n =
    typeof value === "number"
      ? value
      : typeof value === "bigint"
        ? Number(value)
        : typeof value === "string" && value.trim() !== ""
          ? Number(value)
          : Number.NaN;
  if (!Number.isFinite(n)) throw new InputFormatError(file, line, field, `is not a number: ${JSON.stringify(String(value)).slice(0, 60)}`);
  if (rule.integer && !Number.isInteger(n)) throw new InputFormatError(file, line, field, `must be a whole number, got ${n}`);
  if (rule.min !== undefined && n < rule.min) throw new InputFormatError(file, line, field, `must be >= ${rule.min}, got ${n}`);
  if (rule.max !== undefined && n > rule.max) throw new InputFormatError(file, line, field, `must be <= ${rule.max}, got ${n}`);
  return n;
}
