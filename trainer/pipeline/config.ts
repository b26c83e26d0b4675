/**
 * The experiment config (`kser train --config FILE`, JSON), validated with zod: which data, which knowledge, which
 * model and how it trains. A section or field left out takes the default stated once beside the code it configures
 * (TRAINING_DEFAULTS, MODEL_DEFAULTS, KNOWLEDGE_DEFAULTS). Every error names the file and the field path, and
 * relative paths are resolved against the file's own directory.
 */
import path from "node:path";
import { z } from "zod";
import { formatIssues } from "../../shared/manifest.ts";
import { KNOWLEDGE_DEFAULTS } from "../knowledge/defaults.ts";
import { MODEL_DEFAULTS } from "../models/config.ts";
import { backboneNames, extractorNames, getExtractor } from "../models/registry.ts";
import { TRAINING_DEFAULTS } from "../train/defaults.ts";
import { parseSchedule } from "../train/schedule.ts";
import { STRATEGIES } from "../train/strategy.ts";
import { UserFacingError } from "../util/errors.ts";
import { readJsonConfig } from "../util/input-file.ts";

/** The synthetic data's seed when the config gives none (the demo's and the nightly run's too). */
export const SYNTHETIC_SEED = 7;

const dataSchema = z.discriminatedUnion("source", [
  z.strictObject({
    source: z.literal("synthetic"),
    seed: z.number().int().default(SYNTHETIC_SEED),
    users: z.number().int().min(20).optional(),
    items: z.number().int().min(20).optional(),
  }),
  /** A folder written by `kser data prepare`. */
  z.strictObject({ source: z.literal("prepared"), path: z.string().min(1) }),
]);

const knowledgeSchema = z
  .discriminatedUnion("kind", [
    z.strictObject({ kind: z.literal("none") }),
    /** A bank folder written by `kser knowledge encode` / `compress`. */
    z.strictObject({ kind: z.literal("bank"), path: z.string().min(1) }),
    /** Simulated texts, hash-encoded, PCA-compressed (synthetic data only); seed: the data's. */
    z.strictObject({
      kind: z.literal("simulator"),
      seed: z.number().int().optional(),
      chunks: z.number().int().min(1).max(32).default(KNOWLEDGE_DEFAULTS.chunks),
      encoderDim: z.number().int().min(8).max(4096).default(KNOWLEDGE_DEFAULTS.encoderDim),
      dim: z.number().int().min(2).max(1024).default(KNOWLEDGE_DEFAULTS.dim),
      codec: z.enum(["i8", "f16", "f32"]).default(KNOWLEDGE_DEFAULTS.codec),
    }),
  ])
  .prefault({ kind: "none" });

const oneOf = (names: () => string[], what: string) =>
  z.string().refine((v) => names().includes(v), { error: (i) => `unknown ${what} ${String(i.input)} (${names().join(", ")})` });

const modelSchema = z
  .strictObject({
    backbone: oneOf(backboneNames, "backbone").default(MODEL_DEFAULTS.backbone),
    extractor: oneOf(extractorNames, "extractor").default(MODEL_DEFAULTS.extractor),
    embeddingDim: z.number().int().min(2).max(512).default(MODEL_DEFAULTS.embeddingDim),
  })
  .prefault({});

const scheduleSchema = z.string().transform((text, ctx) => {
  try {
    return parseSchedule(text);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message });
    return z.NEVER;
  }
});

const d = TRAINING_DEFAULTS;
const trainingSchema = z
  .strictObject({
    epochs: z.number().int().min(1).max(1000).default(d.epochs),
    batchSize: z.number().int().min(1).default(d.batchSize),
    learningRate: z.number().positive().default(d.learningRate),
    weightDecay: z.number().min(0).default(d.weightDecay),
    patience: z.number().int().min(1).default(d.patience),
    knowledgeDropout: z.number().min(0).max(1).default(d.knowledgeDropout),
    /** constant[:warmup] | cosine[:warmup[:minLr]] | step:every:factor[:warmup]; default constant. */
    schedule: scheduleSchema.optional(),
    seed: z.number().int().default(d.seed),
    strategy: z.enum(STRATEGIES).default(d.strategy),
    /** extractor-only: the trained backbone-only model (its model folder or run folder). */
    from: z.string().min(1).optional(),
    selectBy: z.enum(["auc", "gauc"]).default(d.selectBy),
  })
  .prefault({});

export const experimentConfigSchema = z
  .strictObject({
    data: dataSchema,
    knowledge: knowledgeSchema,
    model: modelSchema,
    training: trainingSchema,
  })
  .superRefine((c, ctx) => {
    if (c.knowledge.kind === "simulator" && c.data.source !== "synthetic")
      ctx.addIssue({ code: "custom", path: ["knowledge", "kind"], message: "the simulator needs data.source synthetic" });
    const extractor = extractorNames().includes(c.model.extractor) ? getExtractor(c.model.extractor) : null;
    if (extractor?.usesKnowledge && c.knowledge.kind === "none")
      ctx.addIssue({
        code: "custom",
        path: ["knowledge"],
        message: `extractor ${c.model.extractor} reads knowledge: give a bank or the simulator`,
      });
    if (c.training.strategy === "extractor-only" && !c.training.from)
      ctx.addIssue({
        code: "custom",
        path: ["training", "from"],
        message: "extractor-only training needs the backbone-only model to start from",
      });
  });

export type ExperimentConfig = z.infer<typeof experimentConfigSchema>;
/** An experiment config as written (sections and fields with defaults may be left out). */
export type ExperimentConfigInput = z.input<typeof experimentConfigSchema>;

/**
 * Parses an already-read value; `file` names it in messages and anchors its relative paths (absent: the cwd).
 * `describe` words the errors (default: the file and each field's path).
 */
export function parseExperimentConfig(
  value: unknown,
  file?: string,
  describe: (issues: readonly { path: PropertyKey[]; message: string }[]) => string = (issues) =>
    `${file ?? "experiment config"}: invalid experiment config: ${formatIssues(issues)}`,
): ExperimentConfig {
  const result = experimentConfigSchema.safeParse(value);
  if (!result.success) throw new UserFacingError(describe(result.error.issues));
  const c = result.data;
  const abs = (p: string) => path.resolve(file ? path.dirname(path.resolve(file)) : ".", p);
  if (c.data.source === "prepared") c.data.path = abs(c.data.path);
  if (c.knowledge.kind === "bank") c.knowledge.path = abs(c.knowledge.path);
  if (c.training.from) c.training.from = abs(c.training.from);
  return c;
}

export async function loadExperimentConfig(file: string): Promise<ExperimentConfig> {
  return parseExperimentConfig(await readJsonConfig(file, "experiment config"), file);
}
