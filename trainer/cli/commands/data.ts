/**
 * `kser data fetch` (download an official MovieLens archive) and `kser data prepare` (load any source, apply the KAR
 * protocol, save the prepared dataset atomically).
 */
import type { Command } from "commander";
import { Argument, InvalidArgumentError, Option } from "commander";
import { fetchMovieLens, MOVIELENS_ARCHIVES, type MovieLensName } from "../../data/fetch.ts";
import { loadRawDataset, SOURCES, type SourceName } from "../../data/load.ts";
import { DEFAULT_KNOWLEDGE_PREFIX, prepareDataset } from "../../data/prepare.ts";
import { saveDataset } from "../../data/store.ts";

function integer(min: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`must be a whole number >= ${min}`);
    return n;
  };
}

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

export function register(program: Command): void {
  const data = program.command("data").description("fetch and prepare datasets");

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

  data
    .command("prepare")
    .description("load a dataset, split users, build vocabularies and CTR samples, save them")
    .addOption(new Option("--source <name>", "dataset format").choices(SOURCES as unknown as string[]).makeOptionMandatory())
    .option("--data <path>", "dataset folder (or the interaction file for generic); not needed for synthetic")
    .option("--config <file>", "column mapping for --source generic (JSON)")
    .requiredOption("--out <dir>", "output folder (replaced atomically)")
    .option("--seed <n>", "seed for the user split (and the synthetic world)", integer(0), 42)
    .option("--history-length <n>", "history window L", integer(1), 5)
    .option(
      "--knowledge-prefix <n>",
      `interactions per user used only for knowledge (count, or fraction < 1; default ${DEFAULT_KNOWLEDGE_PREFIX}, dbbook 0)`,
      prefix,
    )
    .option("--splits <a,b,c>", "train,valid,test shares of users", splits, [0.8, 0.1, 0.1])
    .option("--users <n>", "synthetic: number of users", integer(1))
    .option("--items <n>", "synthetic: number of items", integer(20))
    .action(async (opts) => {
      const started = performance.now();
      const raw = await loadRawDataset({
        source: opts.source as SourceName,
        data: opts.data,
        config: opts.config,
        seed: opts.seed,
        users: opts.users,
        items: opts.items,
      });
      const prepared = prepareDataset(raw, {
        seed: opts.seed,
        historyLength: opts.historyLength,
        knowledgePrefix: opts.knowledgePrefix,
        splits: opts.splits,
      });
      await saveDataset(opts.out, prepared);
      const positives = [prepared.train, prepared.valid, prepared.test].reduce(
        (s, split) => s + split.labels.reduce((a, b) => a + b, 0),
        0,
      );
      const samples = prepared.train.count + prepared.valid.count + prepared.test.count;
      console.log(
        `prepared ${raw.name}: ${prepared.userIds.length} users, ${raw.items.length} items, ${raw.interactions.length} interactions -> ` +
          `train ${prepared.train.count} / valid ${prepared.valid.count} / test ${prepared.test.count} samples, ` +
          `positive rate ${(positives / Math.max(1, samples)).toFixed(3)}, in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
      console.log(`saved to ${opts.out}`);
    });
}
