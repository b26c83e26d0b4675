/**
 * `kser knowledge simulate|generate|import|encode|compress`: knowledge texts from the offline simulator or an LLM
 * (or KAR's files), encoded into a chunk bank, optionally compressed for the edge.
 *   texts (JSONL) --encode--> bank dir --compress--> smaller bank dir; `import --vectors-*` goes straight to a bank.
 */
import cliProgress from "cli-progress";
import { type Command, InvalidArgumentError, Option } from "commander";
import { type LoadOptions, loadRawDataset, SOURCES } from "../../data/load.ts";
import { DEFAULT_KNOWLEDGE_PREFIX, prepareDataset } from "../../data/prepare.ts";
import { loadDataset } from "../../data/store.ts";
import { CHUNK_KINDS, type PreparedDataset, type RawDataset } from "../../data/types.ts";
import { buildBank, loadBank, NO_KIND, type StoredBank, saveBank } from "../../knowledge/bank.ts";
import { chunkReport, describeChunkReport } from "../../knowledge/chunk-report.ts";
import { compressBank } from "../../knowledge/compress.ts";
import { KNOWLEDGE_DEFAULTS } from "../../knowledge/defaults.ts";
import { HashEncoder } from "../../knowledge/encoders/hash.ts";
import { createOpenAIEmbeddings } from "../../knowledge/encoders/openai.ts";
import type { KnowledgeEncoder } from "../../knowledge/encoders/types.ts";
import { createWorkersAiEmbeddings } from "../../knowledge/encoders/workers-ai.ts";
import { factorsOf, importKlg } from "../../knowledge/import-klg.ts";
import { importPlainTexts } from "../../knowledge/import-texts.ts";
import { bankFromVectors, importVectors, type VectorFileFormat } from "../../knowledge/import-vectors.ts";
import { createOpenAIChat, createWorkersAiChat } from "../../knowledge/providers/chat.ts";
import { generateKnowledge } from "../../knowledge/providers/generate.ts";
import {
  DEFAULT_RETRY_POLICY,
  describeRetry,
  PROVIDER_EXIT_CODE,
  ProviderError,
  type RequestHooks,
  type RetryPolicy,
} from "../../knowledge/providers/http.ts";
import { simulateKnowledge } from "../../knowledge/simulator.ts";
import { loadTexts, saveTexts } from "../../knowledge/texts-io.ts";
import { KNOWLEDGE_FIELDS, type KnowledgeField, type KnowledgeTexts } from "../../knowledge/types.ts";
import { InputFormatError, UserFacingError } from "../../util/errors.ts";
import { readInputText } from "../../util/input-file.ts";
import { wholeNumber } from "../options.ts";

function share(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError("must be a number in [0, 1]");
  return n;
}

function proportions(value: string): number[] {
  const parts = value.split(",").map(Number);
  if (parts.length !== 4 || parts.some((p) => !(p >= 0)))
    throw new InvalidArgumentError("must be four shares: informative,hallucinated,redundant,homogeneous");
  return parts;
}

function fields(value: string): KnowledgeField[] {
  const parts = value.split(",").map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => p !== "user" && p !== "item"))
    throw new InvalidArgumentError("must be user, item or user,item");
  return parts as KnowledgeField[];
}

interface DatasetOpts extends LoadOptions {
  prepared?: string;
  seed: number;
  knowledgePrefix: number;
}

function datasetOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--source <name>", "dataset format").choices(SOURCES as unknown as string[]).makeOptionMandatory())
    .option("--data <path>", "dataset folder (or interaction file for generic); not needed for synthetic")
    .option("--config <file>", "column mapping for --source generic (JSON)")
    .option("--prepared <dir>", "prepared dataset (kser data prepare) whose knowledge prefix to use; else prepared on the fly")
    .option("--seed <n>", "seed (dataset split and simulation)", wholeNumber(0), 42)
    .option("--knowledge-prefix <n>", "interactions per user for knowledge, when preparing on the fly", Number, DEFAULT_KNOWLEDGE_PREFIX)
    .option("--users <n>", "synthetic: number of users", wholeNumber(1))
    .option("--items <n>", "synthetic: number of items", wholeNumber(20));
}

/** The raw dataset (items, users) and the knowledge prefix; the prefix is the only interaction data knowledge sees. */
async function loadInputs(opts: DatasetOpts): Promise<{ raw: RawDataset; prepared: Pick<PreparedDataset, "knowledgePrefix"> }> {
  const raw = await loadRawDataset(opts);
  const prepared = opts.prepared
    ? await loadDataset(opts.prepared)
    : prepareDataset(raw, { seed: opts.seed, knowledgePrefix: opts.knowledgePrefix });
  if (opts.prepared && (prepared as PreparedDataset).name !== raw.name) {
    console.warn(`note: prepared dataset ${(prepared as PreparedDataset).name} was made from a different source than ${raw.name}`);
  }
  return { raw, prepared };
}

function progressBar(label: string): { update(done: number, total: number): void; stop(): void } {
  let bar: cliProgress.SingleBar | undefined;
  return {
    update(done, total) {
      if (!bar && total > 200 && process.stderr.isTTY) {
        bar = new cliProgress.SingleBar({ format: `${label} {bar} {value}/{total} | {eta_formatted} left`, stream: process.stderr });
        bar.start(total, 0);
      }
      bar?.update(done);
    },
    stop: () => bar?.stop(),
  };
}

function policy(opts: { timeoutMs: number; retries: number }): RetryPolicy {
  return { timeoutMs: opts.timeoutMs, retries: opts.retries };
}

/** Each retry says on stderr what failed and how long the client waits (the message is already redacted). */
function retryLog(what: string): RequestHooks {
  return { onRetry: (info) => console.error(describeRetry(what, info)) };
}

/** --timeout-ms and --retries, the same for every remote client. */
function retryOptions(cmd: Command): Command {
  return cmd
    .option("--timeout-ms <n>", "per-attempt timeout of a request", wholeNumber(1), DEFAULT_RETRY_POLICY.timeoutMs)
    .option(
      "--retries <n>",
      "retries after the first attempt on 408/425/429/5xx, timeouts, network errors and malformed answers (400/401/402/403/404 stop the run)",
      wholeNumber(0),
      DEFAULT_RETRY_POLICY.retries,
    );
}

function describeBank(bank: StoredBank): string {
  const line = (f: "user" | "item") => {
    const field = bank[f];
    const present = field.mask.reduce((a, b) => a + b, 0);
    return `${f}: ${field.ids.length} x ${field.chunks} x ${field.dim}, ${present} chunks present`;
  };
  return `bank ${bank.bankId} (${bank.encoder}, ${bank.codec}) ${line("user")}; ${line("item")}`;
}

/** How chunking into k slots treats each field's texts (import: what encode --chunks k will do; encode: what it did). */
function reportChunking(texts: KnowledgeTexts, k: number): void {
  for (const f of KNOWLEDGE_FIELDS) if (texts[f].size > 0) console.log(describeChunkReport(f, k, chunkReport(texts, f, k)));
}

function readIds(path: string | undefined): string[] | undefined {
  if (!path) return undefined;
  const text = readInputText(path, "ids file").trim();
  if (text.startsWith("[")) return (JSON.parse(text) as unknown[]).map(String);
  return text.split(/\r?\n/).map((s) => s.trim());
}

/** `kser knowledge simulate`. */
function registerSimulate(knowledge: Command): void {
  datasetOptions(knowledge.command("simulate").description("offline knowledge texts with known chunk kinds (the default without an LLM)"))
    .option("--chunks <k>", "chunks per entity and field", wholeNumber(1), KNOWLEDGE_DEFAULTS.chunks)
    .option(
      "--proportions <a,b,c,d>",
      "shares of informative,hallucinated,redundant,homogeneous chunks",
      proportions,
      [0.5, 0.2, 0.15, 0.15],
    )
    .option("--missing-users <r>", "share of users without knowledge", share, 0)
    .option("--missing-items <r>", "share of items without knowledge", share, 0)
    .option("--drop-chunks <r>", "chance each chunk is dropped", share, 0)
    .requiredOption("--out <file>", "knowledge texts (JSONL)")
    .action(async (opts) => {
      const { raw, prepared } = await loadInputs(opts);
      const [informative, hallucinated, redundant, homogeneous] = opts.proportions as number[];
      const texts = simulateKnowledge(raw, prepared, {
        seed: opts.seed,
        chunksPerField: opts.chunks,
        proportions: { informative, hallucinated, redundant, homogeneous },
        missingRate: { user: opts.missingUsers, item: opts.missingItems },
        dropChunkRate: opts.dropChunks,
      });
      saveTexts(opts.out, texts);
      const counts = new Map<string, number>();
      for (const f of [texts.user, texts.item])
        for (const e of f.values()) for (const c of e.chunks ?? []) counts.set(c.kind!, (counts.get(c.kind!) ?? 0) + 1);
      console.log(
        `simulated knowledge for ${texts.user.size} users and ${texts.item.size} items: ` +
          CHUNK_KINDS.map((k) => `${k} ${counts.get(k) ?? 0}`).join(", "),
      );
      console.log(`saved to ${opts.out}\nnext: kser knowledge encode --texts ${opts.out} --out <bank dir>`);
    });
}

/** `kser knowledge generate`. */
function registerGenerate(knowledge: Command): void {
  retryOptions(
    datasetOptions(knowledge.command("generate").description("ask an LLM for user-preference and item-fact knowledge (resumable)")),
  )
    .addOption(new Option("--provider <name>", "chat API").choices(["openai", "workers-ai"]).default("openai"))
    .option("--model <name>", "model name", "gpt-4o-mini")
    .option("--base-url <url>", "OpenAI-compatible base URL (…/v1) or the Cloudflare API base")
    .option("--api-key-env <name>", "environment variable with the API key (OPENAI_API_KEY / CLOUDFLARE_API_TOKEN)")
    .option("--account-id <id>", "Cloudflare account (default CLOUDFLARE_ACCOUNT_ID)")
    .option("--fields <list>", "user,item", fields, ["user", "item"])
    .option("--concurrency <n>", "requests in flight", wholeNumber(1), 4)
    .option("--max-tokens <n>", "answer length limit", wholeNumber(16), 800)
    .option("--cache <file>", "JSONL cache; a rerun resumes from it", ".kser/knowledge-cache.jsonl")
    .option("--limit <n>", "only the first n entities per field", wholeNumber(1))
    .option("--dry-run", "print the prompts and call nothing")
    .option("--out <file>", "knowledge texts (JSONL)")
    .action(async (opts) => {
      const { raw, prepared } = await loadInputs(opts);
      if (opts.dryRun) {
        await generateKnowledge(raw, prepared, undefined, { dryRun: true, fields: opts.fields, limit: opts.limit ?? 3 });
        return;
      }
      if (!opts.out) throw new UserFacingError("generate needs --out <file> (or --dry-run)");
      const common = { model: opts.model, maxTokens: opts.maxTokens, policy: policy(opts), hooks: retryLog("generate") };
      const client =
        opts.provider === "openai"
          ? createOpenAIChat({ ...common, baseUrl: opts.baseUrl, apiKeyEnv: opts.apiKeyEnv })
          : createWorkersAiChat({ ...common, baseUrl: opts.baseUrl, accountId: opts.accountId, apiTokenEnv: opts.apiKeyEnv });
      const { texts, stats } = await generateKnowledge(raw, prepared, client, {
        fields: opts.fields,
        concurrency: opts.concurrency,
        cachePath: opts.cache,
        limit: opts.limit,
        progress: true,
      });
      const summary = `${stats.requested} prompts: ${stats.fromCache} from cache, ${stats.generated} generated, ${stats.failures.length} failed`;
      if (stats.failures.length > 0) {
        // A partial file would replace a complete one from an earlier run: --out is written only when all succeeded.
        console.log(summary);
        for (const f of stats.failures.slice(0, 5)) console.error(`  ${f.field} ${f.id}: ${f.error}`);
        throw new UserFacingError(
          `${stats.failures.length} entities have no knowledge yet; ${opts.out} was not written; rerun the same command to resume`,
          PROVIDER_EXIT_CODE,
        );
      }
      saveTexts(opts.out, texts);
      console.log(`${summary}; saved to ${opts.out}`);
    });
}

/** `kser knowledge import`. */
function registerImport(knowledge: Command): void {
  knowledge
    .command("import")
    .description("import plain texts (JSONL or CSV) or KAR's .klg files (to texts), or precomputed vectors (to a bank)")
    .option("--texts <file>", 'plain knowledge: JSONL {"field","id","text"} per line, or CSV with a header field,id,text')
    .addOption(
      new Option("--field <name>", "--texts: every record is this field (the file needs no field column)").choices(["user", "item"]),
    )
    .option("--id-column <name>", "--texts: the id column / key (default id)")
    .option("--text-column <name>", "--texts: the text column / key (default text)")
    .option("--field-column <name>", "--texts: the field column / key (default field)")
    .option("--delimiter <c>", "--texts CSV delimiter (default , or a tab for .tsv)")
    .option(
      "--chunks <k>",
      "--texts: chunks per entity to report the chunking for (what encode --chunks will do)",
      wholeNumber(1),
      KNOWLEDGE_DEFAULTS.chunks,
    )
    .option("--klg-user <file>", "KAR user knowledge {id: {prompt, ans}}")
    .option("--klg-item <file>", "KAR item knowledge {id: {prompt, ans}}")
    .addOption(
      new Option(
        "--domain <name>",
        "chunk at this domain's prompt factors (Genre: ..., ...); default: each text's own headings, else sentences",
      ).choices(["movies", "books", "generic"]),
    )
    .option("--vectors-user <file>", "user vectors: .npy, .jsonl, or KAR *_augment .json")
    .option("--vectors-item <file>", "item vectors: .npy, .jsonl, or KAR *_augment .json")
    .addOption(new Option("--format <name>", "vector file format (default from the extension)").choices(["npy", "jsonl", "augment"]))
    .option("--user-ids <file>", "ids of the .npy user rows (JSON array or one per line)")
    .option("--item-ids <file>", "ids of the .npy item rows")
    .option("--encoder-name <name>", "what produced the vectors (recorded in the manifest)", "imported")
    .requiredOption("--out <path>", "texts file (--texts, .klg import) or bank folder (vector import)")
    .addHelpText("after", `\nPlain texts (formats, chunking, a tags file as item knowledge): docs/data.md#knowledge-from-plain-files`)
    .action(async (opts: ImportOptions) => {
      if ([opts.texts, opts.klgUser || opts.klgItem, opts.vectorsUser || opts.vectorsItem].filter(Boolean).length > 1)
        throw new UserFacingError("give one of --texts, --klg-user/--klg-item, or --vectors-user/--vectors-item");
      if (opts.texts) return importTextsCommand(opts, opts.texts);
      if (opts.klgUser || opts.klgItem) return importKlgCommand(opts);
      importVectorsCommand(opts);
    });
}

// commander's camel-cased options of `kser knowledge import`.
type ImportOptions = {
  texts?: string;
  field?: "user" | "item";
  idColumn?: string;
  textColumn?: string;
  fieldColumn?: string;
  delimiter?: string;
  chunks: number;
  klgUser?: string;
  klgItem?: string;
  domain?: "movies" | "books" | "generic";
  vectorsUser?: string;
  vectorsItem?: string;
  format?: string;
  userIds?: string;
  itemIds?: string;
  encoderName: string;
  out: string;
};

/** The --domain prompts' factors to chunk at, if one is named. */
const domainFactors = (opts: ImportOptions) => (opts.domain ? factorsOf(opts.domain) : undefined);

function noteChunking(opts: ImportOptions): void {
  if (!opts.domain)
    console.log(
      "chunking: at each text's own headings (Label: ...), else by sentences; --domain movies|books|generic uses those prompts' factors",
    );
}

function importTextsCommand(opts: ImportOptions, file: string): void {
  const { texts, stats } = importPlainTexts(file, {
    field: opts.field,
    idColumn: opts.idColumn,
    textColumn: opts.textColumn,
    fieldColumn: opts.fieldColumn,
    delimiter: opts.delimiter,
    factors: domainFactors(opts),
  });
  noteChunking(opts);
  for (const f of KNOWLEDGE_FIELDS) {
    if (stats.records[f] === 0) continue;
    console.log(
      `${f}: ${stats.records[f]} records -> ${stats.entities[f]} entities${stats.empty[f] ? `, ${stats.empty[f]} empty texts skipped` : ""}`,
    );
  }
  reportChunking(texts, opts.chunks);
  saveTexts(opts.out, texts);
  console.log(`saved to ${opts.out}\nnext: kser knowledge encode --texts ${opts.out} --chunks ${opts.chunks} --out <bank dir>`);
}

function importKlgCommand(opts: ImportOptions): void {
  const texts = importKlg({ user: opts.klgUser, item: opts.klgItem }, domainFactors(opts));
  noteChunking(opts);
  saveTexts(opts.out, texts);
  console.log(`imported ${texts.user.size} user and ${texts.item.size} item answers; saved to ${opts.out}`);
}

function importVectorsCommand(opts: ImportOptions): void {
  if (!opts.vectorsUser || !opts.vectorsItem)
    throw new UserFacingError("import needs --texts FILE, --klg-user/--klg-item, or both --vectors-user and --vectors-item");
  const format = opts.format as VectorFileFormat | undefined;
  const user = importVectors(opts.vectorsUser, { format, ids: readIds(opts.userIds) });
  const item = importVectors(opts.vectorsItem, { format, ids: readIds(opts.itemIds) });
  const bank = bankFromVectors(user, item, opts.encoderName);
  saveBank(opts.out, bank);
  console.log(`${describeBank(bank)}; saved to ${opts.out}`);
}

/** The encoder `kser knowledge encode` options name: the offline hash encoder or a remote embedding API. */
function encoderFor(
  opts: { encoder: string; dim?: number; model?: string; apiKeyEnv?: string; pooling: "mean" | "cls"; accountId?: string },
  remote: Omit<Parameters<typeof createOpenAIEmbeddings>[0], "model" | "dim" | "apiKeyEnv">,
): KnowledgeEncoder {
  if (opts.encoder === "hash") return new HashEncoder({ dim: opts.dim ?? KNOWLEDGE_DEFAULTS.encoderDim });
  if (opts.encoder === "openai")
    return createOpenAIEmbeddings({ ...remote, model: opts.model ?? "text-embedding-3-small", dim: opts.dim, apiKeyEnv: opts.apiKeyEnv });
  return createWorkersAiEmbeddings({
    ...remote,
    model: opts.model,
    dim: opts.dim,
    pooling: opts.pooling,
    accountId: opts.accountId,
    apiTokenEnv: opts.apiKeyEnv,
  });
}

/** `kser knowledge encode`. */
function registerEncode(knowledge: Command): void {
  retryOptions(knowledge.command("encode").description("chunk knowledge texts and encode them into a bank"))
    .requiredOption("--texts <file>", "knowledge texts (JSONL from simulate/generate/import)")
    .addOption(new Option("--encoder <name>", "text encoder").choices(["hash", "openai", "workers-ai"]).default("hash"))
    .option(
      "--dim <n>",
      `dimension (hash: buckets, default ${KNOWLEDGE_DEFAULTS.encoderDim}; openai: required for unknown models)`,
      wholeNumber(1),
    )
    .option("--model <name>", "embedding model (openai: text-embedding-3-small; workers-ai: @cf/baai/bge-base-en-v1.5)")
    .option("--base-url <url>", "API base URL")
    .option("--api-key-env <name>", "environment variable with the API key")
    .option("--account-id <id>", "Cloudflare account (default CLOUDFLARE_ACCOUNT_ID)")
    .addOption(
      new Option("--pooling <name>", "workers-ai pooling (mean and cls are not compatible)").choices(["mean", "cls"]).default("mean"),
    )
    .option("--concurrency <n>", "requests in flight", wholeNumber(1), 4)
    .option("--cache <file>", "JSONL cache of remote vectors; a rerun resumes from it")
    .option("--chunks <k>", "chunks per entity", wholeNumber(1), KNOWLEDGE_DEFAULTS.chunks)
    .requiredOption("--out <dir>", "bank folder")
    .action(async (opts) => {
      const texts = loadTexts(opts.texts);
      if (texts.user.size + texts.item.size === 0)
        throw new InputFormatError(opts.texts, undefined, undefined, "holds no knowledge texts (a header only): nothing to encode");
      reportChunking(texts, opts.chunks);
      const bar = progressBar("encode");
      const encoder = encoderFor(opts, {
        concurrency: opts.concurrency,
        cachePath: opts.cache,
        policy: policy(opts),
        hooks: retryLog("encode"),
        onProgress: bar.update,
        baseUrl: opts.baseUrl,
      });
      const started = performance.now();
      const bank = await buildBank(texts, encoder, { chunks: opts.chunks })
        .catch((error) => {
          if (error instanceof ProviderError)
            throw new UserFacingError(`encode stopped, ${opts.out} not written: ${error.message}`, error.exitCode);
          throw error;
        })
        .finally(() => bar.stop());
      saveBank(opts.out, bank);
      console.log(`${describeBank(bank)}; encoded in ${((performance.now() - started) / 1000).toFixed(1)} s; saved to ${opts.out}`);
      const kinds = [bank.user.kinds, bank.item.kinds].flatMap((k) => (k ? [...k] : []));
      if (kinds.length > 0) {
        const counts = CHUNK_KINDS.map((k, i) => `${k} ${kinds.filter((x) => x === i).length}`);
        console.log(`true chunk kinds recorded (${counts.join(", ")}; masked slots hold ${NO_KIND})`);
      }
    });
}

/** `kser knowledge compress`. */
function registerCompress(knowledge: Command): void {
  knowledge
    .command("compress")
    .description("PCA to a smaller dimension and int8 quantisation (as the KV codec stores it), with the error it costs")
    .requiredOption("--bank <dir>", "bank folder")
    .requiredOption("--dim <n>", "target dimension", wholeNumber(1))
    .addOption(new Option("--codec <name>", "storage codec").choices(["i8", "f16", "f32"]).default(KNOWLEDGE_DEFAULTS.codec))
    .option("--seed <n>", "seed of the PCA subsample and start", wholeNumber(0), 1)
    .requiredOption("--out <dir>", "compressed bank folder")
    .action(async (opts) => {
      const bank = loadBank(opts.bank);
      const withKnowledge = (["user", "item"] as const).filter((f) => bank[f].mask.some((m) => m > 0));
      const maxDim = Math.min(...withKnowledge.map((f) => bank[f].dim));
      if (opts.dim > maxDim) throw new UserFacingError(`--dim ${opts.dim} is larger than the bank's dimension ${maxDim}`);
      const { bank: small, report } = compressBank(bank, { dim: opts.dim, codec: opts.codec, seed: opts.seed });
      saveBank(opts.out, small);
      for (const f of ["user", "item"] as const) {
        const r = report[f];
        if (!r) {
          console.log(`${f}: no knowledge in this field; kept empty at dimension ${opts.dim}`);
          continue;
        }
        console.log(
          `${f}: ${r.inputDim} -> ${r.outputDim} ${r.codec}; variance kept ${(100 * r.explainedVariance).toFixed(1)}%; ` +
            `relative MSE ${r.pca.relativeMse.toFixed(4)} (PCA) / ${r.total.relativeMse.toFixed(4)} (+${r.codec}); mean cosine ${r.total.meanCosine.toFixed(4)}`,
        );
      }
      console.log(`${describeBank(small)}; saved to ${opts.out}`);
    });
}

export function register(program: Command): void {
  const knowledge = program
    .command("knowledge")
    .description("LLM knowledge: simulate or generate texts, import KAR's files, encode and compress banks");

  registerSimulate(knowledge);
  registerGenerate(knowledge);
  registerImport(knowledge);
  registerEncode(knowledge);
  registerCompress(knowledge);
}
