/**
 * A small ZIP reader (stored and deflate entries, via node:zlib) for the MovieLens archives, so fetching needs no extra
 * dependency. Checks each entry's CRC-32 and refuses paths that would escape the output directory.
 */
import { inflateRawSync } from "node:zlib";
import { crc32 } from "../../shared/hash.ts";

export interface ZipEntry {
  name: string;
  data: Uint8Array;
}

export class ZipError extends Error {
  override name = "ZipError";
}

export function readZip(archive: Uint8Array): ZipEntry[] {
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  // End of central directory: the last 0x06054b50 signature within the final 64 KiB + 22 bytes.
  let eocd = -1;
  for (let i = archive.length - 22; i >= Math.max(0, archive.length - 65_557); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipError("not a ZIP archive (no end-of-central-directory record)");
  const count = view.getUint16(eocd + 10, true);
  let offset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || offset === 0xffffffff) throw new ZipError("ZIP64 archives are not supported");
  const entries: ZipEntry[] = [];
  const decoder = new TextDecoder();
  for (let k = 0; k < count; k++) {
    if (offset + 46 > archive.length || view.getUint32(offset, true) !== 0x02014b50) throw new ZipError(`bad central directory entry ${k}`);
    const flags = view.getUint16(offset + 8, true);
    const method = view.getUint16(offset + 10, true);
    const crc = view.getUint32(offset + 16, true);
    const compressedSize = view.getUint32(offset + 20, true);
    const size = view.getUint32(offset + 24, true);
    const nameLength = view.getUint16(offset + 28, true);
    const extraLength = view.getUint16(offset + 30, true);
    const commentLength = view.getUint16(offset + 32, true);
    const local = view.getUint32(offset + 42, true);
    const name = decoder.decode(archive.subarray(offset + 46, offset + 46 + nameLength));
    offset += 46 + nameLength + extraLength + commentLength;
    if (name.endsWith("/")) continue; // a directory entry
    if (flags & 1) throw new ZipError(`${name}: encrypted entries are not supported`);
    if (local + 30 > archive.length || view.getUint32(local, true) !== 0x04034b50) throw new ZipError(`${name}: bad local header`);
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    const compressed = archive.subarray(start, start + compressedSize);
    if (compressed.length !== compressedSize) throw new ZipError(`${name}: truncated`);
    let data: Uint8Array;
    if (method === 0) data = compressed;
    else if (method === 8) data = inflateRawSync(compressed);
    else throw new ZipError(`${name}: compression method ${method} is not supported`);
    if (data.length !== size) throw new ZipError(`${name}: size ${data.length}, expected ${size}`);
    if (crc32(data) !== crc) throw new ZipError(`${name}: CRC-32 mismatch`);
    entries.push({ name: safePath(name), data });
  }
  return entries;
}

/** A relative path with forward slashes that stays inside the output directory. */
function safePath(name: string): string {
  const parts = name.replace(/\\/g, "/").split("/");
  if (name.startsWith("/") || /^[A-Za-z]:/.test(name) || parts.some((p) => p === "..")) throw new ZipError(`${name}: unsafe path`);
  return parts.filter((p) => p !== "" && p !== ".").join("/");
}
