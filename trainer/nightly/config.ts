/**
 * The nightly run's config file (JSON), validated with zod. Every error names the file and the field path
 * (e.g. `nightly.json: gate.minAucGain: expected number`), so a cron job's log says what to fix. Relative paths in
 * the file are resolved against the file's own directory, so a config works from any working directory.
 */
import path from "node:path";
import { z } from "zod";
import { formatIssues } from "../../shared/manifest.ts";
import { KNOWLEDGE_DEFAULTS } from "../knowledge/defaults.ts";
import { DEFAULT_RETRY_POLICY } from "../knowledge/providers/http.ts";
import { MODEL_DEFAULTS } from "../models/config.ts";
import { TRAINING_DEFAULTS } from "../train/defaults.ts";
import { UserFacingError } from "../util/errors.ts";
import { readJsonConfig } from "../util/input-file.ts";

const variantName = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 . _ -");

const dataSchema = z.discriminatedUnion("source", [
  z.strictObject({
    source: z.literal("synthetic"),
    seed: z.number().int().default(7),
    users: z.number().int().min(20).default(600),
    items: z.number().int().min(20).default(800),
  }),
  z.strictObject({ source: z.enum(["ml-100k", "ml-1m", "amazon-books"]), path: z.string().min(1) }),
  z.strictObject({ source: z.literal("generic"), config: z.string().min(1), path: z.string().min(1).optional() }),
]);

const prepareSchema = z
  .strictObject({
    seed: z.number().int().default(7),
    historyLength: z.number().int().min(1).max(50).default(5),
    knowledgePrefix: z.number().min(0).default(10),
  })
  .prefault({});

const knowledgeSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("simulator"), seed: z.number().int().default(7) }),
  z.strictObject({
    kind: z.literal("provider"),
    provider: z.enum(["openai", "workers-ai"]),
    model: z.string().min(1),
    /** OpenAI-compatible base URL (openai) — the key comes from OPENAI_API_KEY / CLOUDFLARE_API_TOKEN, never the file. */
    baseUrl: z.string().url().optional(),
    concurrency: z.number().int().min(1).max(64).default(4),
    /** Per-attempt timeout and retries of each request (trainer/knowledge/providers/http.ts DEFAULT_RETRY_POLICY). */
    timeoutMs: z.number().int().min(1).default(DEFAULT_RETRY_POLICY.timeoutMs),
    retries: z.number().int().min(0).max(20).default(DEFAULT_RETRY_POLICY.retries),
  }),
  z.strictObject({
    kind: z.literal("import"),
    /** A kser-knowledge-texts/1 file (see `kser knowledge`). */
    texts: z.string().min(1),
  }),
]);

const compressSchema = z
  .strictObject({
    chunks: z.number().int().min(1).max(32).default(KNOWLEDGE_DEFAULTS.chunks),
    encoderDim: z.number().int().min(8).max(4096).default(KNOWLEDGE_DEFAULTS.encoderDim),
    dim: z.number().int().min(2).max(1024).default(KNOWLEDGE_DEFAULTS.dim),
  })
  .prefault({});

const modelSchema = z
  .strictObject({
    backbone: z.string().min(1).default(MODEL_DEFAULTS.backbone),
    extractor: z.string().min(1).default(MODEL_DEFAULTS.extractor),
    // A nightly candidate fine-tunes on top of the live champion: fewer epochs and extractor-only by default.
    strategy: z.enum(["extractor-only", "all-params"]).default("extractor-only"),
    epochs: z.number().int().min(1).max(200).default(4),
    batchSize: z.number().int().min(1).default(TRAINING_DEFAULTS.batchSize),
    learningRate: z.number().positive().default(TRAINING_DEFAULTS.learningRate),
    embeddingDim: z.number().int().min(2).max(512).default(MODEL_DEFAULTS.embeddingDim),
    seed: z.number().int().default(TRAINING_DEFAULTS.seed),
    /** Epochs of the backbone trained as the first champion (no champion yet). */
    championEpochs: z.number().int().min(1).max(200).optional(),
  })
  .prefault({});

const gateSchema = z
  .strictObject({
    /** Candidate test AUC minus champion test AUC must be at least this. */
    minAucGain: z.number().default(0),
    /** Largest |ONNX - tfjs| score difference allowed. */
    maxParityDiff: z.number().positive().default(1e-5),
    /** Bytes of the candidate's ONNX graphs plus its precomputed item vectors. */
    maxModelBytes: z
      .number()
      .int()
      .positive()
      .default(64 * 1024 * 1024),
    /** p95 of ONNX (onnxruntime-web, 1 thread) latency for one request of latencyCandidates items, in ms. */
    maxLatencyMs: z.number().positive().default(100),
    latencyCandidates: z.number().int().min(1).max(5000).default(100),
  })
  .prefault({});

const publishSchema = z.discriminatedUnion("target", [
  z.strictObject({
    target: z.literal("local"),
    /** The directory `wrangler dev --persist-to` uses. */
    persistTo: z.string().min(1),
    /** The wrangler config with the KSER_KV binding; default: wrangler.toml of this project. */
    wranglerConfig: z.string().min(1).optional(),
  }),
  /** Credentials from CLOUDFLARE_ACCOUNT_ID, KSER_KV_NAMESPACE_ID, CLOUDFLARE_API_TOKEN (never in the file). */
  z.strictObject({ target: z.literal("cloudflare") }),
]);

const rolloutSchema = z
  .strictObject({
    candidateVariant: variantName.default("candidate"),
    championVariant: variantName.default("control"),
    rampPercent: z.number().min(0).max(100).default(10),
  })
  .prefault({});

export const nightlyConfigSchema = z
  .strictObject({
    name: z.string().min(1).default("nightly"),
    runsDir: z.string().min(1),
    data: dataSchema,
    prepare: prepareSchema,
    knowledge: knowledgeSchema,
    compress: compressSchema,
    model: modelSchema,
    gate: gateSchema,
    publish: publishSchema,
    rollout: rolloutSchema,
  })
  .superRefine((c, ctx) => {
    if (c.rollout.candidateVariant === c.rollout.championVariant)
      ctx.addIssue({ code: "custom", path: ["rollout", "candidateVariant"], message: "must differ from rollout.championVariant" });
    if (c.model.extractor === "none")
      ctx.addIssue({ code: "custom", path: ["model", "extractor"], message: "the candidate needs a knowledge extractor (not none)" });
  });

export type NightlyConfig = z.infer<typeof nightlyConfigSchema>;

/** Parses an already-read value; `file` is only used in messages and to resolve relative paths. */
export function parseNightlyConfig(value: unknown, file: string): NightlyConfig {
  const result = nightlyConfigSchema.safeParse(value);
  if (!result.success) throw new UserFacingError(`${file}: invalid nightly config: ${formatIssues(result.error.issues)}`);
  const c = result.data;
  const base = path.dirname(path.resolve(file));
  const abs = (p: string) => path.resolve(base, p);
  c.runsDir = abs(c.runsDir);
  if ("path" in c.data && c.data.path) c.data.path = abs(c.data.path);
  if (c.data.source === "generic") c.data.config = abs(c.data.config);
  if (c.knowledge.kind === "import") c.knowledge.texts = abs(c.knowledge.texts);
  if (c.publish.target === "local") {
    c.publish.persistTo = abs(c.publish.persistTo);
    if (c.publish.wranglerConfig) c.publish.wranglerConfig = abs(c.publish.wranglerConfig);
  }
  return c;
}

export async function loadNightlyConfig(file: string): Promise<NightlyConfig> {
  return parseNightlyConfig(await readJsonConfig(file, "nightly config"), file);
}
