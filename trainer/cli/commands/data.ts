/**
 * `kser data fetch` (download an official MovieLens archive), `kser data prepare` (load any source, apply the KAR
 * protocol, save the prepared dataset atomically) and `kser data init-config` (a starter config for your own data).
 */
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { Argument, InvalidArgumentError, Option } from "commander";
import { fetchMovieLens, MOVIELENS_ARCHIVES, type MovieLensName } from "../../data/fetch.ts";
import { initGenericConfig } from "../../data/init-config.ts";
import { type LoadOptions, loadRawDataset, SOURCES } from "../../data/load.ts";
import { DEFAULT_KNOWLEDGE_PREFIX, prepareDataset } from "../../data/prepare.ts";
import { saveDataset } from "../../data/store.ts";
import { UserFacingError } from "../../util/errors.ts";
import { wholeNumber } from "../options.ts";

const DOCS = "docs/data.md";

function prefix(value: string): number {
  const n = Number(value);
  if (!(n >= 0) || (n >= 1 && !Number.isInteger(n))) throw new InvalidArgumentError("must be a whole count, or a fraction below 1");
  return n;
}

function splits(value: string): [number, number, number] {
  const parts = value.split(",").map(Number);
  if (parts.length !== 3 || parts.some((p) => !(p >= 0)) || !(parts[0] > 0))
    throw new InvalidArgumentError("must be three shares like 0.8,0.1,0.1");
  return parts as [number, number, number];
}

/** `kser data fetch`: an official MovieLens archive, checked and unpacked. */
function registerFetch(data: Command): void {
  data
    .command("fetch")
    .description("download an official MovieLens archive, verify its checksum and unzip it")
    .addArgument(new Argument("<name>", "dataset").choices(Object.keys(MOVIELENS_ARCHIVES)))
    .option("--out <dir>", "folder to unpack into (the dataset lands in <dir>/<name>)", ".kser/data")
    .option("--url <url>", "a mirror of the archive")
    .option("--checksum <algo:hex>", "expected digest of the mirror's archive (md5:... or sha256:...)")
    .action(async (name: MovieLensName, opts: { out: string; url?: string; checksum?: string }) => {
      const dir = await fetchMovieLens(name, { outDir: opts.out, url: opts.url, checksum: opts.checksum });
      console.log(`fetched ${name} into ${dir}`);
      console.log(`next: kser data prepare --source ${name} --data ${dir} --out <dir>`);
    });
}

/** `kser data prepare`: a dataset loaded, split and saved as CTR samples. */
function registerPrepare(data: Command): void {
  data
    .command("prepare")
    .description("load a dataset, split users, build vocabularies and CTR samples, save them")
    .addHelpText(
      "after",
      `\nYour own data (--source generic): the config format, worked examples (ratings + items table, clicks, Parquet)\n` +
        `and the steps to a served model are in ${DOCS}; \`kser data init-config --data FILE\` writes a starter config.`,
    )
    .addOption(new Option("--source <name>", "dataset format").choices(SOURCES as unknown as string[]).makeOptionMandatory())
    .option("--data <path>", "dataset folder (or the interaction file for generic); not needed for synthetic")
    .option("--config <file>", "column mapping for --source generic (JSON)")
    .requiredOption("--out <dir>", "output folder (replaced atomically)")
    .option("--seed <n>", "seed for the user split (and the synthetic world)", wholeNumber(0), 42)
    .option("--history-length <n>", "history window L", wholeNumber(1), 5)
    .option(
      "--knowledge-prefix <n>",
      `interactions per user used only for knowledge (count, or fraction < 1; default ${DEFAULT_KNOWLEDGE_PREFIX}, dbbook 0)`,
      prefix,
    )
    .option("--splits <a,b,c>", "train,valid,test shares of users (unless the data gives the split)", splits, [0.8, 0.1, 0.1])
    .option("--users <n>", "synthetic: number of users", wholeNumber(1))
    .option("--items <n>", "synthetic: number of items", wholeNumber(20))
    .action(async (opts) => {
      const started = performance.now();
      // The source options are named as loadRawDataset's.
      const raw = await loadRawDataset(opts as LoadOptions);
      const prepared = prepareDataset(raw, {
        seed: opts.seed,
        historyLength: opts.historyLength,
        knowledgePrefix: opts.knowledgePrefix,
        splits: opts.splits,
      });
      for (const note of raw.notes ?? []) console.log(`note: ${note}`);
      await saveDataset(opts.out, prepared);
      const positives = [prepared.train, prepared.valid, prepared.test].reduce(
        (s, split) => s + split.labels.reduce((a, b) => a + b, 0),
        0,
      );
      const samples = prepared.train.count + prepared.valid.count + prepared.test.count;
      console.log(
        `prepared ${raw.name}: ${prepared.userIds.length} users, ${raw.items.length} items, ${raw.interactions.length} interactions -> ` +
          `train ${prepared.train.count} / valid ${prepared.valid.count} / test ${prepared.test.count} samples, ` +
          `positive rate ${(positives / Math.max(1, samples)).toFixed(3)}, ${raw.interactions.length > 0 && raw.interactions.every((i) => i.split) ? "split given by the data" : "users split at random"}, ` +
          `in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
      console.log(`saved to ${opts.out}`);
    });
}

/** `kser data init-config`: a starter generic config from a file's header. */
function registerInitConfig(data: Command): void {
  data
    .command("init-config")
    .description("write a starter --source generic config from the header of a CSV or Parquet file (and items / users tables)")
    .requiredOption("--data <file>", "the interaction file (CSV with a header row, or Parquet)")
    .option("--items <file>", "an items table joined by item id (its other columns become item features)")
    .option("--users <file>", "a users table joined by user id (its other columns become user features)")
    .option("--delimiter <c>", "CSV delimiter", ",")
    .option("--user <col>", "the user id column (default: guessed from its name)")
    .option("--item <col>", "the item id column")
    .option("--timestamp <col>", "the time column")
    .option("--rating <col>", "the rating column")
    .option("--label <col>", "the 0/1 label column (instead of a rating)")
    .option("--split <col>", "a column holding train / valid / test")
    .requiredOption("--out <file>", "the config file to write")
    .option("--force", "replace --out if it exists")
    .addHelpText("after", `\nThe config format and worked examples: ${DOCS}.`)
    .action(async (opts) => {
      if (existsSync(opts.out) && !opts.force) throw new UserFacingError(`${opts.out} exists; give --force to replace it`);
      const { user, item, timestamp, rating, label, split } = opts;
      const { config, notes } = await initGenericConfig({
        data: opts.data,
        items: opts.items,
        users: opts.users,
        delimiter: opts.delimiter,
        out: opts.out,
        columns: { user, item, timestamp, rating, label, split },
      });
      await writeFile(opts.out, `${JSON.stringify(config, null, 2)}\n`);
      for (const note of notes) console.log(`note: ${note}`);
      console.log(`wrote ${opts.out}; check it against ${DOCS}, then: kser data prepare --source generic --config ${opts.out} --out <dir>`);
    });
}

export function register(program: Command): void {
  const data = program.command("data").description("fetch and prepare datasets");
  registerFetch(data);
  registerPrepare(data);
  registerInitConfig(data);
}
