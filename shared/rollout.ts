/**
 * Rollout of extractor versions: the config the worker reads from KV and the CLI edits, and the sticky bucketing
 * both use. A user's bucket is hash(salt:userId) mod 10,000, and the variant that lists that bucket serves the
 * user. Every variant lists the buckets it owns (kser-rollout/2); together they cover each bucket exactly once.
 * Because ownership is recorded rather than derived from list order and weights, the CLI can ramp, add or remove
 * one variant by moving buckets between it and the first variant (the champion) only: every other variant's
 * users stay where they are.
 *
 * kser-rollout/1 configs (weights only) are still read, as the fixed layout they always meant: the first variant
 * owns the buckets from 0 up, every other variant a range counted down from the top, in list order.
 */
import { z } from "zod";
import { type BucketRange, formatRanges, normalizeRanges, rangesSize } from "./bucket-ranges.ts";
import { hash32 } from "./hash.ts";
import { formatIssues } from "./manifest.ts";

export const BUCKETS = 10_000;
export const ROLLOUT_SCHEMA = "kser-rollout/2";
/** Weights only; read as the layout described above. */
export const ROLLOUT_SCHEMA_V1 = "kser-rollout/1";

const variantName = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 . _ -");
/** Share of traffic in basis points (10,000 = 100%). */
const weight = z.number().int().min(0).max(BUCKETS);
const bucketRange = z
  .tuple([z.number().int().min(0).max(BUCKETS), z.number().int().min(0).max(BUCKETS)])
  .refine(([start, end]) => start < end, "a bucket range [start, end) needs start < end");

export const rolloutVariantSchema = z.object({
  name: variantName,
  modelId: z.string().min(1),
  weight,
  /** The buckets this variant owns: sorted, non-overlapping [start, end) ranges whose sizes add up to weight. */
  buckets: z
    .array(bucketRange, {
      error: (issue) =>
        issue.input === undefined ? `missing: the [start, end) ranges the variant owns (${ROLLOUT_SCHEMA_V1} has weights only)` : undefined,
    })
    .max(BUCKETS),
});

const v1VariantSchema = z.object({ name: variantName, modelId: z.string().min(1), weight });

const salt = z.string().min(1).max(128);
const later = {
  /** Variant served when the assigned one cannot be (model fails to load, its vectors are missing). */
  fallback: z.string().optional(),
  updatedAt: z.string(),
};

type Ctx = z.RefinementCtx;

function checkNamesAndFallback(cfg: { variants: { name: string; weight: number }[]; fallback?: string }, ctx: Ctx): void {
  const names = new Set<string>();
  for (const [i, v] of cfg.variants.entries()) {
    if (names.has(v.name)) ctx.addIssue({ code: "custom", path: ["variants", i, "name"], message: `duplicate variant name ${v.name}` });
    names.add(v.name);
  }
  const total = cfg.variants.reduce((s, v) => s + v.weight, 0);
  if (total !== BUCKETS) ctx.addIssue({ code: "custom", path: ["variants"], message: `weights must add up to ${BUCKETS}, got ${total}` });
  if (cfg.fallback !== undefined && !names.has(cfg.fallback)) {
    ctx.addIssue({ code: "custom", path: ["fallback"], message: `fallback ${cfg.fallback} is not a variant` });
  }
}

/** Each variant's ranges are sorted and disjoint and add up to its weight; all of them cover every bucket once. */
function checkBuckets(variants: RolloutVariant[], ctx: Ctx): void {
  const owner = new Int16Array(BUCKETS).fill(-1);
  for (const [i, v] of variants.entries()) {
    const path = ["variants", i, "buckets"];
    const unsorted = v.buckets.findIndex((r, k) => k > 0 && r[0] < v.buckets[k - 1][1]);
    if (unsorted > 0) {
      ctx.addIssue({ code: "custom", path: [...path, unsorted], message: "ranges must be sorted and must not overlap" });
      return;
    }
    const size = rangesSize(v.buckets);
    if (size !== v.weight) ctx.addIssue({ code: "custom", path, message: `the ranges hold ${size} buckets but weight is ${v.weight}` });
    for (const [s, e] of v.buckets) {
      for (let b = s; b < e; b++) {
        if (owner[b] >= 0 && owner[b] !== i) {
          ctx.addIssue({ code: "custom", path, message: `bucket ${b} is also owned by ${variants[owner[b]].name}` });
          return;
        }
        owner[b] = i;
      }
    }
  }
  const unowned: BucketRange[] = [];
  for (let b = 0; b < BUCKETS; b++) if (owner[b] < 0) unowned.push([b, b + 1]);
  if (unowned.length) {
    ctx.addIssue({
      code: "custom",
      path: ["variants"],
      message: `buckets ${formatRanges(normalizeRanges(unowned), 3)} belong to no variant`,
    });
  }
}

export const rolloutConfigSchema = z
  .object({
    schema: z.literal(ROLLOUT_SCHEMA, { error: `must be ${ROLLOUT_SCHEMA} (or ${ROLLOUT_SCHEMA_V1}, weights only)` }),
    salt,
    variants: z.array(rolloutVariantSchema).min(1).max(16),
    ...later,
  })
  .superRefine((cfg, ctx) => {
    checkNamesAndFallback(cfg, ctx);
    checkBuckets(cfg.variants, ctx);
  });

const v1ConfigSchema = z
  .object({ schema: z.literal(ROLLOUT_SCHEMA_V1), salt, variants: z.array(v1VariantSchema).min(1).max(16), ...later })
  .superRefine(checkNamesAndFallback);

export type RolloutVariant = z.infer<typeof rolloutVariantSchema>;
export type RolloutConfig = z.infer<typeof rolloutConfigSchema>;
export type WeightedVariant = z.infer<typeof v1VariantSchema>;

/** The kser-rollout/1 layout: the first variant from bucket 0 up, the others counted down from the top in order. */
function layoutByWeights(variants: WeightedVariant[]): RolloutVariant[] {
  let top = BUCKETS;
  const rest = variants.slice(1).map((v) => {
    const buckets: BucketRange[] = v.weight > 0 ? [[top - v.weight, top]] : [];
    top -= v.weight;
    return { ...v, buckets };
  });
  const first = variants[0];
  return [{ ...first, buckets: top > 0 ? [[0, top]] : [] }, ...rest];
}

/** A kser-rollout/2 config from either schema; a kser-rollout/1 config gets the buckets its layout gave. */
export function parseRolloutConfig(value: unknown): RolloutConfig {
  let input = value;
  if (value && typeof value === "object" && (value as { schema?: unknown }).schema === ROLLOUT_SCHEMA_V1) {
    const v1 = v1ConfigSchema.safeParse(value);
    if (!v1.success) throw new Error(`invalid rollout config: ${formatIssues(v1.error.issues)}`);
    const { variants, fallback, ...rest } = v1.data;
    input = { ...rest, schema: ROLLOUT_SCHEMA, variants: layoutByWeights(variants), ...(fallback !== undefined ? { fallback } : {}) };
  }
  const result = rolloutConfigSchema.safeParse(input);
  if (!result.success) throw new Error(`invalid rollout config: ${formatIssues(result.error.issues)}`);
  return result.data;
}

/** A config in the fixed layout of its weights (the layout kser-rollout/1 configs are read as). */
export function rolloutConfigFromWeights(input: {
  salt: string;
  variants: WeightedVariant[];
  fallback?: string;
  updatedAt: string;
}): RolloutConfig {
  return parseRolloutConfig({ schema: ROLLOUT_SCHEMA_V1, ...input });
}

export function bucketOf(userId: string, salt: string): number {
  return hash32(`${salt}:${userId}`) % BUCKETS;
}

/** Every bucket range of the config with the variant owning it, sorted by start: a partition of [0, BUCKETS). */
export function variantRanges(config: Pick<RolloutConfig, "variants">): { name: string; start: number; end: number }[] {
  return config.variants.flatMap((v) => v.buckets.map(([start, end]) => ({ name: v.name, start, end }))).sort((a, b) => a.start - b.start);
}

/** The variant owning `bucket`. */
export function variantOfBucket(config: RolloutConfig, bucket: number): RolloutVariant {
  for (const v of config.variants) {
    for (const [s, e] of v.buckets) if (bucket >= s && bucket < e) return v;
  }
  throw new Error(`bucket ${bucket} belongs to no variant of the rollout config`);
}

export function assignVariant(config: RolloutConfig, userId: string): RolloutVariant {
  return variantOfBucket(config, bucketOf(userId, config.salt));
}
