/**
 * Amazon-Books (2018 release) loader: reviews as JSON lines {reviewerID, asin, overall, unixReviewTime} and item
 * metadata as JSON lines {asin, title, category[], brand, ...}, plain or gzipped. Reviews are read first so only the
 * metadata of reviewed books is kept (the full metadata dump is millions of lines). Label rule: rating = 5 (KAR).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { InputFormatError, UserFacingError } from "../util/errors.ts";
import { type Line, parseIdField, parseNumberField, readLines } from "./lines.ts";
import type { RawDataset, RawInteraction, RawItem, RawUser } from "./types.ts";

const REVIEW_NAMES = ["Books_5.json", "Books_5.json.gz", "Books.json", "Books.json.gz", "reviews.jsonl", "reviews.json"];
const META_NAMES = ["meta_Books.json", "meta_Books.json.gz", "meta.jsonl", "meta.json"];

export interface AmazonBooksFiles {
  reviews: string;
  meta?: string;
}

/** Finds the review and metadata files in a directory by their usual names. */
export function locateAmazonBooks(dir: string): AmazonBooksFiles {
  const reviews = REVIEW_NAMES.map((n) => join(dir, n)).find(existsSync);
  if (!reviews) throw new UserFacingError(`${dir}: no Amazon-Books reviews file (looked for ${REVIEW_NAMES.join(", ")})`);
  return { reviews, meta: META_NAMES.map((n) => join(dir, n)).find(existsSync) };
}

export async function loadAmazonBooks(files: AmazonBooksFiles): Promise<RawDataset> {
  const interactions: RawInteraction[] = [];
  const userIds = new Set<string>();
  const itemIds = new Set<string>();
  for await (const line of readLines(files.reviews)) {
    if (line.text.trim() === "") continue;
    const record = parseJsonLine(files.reviews, line);
    const userId = parseIdField(files.reviews, line.number, "reviewerID", stringField(record.reviewerID));
    const itemId = parseIdField(files.reviews, line.number, "asin", stringField(record.asin));
    const rating = Math.round(parseNumberField(files.reviews, line.number, "overall", record.overall, { min: 1, max: 5 }));
    const timestamp = parseNumberField(files.reviews, line.number, "unixReviewTime", record.unixReviewTime, { integer: true, min: 0 });
    userIds.add(userId);
    itemIds.add(itemId);
    interactions.push({ userId, itemId, rating, timestamp });
  }

  const items = new Map<string, RawItem>();
  if (files.meta) {
    for await (const line of readLines(files.meta)) {
      if (line.text.trim() === "") continue;
      const record = parseJsonLine(files.meta, line);
      const asin = parseIdField(files.meta, line.number, "asin", stringField(record.asin));
      if (!itemIds.has(asin) || items.has(asin)) continue;
      if (record.category !== undefined && !Array.isArray(record.category)) {
        throw new InputFormatError(files.meta, line.number, "category", "must be a list of strings");
      }
      // category[0] is "Books" for every book; the next level is the useful genre.
      const categories = ((record.category as unknown[] | undefined) ?? []).filter(
        (c): c is string => typeof c === "string" && c.trim() !== "",
      );
      const genres = categories.filter((c) => c !== "Books");
      const title = typeof record.title === "string" && record.title.trim() ? record.title.trim() : asin;
      const attributes: Record<string, string> = { genre: genres[0] ?? "unknown" };
      if (typeof record.brand === "string" && record.brand.trim()) attributes.brand = record.brand.trim();
      items.set(asin, { id: asin, title, genres, attributes });
    }
  }
  // Reviewed books without metadata still get an item (its genre is "unknown").
  for (const asin of itemIds)
    if (!items.has(asin)) items.set(asin, { id: asin, title: asin, genres: [], attributes: { genre: "unknown" } });

  const users: RawUser[] = [...userIds].map((id) => ({ id, attributes: {} }));
  return {
    name: "amazon-books",
    domain: "books",
    users,
    items: [...items.values()],
    interactions,
    userFieldNames: [],
    itemFieldNames: ["genre"],
    minPositiveRating: 5,
    ratingLevels: 5,
  };
}

function parseJsonLine(file: string, line: Line): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line.text);
  } catch (error) {
    throw new InputFormatError(file, line.number, undefined, `not valid JSON (${(error as Error).message})`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new InputFormatError(file, line.number, undefined, "must be a JSON object");
  return value as Record<string, unknown>;
}

function stringField(value: unknown): string | undefined {
  return typeof value === "string" ? value : typeof value === "number" ? String(value) : undefined;
}
