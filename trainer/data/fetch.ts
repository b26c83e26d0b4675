/**
 * Downloads an official MovieLens archive, verifies it against a pinned digest, and unpacks it into
 * <out>/<name>/ (via a temporary directory, so a failed fetch leaves nothing behind).
 *
 * Pinned digests are MD5: GroupLens publishes an .md5 next to each zip, and the same values appear in several
 * independent loaders; no SHA-256 for these archives could be found to pin. A mirror can be given with its own digest.
 */
import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { writeDirectoryAtomic } from "../util/atomic-write.ts";
import { UserFacingError } from "../util/errors.ts";
import { readZip, ZipError } from "./unzip.ts";

export interface ArchiveInfo {
  url: string;
  /** "md5:<hex>" or "sha256:<hex>". */
  checksum: string;
  /** Files the archive must contain, relative to its top folder (<name>/). */
  members: string[];
}

export const MOVIELENS_ARCHIVES: Record<"ml-100k" | "ml-1m", ArchiveInfo> = {
  "ml-100k": {
    url: "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
    checksum: "md5:0e33842e24a9c977be4e0107933c0723",
    members: ["u.data", "u.item", "u.user"],
  },
  "ml-1m": {
    url: "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
    checksum: "md5:c4d9eecfca2ab87c1945afe126590906",
    members: ["ratings.dat", "movies.dat", "users.dat"],
  },
};
export type MovieLensName = keyof typeof MOVIELENS_ARCHIVES;

export interface FetchOptions {
  outDir: string;
  /** A mirror; pass its checksum too unless it serves the identical archive. */
  url?: string;
  checksum?: string;
  timeoutMs?: number;
  /** Largest archive accepted (bytes). */
  maxBytes?: number;
}

/** Returns the directory holding the unpacked dataset files. */
export async function fetchMovieLens(name: MovieLensName, options: FetchOptions): Promise<string> {
  const info = MOVIELENS_ARCHIVES[name];
  if (!info) throw new UserFacingError(`unknown dataset ${name}; choose ${Object.keys(MOVIELENS_ARCHIVES).join(" or ")}`);
  const url = options.url ?? info.url;
  const checksum = options.checksum ?? info.checksum;
  const [algorithm, expected] = parseChecksum(checksum);
  const archive = await download(url, options.timeoutMs ?? 120_000, options.maxBytes ?? 512 * 1024 * 1024);

  const actual = createHash(algorithm).update(archive).digest("hex");
  if (actual !== expected) {
    throw new UserFacingError(`${url}: checksum mismatch (${algorithm} ${actual}, expected ${expected}); nothing was written`);
  }
  let entries: ReturnType<typeof readZip>;
  try {
    entries = readZip(archive);
  } catch (error) {
    if (error instanceof ZipError) throw new UserFacingError(`${url}: ${error.message}`);
    throw error;
  }
  const names = new Set(entries.map((e) => e.name));
  const missing = info.members.filter((m) => !names.has(`${name}/${m}`));
  if (missing.length) throw new UserFacingError(`${url}: archive lacks ${missing.map((m) => `${name}/${m}`).join(", ")}`);

  // The dataset's folder in the archive becomes <outDir>/<name>; anything beside it is left out.
  const target = join(resolve(options.outDir), name);
  await writeDirectoryAtomic(target, async (temp) => {
    for (const entry of entries) {
      if (!entry.name.startsWith(`${name}/`)) continue;
      const path = join(temp, entry.name.slice(name.length + 1));
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, entry.data);
    }
  });
  return target;
}

function parseChecksum(text: string): ["md5" | "sha256", string] {
  const m = /^(md5|sha256):([0-9a-fA-F]+)$/.exec(text.trim());
  const lengths = { md5: 32, sha256: 64 };
  if (!m || m[2].length !== lengths[m[1] as "md5" | "sha256"])
    throw new UserFacingError(`checksum must be md5:<32 hex> or sha256:<64 hex>, got ${text}`);
  return [m[1] as "md5" | "sha256", m[2].toLowerCase()];
}

async function download(url: string, timeoutMs: number, maxBytes: number): Promise<Uint8Array> {
  const host = safeHost(url);
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "follow" });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    const why =
      cause?.code ?? ((error as Error).name === "TimeoutError" ? `no answer within ${timeoutMs / 1000} s` : (error as Error).message);
    throw new UserFacingError(
      `could not reach ${host} (${why}). Are you offline? Download the archive elsewhere, unzip it, and pass its folder with --data PATH to \`kser data prepare\`.`,
    );
  }
  if (!response.ok) throw new UserFacingError(`${url}: HTTP ${response.status} ${response.statusText}`);
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > maxBytes) throw new UserFacingError(`${url}: ${declared} bytes is more than the ${maxBytes} accepted`);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > maxBytes) throw new UserFacingError(`${url}: larger than the ${maxBytes} bytes accepted`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    throw new UserFacingError(`not a URL: ${url}`);
  }
}
