/**
 * Knowledge bank: every entity's K chunk vectors per field, with masks and (for simulated knowledge) true kinds.
 * buildBank chunks and encodes texts; saveBank/loadBank keep a bank on disk:
 *   manifest.json        format, bankId, encoder, dimension, chunks, codec, corpus hash, per-field counts
 *   user.ksv, item.ksv   ids + masks + values in the KV shard format (shared/vector-codec.ts), f16 by default
 *   user.kinds, ...      n*K bytes, index into CHUNK_KINDS, 255 where the slot is masked (only when kinds are known)
 *   encoder.json         the encoder's fitted state (hash encoder idf), so new texts encode the same way
 * bankId is a short hash of the stored contents, so equal banks get equal ids and a load can verify its files.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { decodeShard, encodeShard, quantizeLikeCodec, type VectorCodec } from "../../shared/vector-codec.ts";
import { CHUNK_KINDS, type ChunkKind, type KnowledgeBank, type KnowledgeBankField } from "../data/types.ts";
import { writeFileAtomicSync } from "../util/atomic-write.ts";
import { UserFacingError } from "../util/errors.ts";
import { chunkText } from "./chunker.ts";
import type { KnowledgeEncoder } from "./encoders/types.ts";
import { KNOWLEDGE_FIELDS, type KnowledgeChunk, type KnowledgeField, type KnowledgeTexts } from "./types.ts";

export const BANK_FORMAT = "kser-knowledge-bank/1";
/** Kind byte of a masked slot. */
export const NO_KIND = 255;

/** A bank plus what its manifest records besides the contract fields. */
export interface StoredBank extends KnowledgeBank {
  /** How the values are stored (and already rounded): f16 after encoding, i8 after compression. */
  codec: VectorCodec;
  /** Hash of every chunk text in bank order ("" for imported vectors). */
  corpusHash: string;
  /** Where the texts came from (simulated, LLM, import). */
  source: string;
  /** The encoder's fitted state, if it has one. */
  encoderState?: unknown;
  /** Extra manifest entries (e.g. compression report). */
  extra?: Record<string, unknown>;
}

export interface BuildBankOptions {
  /** Chunks per entity (K), for both fields or per field. */
  chunks: number | Record<KnowledgeField, number>;
  /** Entities to include per field, in this order (entities without texts get fully masked rows); default: the texts' keys. */
  ids?: Partial<Record<KnowledgeField, string[]>>;
  /** Called after each encode batch with (texts done, texts total). */
  onProgress?: (done: number, total: number) => void;
  /** Texts per encoder call; default 4096. */
  batchSize?: number;
}

interface FieldChunks {
  ids: string[];
  texts: string[];
  mask: Float32Array;
  kinds: Uint8Array;
  kindsKnown: boolean;
}

function fieldChunks(texts: KnowledgeTexts, field: KnowledgeField, k: number, ids: string[]): FieldChunks {
  const out: FieldChunks = {
    ids,
    texts: new Array<string>(ids.length * k).fill(""),
    mask: new Float32Array(ids.length * k),
    kinds: new Uint8Array(ids.length * k).fill(NO_KIND),
    kindsKnown: true,
  };
  ids.forEach((id, e) => {
    const entry = texts[field].get(id);
    if (!entry) return;
    let pieces: { text: string; kind?: ChunkKind }[];
    if (entry.chunks?.some((c) => c.slot !== undefined)) {
      pieces = slotted(entry.chunks, k, field, id);
    } else if (entry.chunks) {
      pieces = entry.chunks.filter((c) => c.text.trim().length > 0);
      if (pieces.length > k) {
        // Fold the tail into the last slot; it keeps the kind of its first piece.
        const tail = pieces.slice(k - 1);
        pieces = [...pieces.slice(0, k - 1), { text: tail.map((p) => p.text).join(" "), kind: tail[0].kind }];
      }
    } else {
      const split = chunkText(entry.text, k, texts.factors[field]);
      pieces = split.chunks.filter((_, i) => split.mask[i] > 0).map((text) => ({ text }));
    }
    pieces.forEach((piece, c) => {
      if (piece.text === "") return;
      out.texts[e * k + c] = piece.text;
      out.mask[e * k + c] = 1;
      if (piece.kind === undefined) out.kindsKnown = false;
      else out.kinds[e * k + c] = CHUNK_KINDS.indexOf(piece.kind);
    });
  });
  return out;
}

/** Chunks placed at their own slots (an aspect chunker's output); empty slots stay "" (masked). */
function slotted(chunks: KnowledgeChunk[], k: number, field: KnowledgeField, id: string): { text: string; kind?: ChunkKind }[] {
  const pieces: { text: string; kind?: ChunkKind }[] = Array.from({ length: k }, () => ({ text: "" }));
  for (const c of chunks) {
    if (c.slot === undefined || !Number.isInteger(c.slot) || c.slot < 0 || c.slot >= k)
      throw new RangeError(`${field} ${id}: chunk slot ${c.slot} is outside 0..${k - 1} (or missing beside slotted chunks)`);
    if (pieces[c.slot].text !== "") throw new RangeError(`${field} ${id}: two chunks in slot ${c.slot}`);
    pieces[c.slot] = { text: c.text.trim(), kind: c.kind };
  }
  return pieces;
}

/** Chunks every entity's text, encodes each distinct chunk text once, and rounds the vectors to float16. */
export async function buildBank(texts: KnowledgeTexts, encoder: KnowledgeEncoder, opts: BuildBankOptions): Promise<StoredBank> {
  const chunksOf = (f: KnowledgeField) => (typeof opts.chunks === "number" ? opts.chunks : opts.chunks[f]);
  for (const f of KNOWLEDGE_FIELDS) {
    const k = chunksOf(f);
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`chunks must be a positive integer, got ${k} (${f})`);
  }
  const fields = Object.fromEntries(
    KNOWLEDGE_FIELDS.map((f) => [f, fieldChunks(texts, f, chunksOf(f), opts.ids?.[f] ?? [...texts[f].keys()])]),
  ) as Record<KnowledgeField, FieldChunks>;
  const present: string[] = [];
  for (const f of KNOWLEDGE_FIELDS) {
    fields[f].texts.forEach((t, i) => {
      if (fields[f].mask[i] > 0) present.push(t);
    });
  }
  encoder.fit?.(present);
  // Homogeneous filler repeats across entities: encode each distinct text once (saves API calls and time).
  const unique = [...new Set(present)];
  const row = new Map<string, number>(unique.map((t, i) => [t, i]));
  const d = encoder.dim;
  const encoded = new Float32Array(unique.length * d);
  const batch = opts.batchSize ?? 4096;
  for (let start = 0; start < unique.length; start += batch) {
    const part = unique.slice(start, start + batch);
    const vectors = await encoder.encode(part);
    if (vectors.length !== part.length * d) {
      throw new Error(`encoder ${encoder.name} returned ${vectors.length} values for ${part.length} texts of dimension ${d}`);
    }
    encoded.set(vectors, start * d);
    opts.onProgress?.(Math.min(start + batch, unique.length), unique.length);
  }
  const corpus = createHash("sha256");
  const toField = (f: KnowledgeField): KnowledgeBankField => {
    const src = fields[f];
    const k = chunksOf(f);
    const values = new Float32Array(src.ids.length * k * d);
    src.texts.forEach((text, i) => {
      if (src.mask[i] === 0) return;
      corpus.update(text).update("\u0000");
      values.set(encoded.subarray(row.get(text)! * d, (row.get(text)! + 1) * d), i * d);
    });
    return {
      ids: src.ids,
      chunks: k,
      dim: d,
      values: quantizeLikeCodec(values, d, "f16"),
      mask: src.mask,
      // Kinds are known when every present chunk has one (simulated knowledge); a field without chunks records none.
      ...(src.kindsKnown && src.mask.some((m) => m > 0) ? { kinds: src.kinds } : {}),
    };
  };
  const user = toField("user");
  const item = toField("item");
  return finishBank({
    encoder: encoder.name,
    user,
    item,
    codec: "f16",
    corpusHash: corpus.digest("hex").slice(0, 16),
    source: texts.source,
    encoderState: encoder.state?.(),
  });
}

function shardOf(field: KnowledgeBankField, codec: VectorCodec): Uint8Array {
  const { chunks: k, dim: d } = field;
  return encodeShard({
    codec,
    chunks: k,
    dim: d,
    entities: field.ids.map((id, e) => ({
      id,
      values: field.values.subarray(e * k * d, (e + 1) * k * d),
      mask: field.mask.subarray(e * k, (e + 1) * k),
    })),
  });
}

function idOf(encoder: string, shards: Uint8Array[], kinds: (Uint8Array | undefined)[]): string {
  const h = createHash("sha256").update(encoder);
  for (const s of shards) h.update(s);
  for (const k of kinds) h.update(k ?? new Uint8Array(0)).update("|");
  return h.digest("hex").slice(0, 12);
}

/** Fills in bankId (a hash of the stored form) for a bank assembled from fields. */
export function finishBank(bank: Omit<StoredBank, "bankId">): StoredBank {
  for (const f of KNOWLEDGE_FIELDS) checkField(bank[f], f);
  const shards = KNOWLEDGE_FIELDS.map((f) => shardOf(bank[f], bank.codec));
  return { bankId: idOf(bank.encoder, shards, [bank.user.kinds, bank.item.kinds]), ...bank };
}

function checkField(field: KnowledgeBankField, name: string): void {
  const n = field.ids.length;
  if (field.values.length !== n * field.chunks * field.dim)
    throw new Error(`${name} field: values length does not match ids x chunks x dim`);
  if (field.mask.length !== n * field.chunks) throw new Error(`${name} field: mask length does not match ids x chunks`);
  if (field.kinds && field.kinds.length !== n * field.chunks) throw new Error(`${name} field: kinds length does not match ids x chunks`);
}

interface BankManifest {
  format: string;
  bankId: string;
  encoder: string;
  codec: VectorCodec;
  corpusHash: string;
  source: string;
  createdAt: string;
  fields: Record<KnowledgeField, { count: number; chunks: number; dim: number; file: string; kinds?: string }>;
  extra?: Record<string, unknown>;
}

/** Writes the bank into dir (created if needed); each file is written atomically, the manifest last. */
export function saveBank(dir: string, bank: StoredBank): void {
  const shards = KNOWLEDGE_FIELDS.map((f) => shardOf(bank[f], bank.codec));
  const bankId = idOf(bank.encoder, shards, [bank.user.kinds, bank.item.kinds]);
  const fields = {} as BankManifest["fields"];
  KNOWLEDGE_FIELDS.forEach((f, i) => {
    const field = bank[f];
    writeFileAtomicSync(join(dir, `${f}.ksv`), shards[i]);
    if (field.kinds) writeFileAtomicSync(join(dir, `${f}.kinds`), field.kinds);
    fields[f] = {
      count: field.ids.length,
      chunks: field.chunks,
      dim: field.dim,
      file: `${f}.ksv`,
      ...(field.kinds ? { kinds: `${f}.kinds` } : {}),
    };
  });
  if (bank.encoderState !== undefined) writeFileAtomicSync(join(dir, "encoder.json"), JSON.stringify(bank.encoderState));
  const manifest: BankManifest = {
    format: BANK_FORMAT,
    bankId,
    encoder: bank.encoder,
    codec: bank.codec,
    corpusHash: bank.corpusHash,
    source: bank.source,
    createdAt: new Date().toISOString(),
    fields,
    ...(bank.extra ? { extra: bank.extra } : {}),
  };
  writeFileAtomicSync(join(dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
}

function readBankFile(dir: string, name: string): Uint8Array {
  const path = join(dir, name);
  if (!existsSync(path)) throw new UserFacingError(`knowledge bank ${dir} is missing ${name}`);
  return readFileSync(path);
}

/** Reads a bank written by saveBank; verifies shapes and that the contents still hash to the manifest's bankId. */
export function loadBank(dir: string): StoredBank {
  let manifest: BankManifest;
  try {
    manifest = JSON.parse(new TextDecoder().decode(readBankFile(dir, "manifest.json")));
  } catch (error) {
    if (error instanceof UserFacingError) throw error;
    throw new UserFacingError(`knowledge bank ${dir}: manifest.json is not valid JSON`);
  }
  if (manifest.format !== BANK_FORMAT)
    throw new UserFacingError(`knowledge bank ${dir}: format ${manifest.format}, expected ${BANK_FORMAT}`);
  const shards: Uint8Array[] = [];
  const loaded = {} as Record<KnowledgeField, KnowledgeBankField>;
  for (const f of KNOWLEDGE_FIELDS) {
    const meta = manifest.fields[f];
    const bytes = readBankFile(dir, meta.file);
    shards.push(bytes);
    let shard: ReturnType<typeof decodeShard>;
    try {
      shard = decodeShard(bytes);
    } catch (error) {
      throw new UserFacingError(`knowledge bank ${dir}/${meta.file}: ${(error as Error).message}`);
    }
    if (shard.ids.length !== meta.count || shard.chunks !== meta.chunks || shard.dim !== meta.dim) {
      throw new UserFacingError(`knowledge bank ${dir}/${meta.file}: shape differs from manifest.json`);
    }
    const { chunks: k, dim: d } = shard;
    const values = new Float32Array(shard.ids.length * k * d);
    const mask = new Float32Array(shard.ids.length * k);
    shard.ids.forEach((id, e) => {
      const v = shard.get(id)!;
      values.set(v.values, e * k * d);
      mask.set(v.mask, e * k);
    });
    let kinds: Uint8Array | undefined;
    if (meta.kinds) {
      kinds = new Uint8Array(readBankFile(dir, meta.kinds));
      if (kinds.length !== shard.ids.length * k) throw new UserFacingError(`knowledge bank ${dir}/${meta.kinds}: wrong length`);
    }
    loaded[f] = { ids: shard.ids, chunks: k, dim: d, values, mask, ...(kinds ? { kinds } : {}) };
  }
  const bankId = idOf(manifest.encoder, shards, [loaded.user.kinds, loaded.item.kinds]);
  if (bankId !== manifest.bankId) {
    throw new UserFacingError(
      `knowledge bank ${dir}: contents hash to ${bankId}, manifest says ${manifest.bankId} (files mixed or modified)`,
    );
  }
  const encoderPath = join(dir, "encoder.json");
  return {
    bankId,
    encoder: manifest.encoder,
    user: loaded.user,
    item: loaded.item,
    codec: manifest.codec,
    corpusHash: manifest.corpusHash,
    source: manifest.source,
    ...(existsSync(encoderPath) ? { encoderState: JSON.parse(readFileSync(encoderPath, "utf8")) } : {}),
    ...(manifest.extra ? { extra: manifest.extra } : {}),
  };
}
