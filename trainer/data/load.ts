/** Picks the loader for a `--source` name: one entry point for the CLI and the benchmarks. */
import { stat } from "node:fs/promises";
import { UserFacingError } from "../util/errors.ts";
import { loadAmazonBooks, locateAmazonBooks } from "./amazon-books.ts";
import { loadDbbook } from "./dbbook.ts";
import { loadGeneric } from "./generic.ts";
import { loadMovieLens } from "./movielens.ts";
import { generateSyntheticDataset } from "./synthetic.ts";
import type { RawDataset } from "./types.ts";

export const SOURCES = ["ml-100k", "ml-1m", "amazon-books", "generic", "synthetic", "dbbook"] as const;
export type SourceName = (typeof SOURCES)[number];

export interface LoadOptions {
  source: SourceName;
  /** Dataset folder (MovieLens, Amazon-Books), or the interaction file for generic (optional when the config names it). */
  data?: string;
  /** Column-mapping config (generic only). */
  config?: string;
  /** Synthetic only. */
  seed?: number;
  users?: number;
  items?: number;
}

export async function loadRawDataset(options: LoadOptions): Promise<RawDataset> {
  const { source, data } = options;
  const needDir = async (what: string) => {
    if (!data) throw new UserFacingError(`--source ${source} needs --data PATH (${what})`);
    const info = await stat(data).catch(() => undefined);
    if (!info?.isDirectory()) throw new UserFacingError(`${data}: not a directory (${what})`);
    return data;
  };
  switch (source) {
    case "ml-100k":
      return loadMovieLens("ml-100k", await needDir("the unzipped ml-100k folder with u.data, u.item, u.user"));
    case "ml-1m":
      return loadMovieLens("ml-1m", await needDir("the unzipped ml-1m folder with ratings.dat, movies.dat, users.dat"));
    case "amazon-books":
      return loadAmazonBooks(locateAmazonBooks(await needDir("a folder with Books_5.json or Books.json and meta_Books.json")));
    case "generic":
      if (!options.config) throw new UserFacingError("--source generic needs --config FILE (the column mapping)");
      return loadGeneric(options.config, data);
    case "dbbook":
      return loadDbbook(
        await needDir("the dbbook folder of LLM-user-profiles-for-recsys: train_sorted.tsv, test_sorted.tsv, mapping_items.tsv, outputs/"),
        {
          seed: options.seed,
        },
      );
    case "synthetic":
      return generateSyntheticDataset({ seed: options.seed ?? 42, users: options.users, items: options.items });
    default:
      throw new UserFacingError(`unknown source ${source}; choose one of ${SOURCES.join(", ")}`);
  }
}
