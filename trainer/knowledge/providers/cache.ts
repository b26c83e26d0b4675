/**
 * Append-only JSONL cache of remote answers, so a killed run resumes where it stopped. One record per line,
 * {"key": ..., "value": ...}, appended with one write call each. On open, a torn last line (a kill mid-write) is cut
 * off and unreadable lines are skipped and counted; later records for a key win.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, truncateSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export class JsonlCache<V> {
  private readonly entries = new Map<string, V>();
  private fd: number | undefined;
  /** Bytes cut from a torn last line, and unreadable complete lines skipped, when the file was opened. */
  readonly recovered = { tornBytes: 0, badLines: 0 };

  private constructor(readonly path: string) {}

  static open<V>(path: string): JsonlCache<V> {
    const cache = new JsonlCache<V>(path);
    mkdirSync(dirname(path), { recursive: true });
    if (existsSync(path)) {
      const bytes = readFileSync(path);
      const end = bytes.lastIndexOf(0x0a) + 1;
      if (end < bytes.length) {
        cache.recovered.tornBytes = bytes.length - end;
        truncateSync(path, end);
      }
      const lines = bytes.subarray(0, end).toString("utf8").split("\n");
      for (const line of lines) {
        if (line.trim() === "") continue;
        try {
          const record = JSON.parse(line) as { key?: unknown; value?: V };
          if (typeof record.key !== "string" || record.value === undefined) throw new Error("not a cache record");
          cache.entries.set(record.key, record.value);
        } catch {
          cache.recovered.badLines++;
        }
      }
    }
    cache.fd = openSync(path, "a");
    return cache;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    return this.entries.get(key);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  set(key: string, value: V): void {
    if (this.fd === undefined) throw new Error(`cache ${this.path} is closed`);
    writeSync(this.fd, `${JSON.stringify({ key, value })}\n`);
    this.entries.set(key, value);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
