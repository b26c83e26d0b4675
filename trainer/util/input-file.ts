/** Reads a file the user named, or fails with one line naming it (missing, a folder, unreadable). */
import { readFileSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { UserFacingError } from "./errors.ts";

export function readInputFile(path: string, what = "file"): Buffer {
  let info: ReturnType<typeof statSync>;
  try {
    info = statSync(path);
  } catch {
    throw new UserFacingError(`${what} not found: ${path}`);
  }
  if (info.isDirectory()) throw new UserFacingError(`${path}: is a folder, a ${what} was expected`);
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UserFacingError(`${path}: cannot read the ${what} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

export const readInputText = (path: string, what?: string) => readInputFile(path, what).toString("utf8");

/** Reads and parses a JSON config file, or fails with one line naming it and what was wrong. */
export async function readJsonConfig(file: string, what: string): Promise<unknown> {
  const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new UserFacingError(`${file}: cannot read the ${what} (${error.code ?? error.message})`);
  });
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UserFacingError(`${file}: not JSON (${(error as Error).message})`);
  }
}
