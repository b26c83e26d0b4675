/**
 * The ratings file of either MovieLens release (ML-100K u.data, tab-separated; ML-1M ratings.dat, "::"-separated):
 * user, item, rating 1..5, timestamp, with every id checked against the users and items already loaded.
 */
import { InputFormatError } from "../util/errors.ts";
import { parseIdField, parseNumberField, readLines, splitFields } from "./lines.ts";
import type { RawInteraction } from "./types.ts";

export interface RatingsFormat {
  separator: string;
  /** Column names as the release documents them: user, item, rating, timestamp. */
  columns: readonly [string, string, string, string];
  /** Where users and items come from, for error messages. */
  usersFile: string;
  itemsFile: string;
}

export async function loadMovieLensRatings(
  file: string,
  format: RatingsFormat,
  users: Set<string>,
  items: Set<string>,
): Promise<RawInteraction[]> {
  const [userCol, itemCol, ratingCol, timeCol] = format.columns;
  const out: RawInteraction[] = [];
  for await (const line of readLines(file, "latin1")) {
    if (line.text.trim() === "") continue;
    const [u, i, r, t] = splitFields(file, line, format.separator, format.columns);
    const userId = parseIdField(file, line.number, userCol, u);
    const itemId = parseIdField(file, line.number, itemCol, i);
    if (!users.has(userId)) throw new InputFormatError(file, line.number, userCol, `unknown user ${userId} (not in ${format.usersFile})`);
    if (!items.has(itemId)) throw new InputFormatError(file, line.number, itemCol, `unknown item ${itemId} (not in ${format.itemsFile})`);
    const rating = parseNumberField(file, line.number, ratingCol, r, { integer: true, min: 1, max: 5 });
    const timestamp = parseNumberField(file, line.number, timeCol, t, { integer: true, min: 0 });
    out.push({ userId, itemId, rating, timestamp });
  }
  return out;
}
