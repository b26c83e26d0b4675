/**
 * Import of precomputed knowledge vectors as one bank field:
 * - .npy (float32 or float16, C order), shape (n, d) -> K = 1, or (n, K, d); ids from a list (default "0".."n-1");
 *   an all-zero vector counts as missing;
 * - JSONL, one entity per line: {"id", "vector": [...]} (K = 1) or {"id", "chunks": [[...] | null, ...]};
 * - KAR's *_augment JSON: {id: vector} (or {id: [vector, ...]}).
 */
import { extname } from "node:path";
import { fromFloat16Bits } from "../../shared/float16.ts";
import { quantizeLikeCodec } from "../../shared/vector-codec.ts";
import type { KnowledgeBankField } from "../data/types.ts";
import { InputFormatError, UserFacingError } from "../util/errors.ts";
import { readInputFile, readInputText } from "../util/input-file.ts";
import { finishBank, type StoredBank } from "./bank.ts";

export type VectorFileFormat = "npy" | "jsonl" | "augment";

export interface ImportVectorsOptions {
  format?: VectorFileFormat;
  /** Entity ids of the rows of an .npy file. */
  ids?: string[];
}

export function guessFormat(path: string): VectorFileFormat {
  const ext = extname(path).toLowerCase();
  if (ext === ".npy") return "npy";
  if (ext === ".jsonl" || ext === ".ndjson") return "jsonl";
  if (ext === ".json") return "augment";
  throw new UserFacingError(`cannot tell the format of ${path} from its extension: pass --format npy|jsonl|augment`);
}

/** Builds a field from per-entity chunk lists (null = missing chunk); all vectors must share one dimension. */
function assemble(path: string, entities: { id: string; chunks: (number[] | null)[]; line?: number }[]): KnowledgeBankField {
  const k = Math.max(1, ...entities.map((e) => e.chunks.length));
  let dim = 0;
  for (const e of entities) for (const c of e.chunks) if (c) dim ||= c.length;
  if (dim === 0) throw new InputFormatError(path, undefined, undefined, "no vectors found");
  const values = new Float32Array(entities.length * k * dim);
  const mask = new Float32Array(entities.length * k);
  const seen = new Set<string>();
  entities.forEach((e, i) => {
    if (seen.has(e.id)) throw new InputFormatError(path, e.line, "id", `duplicate id ${e.id}`);
    seen.add(e.id);
    e.chunks.forEach((c, j) => {
      if (c === null) return;
      if (!Array.isArray(c) || c.length !== dim || !c.every((x) => typeof x === "number" && Number.isFinite(x))) {
        throw new InputFormatError(path, e.line, e.id, `vector ${j} is not ${dim} finite numbers`);
      }
      values.set(c, (i * k + j) * dim);
      mask[i * k + j] = 1;
    });
  });
  return { ids: entities.map((e) => e.id), chunks: k, dim, values, mask };
}

function readNpy(path: string, ids?: string[]): KnowledgeBankField {
  const bytes = readInputFile(path, "vector file");
  if (bytes.length < 10 || bytes[0] !== 0x93 || bytes.toString("latin1", 1, 6) !== "NUMPY") {
    throw new InputFormatError(path, undefined, undefined, "not an .npy file (magic missing)");
  }
  const major = bytes[6];
  const headerLen = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = bytes.toString("latin1", headerStart, headerStart + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shape = /'shape':\s*\(([^)]*)\)/
    .exec(header)?.[1]
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map(Number);
  if (!descr || !fortran || !shape) throw new InputFormatError(path, undefined, undefined, "unreadable .npy header");
  if (fortran === "True")
    throw new InputFormatError(path, undefined, undefined, "Fortran-order arrays are not supported (save with C order)");
  if (descr !== "<f4" && descr !== "<f2")
    throw new InputFormatError(path, undefined, "dtype", `${descr} is not supported (float32 <f4 or float16 <f2)`);
  if (shape.length !== 2 && shape.length !== 3)
    throw new InputFormatError(path, undefined, "shape", `expected (n, d) or (n, K, d), got (${shape})`);
  const [n, k, d] = shape.length === 2 ? [shape[0], 1, shape[1]] : shape;
  const width = descr === "<f4" ? 4 : 2;
  const dataStart = headerStart + headerLen;
  if (bytes.length - dataStart !== n * k * d * width) {
    throw new InputFormatError(
      path,
      undefined,
      undefined,
      `data is ${bytes.length - dataStart} bytes, shape (${shape}) needs ${n * k * d * width}`,
    );
  }
  if (ids && ids.length !== n) throw new UserFacingError(`${path} has ${n} rows but ${ids.length} ids were given`);
  const values = new Float32Array(n * k * d);
  const view = new DataView(bytes.buffer, bytes.byteOffset + dataStart, n * k * d * width);
  for (let i = 0; i < values.length; i++)
    values[i] = width === 4 ? view.getFloat32(i * 4, true) : fromFloat16Bits(view.getUint16(i * 2, true));
  const mask = new Float32Array(n * k);
  for (let r = 0; r < n * k; r++) {
    for (let j = 0; j < d; j++) {
      if (values[r * d + j] !== 0) {
        mask[r] = 1;
        break;
      }
    }
  }
  return { ids: ids ?? Array.from({ length: n }, (_, i) => String(i)), chunks: k, dim: d, values, mask };
}

function readJsonl(path: string): KnowledgeBankField {
  const lines = readInputText(path, "vector file").split("\n");
  const entities: { id: string; chunks: (number[] | null)[]; line: number }[] = [];
  lines.forEach((text, i) => {
    if (text.trim() === "") return;
    let record: { id?: unknown; vector?: unknown; chunks?: unknown };
    try {
      record = JSON.parse(text);
    } catch {
      throw new InputFormatError(path, i + 1, undefined, "not valid JSON");
    }
    if (typeof record.id !== "string" && typeof record.id !== "number") throw new InputFormatError(path, i + 1, "id", "missing");
    const chunks = record.chunks !== undefined ? record.chunks : record.vector !== undefined ? [record.vector] : undefined;
    if (!Array.isArray(chunks)) throw new InputFormatError(path, i + 1, "vector", "need vector: [...] or chunks: [[...], ...]");
    entities.push({ id: String(record.id), chunks: chunks as (number[] | null)[], line: i + 1 });
  });
  return assemble(path, entities);
}

function readAugment(path: string): KnowledgeBankField {
  let json: unknown;
  try {
    json = JSON.parse(readInputText(path, "vector file"));
  } catch (error) {
    throw new InputFormatError(path, undefined, undefined, `not valid JSON (${(error as Error).message})`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json))
    throw new InputFormatError(path, undefined, undefined, "expected {id: vector}");
  return assemble(
    path,
    Object.entries(json as Record<string, unknown>).map(([id, v]) => ({
      id,
      chunks: (Array.isArray(v) && Array.isArray(v[0]) ? v : [v]) as number[][],
    })),
  );
}

export function importVectors(path: string, opts: ImportVectorsOptions = {}): KnowledgeBankField {
  readInputFile(path, "vector file"); // one line for a missing file or a folder, before any parsing
  const format = opts.format ?? guessFormat(path);
  if (format === "npy") return readNpy(path, opts.ids);
  if (format === "jsonl") return readJsonl(path);
  return readAugment(path);
}

/** A bank from imported fields (values rounded to float16 like an encoded bank). */
export function bankFromVectors(user: KnowledgeBankField, item: KnowledgeBankField, encoder: string): StoredBank {
  const round = (f: KnowledgeBankField): KnowledgeBankField => ({ ...f, values: quantizeLikeCodec(f.values, f.dim, "f16") });
  return finishBank({ encoder, user: round(user), item: round(item), codec: "f16", corpusHash: "", source: `import:${encoder}` });
}
