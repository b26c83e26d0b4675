/**
 * Binary codec for packed entity vectors in KV: knowledge chunks (K x d per entity, with a chunk mask) and
 * precomputed item vectors (K = 1). Many entities share one value because KV's multi-key get cannot return binary.
 *
 * Layout (little endian):
 *   0  "KSV1" magic            4 bytes
 *   4  codec (0 f32, 1 f16, 2 i8)  u8
 *   5  reserved                u8
 *   6  chunks K                u16
 *   8  dim d                   u16
 *  10  reserved                u16
 *  12  entity count n          u32
 *  16  body byte length        u32
 *  20  crc32 of body           u32
 *  24  body: ids (u16 length + UTF-8, per entity), padding to 4 bytes, masks (n*K u8, padded to 4),
 *      scales (i8 only: n*K f32), values (n*K*d as f32 / f16 / i8)
 */
import { fromFloat16Bits, toFloat16Bits } from "./float16.ts";
import { crc32 } from "./hash.ts";

export type VectorCodec = "f32" | "f16" | "i8";
const CODEC_IDS: Record<VectorCodec, number> = { f32: 0, f16: 1, i8: 2 };
const CODEC_NAMES: VectorCodec[] = ["f32", "f16", "i8"];
const HEADER_BYTES = 24;
const MAGIC = 0x3156534b; // "KSV1" read as little-endian u32

export interface EntityVectors {
  /** K*d values, chunk-major. */
  values: Float32Array;
  /** K entries, 1 where the chunk exists, 0 where it is missing. */
  mask: Float32Array;
}

export interface EncodeShardInput {
  codec: VectorCodec;
  chunks: number;
  dim: number;
  entities: { id: string; values: Float32Array; mask: Float32Array }[];
}

export class ShardFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ShardFormatError";
  }
}

const align4 = (n: number) => (n + 3) & ~3;
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export function encodeShard(input: EncodeShardInput): Uint8Array {
  const { codec, chunks: K, dim: d, entities } = input;
  if (K < 1 || K > 65535 || d < 1 || d > 65535) throw new Error(`shard shape out of range: K=${K}, d=${d}`);
  const idBytes = entities.map((e) => {
    const b = textEncoder.encode(e.id);
    if (b.length > 65535) throw new Error(`entity id too long: ${e.id.slice(0, 40)}...`);
    return b;
  });
  const n = entities.length;
  const idsLen = align4(idBytes.reduce((s, b) => s + 2 + b.length, 0));
  const masksLen = align4(n * K);
  const scalesLen = codec === "i8" ? n * K * 4 : 0;
  const valueBytes = codec === "f32" ? 4 : codec === "f16" ? 2 : 1;
  const valuesLen = align4(n * K * d * valueBytes);
  const bodyLen = idsLen + masksLen + scalesLen + valuesLen;
  const out = new Uint8Array(HEADER_BYTES + bodyLen);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint8(4, CODEC_IDS[codec]);
  view.setUint16(6, K, true);
  view.setUint16(8, d, true);
  view.setUint32(12, n, true);
  view.setUint32(16, bodyLen, true);
  let p = HEADER_BYTES;
  for (const b of idBytes) {
    view.setUint16(p, b.length, true);
    out.set(b, p + 2);
    p += 2 + b.length;
  }
  const masksAt = HEADER_BYTES + idsLen;
  const scalesAt = masksAt + masksLen;
  const valuesAt = scalesAt + scalesLen;
  entities.forEach((e, i) => {
    if (e.values.length !== K * d) throw new Error(`entity ${e.id}: expected ${K * d} values, got ${e.values.length}`);
    if (e.mask.length !== K) throw new Error(`entity ${e.id}: expected ${K} mask entries, got ${e.mask.length}`);
    for (let k = 0; k < K; k++) {
      out[masksAt + i * K + k] = e.mask[k] > 0 ? 1 : 0;
      const base = (i * K + k) * d;
      if (codec === "f32") {
        for (let j = 0; j < d; j++) view.setFloat32(valuesAt + (base + j) * 4, e.values[k * d + j], true);
      } else if (codec === "f16") {
        for (let j = 0; j < d; j++) view.setUint16(valuesAt + (base + j) * 2, toFloat16Bits(e.values[k * d + j]), true);
      } else {
        let maxAbs = 0;
        for (let j = 0; j < d; j++) maxAbs = Math.max(maxAbs, Math.abs(e.values[k * d + j]));
        const scale = Math.fround(maxAbs > 0 ? maxAbs / 127 : 1);
        view.setFloat32(scalesAt + (i * K + k) * 4, scale, true);
        for (let j = 0; j < d; j++) view.setInt8(valuesAt + base + j, Math.round(e.values[k * d + j] / scale));
      }
    }
  });
  view.setUint32(20, crc32(out.subarray(HEADER_BYTES)), true);
  return out;
}

export interface DecodedShard {
  codec: VectorCodec;
  chunks: number;
  dim: number;
  ids: string[];
  /** Vectors of one entity, or undefined when the shard does not hold it. */
  get(id: string): EntityVectors | undefined;
  /** Bytes of the encoded value, for cache accounting. */
  byteLength: number;
}

/** Decodes and verifies a shard; throws ShardFormatError naming what is wrong (length, magic, checksum). */
export function decodeShard(buffer: ArrayBuffer | Uint8Array): DecodedShard {
  const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  if (bytes.length < HEADER_BYTES)
    throw new ShardFormatError(`shard is ${bytes.length} bytes, shorter than its ${HEADER_BYTES}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw new ShardFormatError("shard does not start with the KSV1 magic");
  const codec = CODEC_NAMES[view.getUint8(4)];
  if (!codec) throw new ShardFormatError(`unknown shard codec id ${view.getUint8(4)}`);
  const K = view.getUint16(6, true);
  const d = view.getUint16(8, true);
  const n = view.getUint32(12, true);
  const bodyLen = view.getUint32(16, true);
  if (bytes.length !== HEADER_BYTES + bodyLen) {
    throw new ShardFormatError(`shard length ${bytes.length} does not match its header (${HEADER_BYTES + bodyLen})`);
  }
  if (crc32(bytes.subarray(HEADER_BYTES)) !== view.getUint32(20, true)) throw new ShardFormatError("shard checksum mismatch");
  const ids: string[] = [];
  const index = new Map<string, number>();
  let p = HEADER_BYTES;
  for (let i = 0; i < n; i++) {
    const len = view.getUint16(p, true);
    const id = textDecoder.decode(bytes.subarray(p + 2, p + 2 + len));
    ids.push(id);
    index.set(id, i);
    p += 2 + len;
  }
  const masksAt = HEADER_BYTES + align4(p - HEADER_BYTES);
  const scalesAt = masksAt + align4(n * K);
  const valuesAt = scalesAt + (codec === "i8" ? n * K * 4 : 0);
  return {
    codec,
    chunks: K,
    dim: d,
    ids,
    byteLength: bytes.length,
    get(id: string) {
      const i = index.get(id);
      if (i === undefined) return undefined;
      const values = new Float32Array(K * d);
      const mask = new Float32Array(K);
      for (let k = 0; k < K; k++) {
        mask[k] = bytes[masksAt + i * K + k];
        const base = (i * K + k) * d;
        if (codec === "f32") {
          for (let j = 0; j < d; j++) values[k * d + j] = view.getFloat32(valuesAt + (base + j) * 4, true);
        } else if (codec === "f16") {
          for (let j = 0; j < d; j++) values[k * d + j] = fromFloat16Bits(view.getUint16(valuesAt + (base + j) * 2, true));
        } else {
          const scale = view.getFloat32(scalesAt + (i * K + k) * 4, true);
          for (let j = 0; j < d; j++) values[k * d + j] = view.getInt8(valuesAt + base + j) * scale;
        }
      }
      return { values, mask };
    },
  };
}

/** The numbers serving will see for a vector after a round trip through a codec (used so training matches serving). */
export function quantizeLikeCodec(values: Float32Array, dim: number, codec: VectorCodec): Float32Array {
  if (codec === "f32") return values.slice();
  const out = new Float32Array(values.length);
  if (codec === "f16") {
    for (let i = 0; i < values.length; i++) out[i] = fromFloat16Bits(toFloat16Bits(values[i]));
    return out;
  }
  for (let base = 0; base < values.length; base += dim) {
    let maxAbs = 0;
    for (let j = 0; j < dim; j++) maxAbs = Math.max(maxAbs, Math.abs(values[base + j]));
    const scale = Math.fround(maxAbs > 0 ? maxAbs / 127 : 1);
    for (let j = 0; j < dim; j++) out[base + j] = Math.round(values[base + j] / scale) * scale;
  }
  return out;
}
