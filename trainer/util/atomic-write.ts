/**
 * Writes that never leave a half-written file or folder under the final name: everything is written to a temporary
 * sibling first, then renamed into place, so a crash or a kill leaves either the old or the new content.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** A name for a temporary sibling that no other process or call picks. */
const uniqueTag = () => `${process.pid}-${randomBytes(4).toString("hex")}`;

export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temp = `${file}.tmp-${uniqueTag()}`;
  try {
    await writeFile(temp, data);
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  mkdirSync(dirname(file), { recursive: true });
  const temp = `${file}.tmp-${uniqueTag()}`;
  try {
    writeFileSync(temp, data);
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/** Indented JSON with a final newline, for files people read. */
export const writeJsonAtomic = (file: string, value: unknown) => writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);

/**
 * Fills a fresh temporary sibling folder of `dir`, then puts it in place of `dir` (replacing any folder there).
 * `fill` should write the file that marks the folder complete last. On an error the temporary folder is removed
 * and `dir` is left as it was.
 */
export async function writeDirectoryAtomic<T>(dir: string, fill: (temp: string) => Promise<T>): Promise<T> {
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  const tag = uniqueTag();
  const temp = join(parent, `.${basename(dir)}.tmp-${tag}`);
  await mkdir(temp);
  try {
    const result = await fill(temp);
    await replaceDirectory(temp, dir, join(parent, `.${basename(dir)}.old-${tag}`));
    return result;
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}

/** rename() cannot replace a non-empty folder: the old one is moved aside first, and back if the move fails. */
async function replaceDirectory(temp: string, target: string, aside: string): Promise<void> {
  let movedOld = false;
  try {
    await rename(target, aside);
    movedOld = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  try {
    await rename(temp, target);
  } catch (error) {
    if (movedOld) await rename(aside, target);
    throw error;
  }
  if (movedOld) await rm(aside, { recursive: true, force: true });
}
