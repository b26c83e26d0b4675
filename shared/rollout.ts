/**
 * Rollout of extractor versions: the config the worker reads from KV and the CLI edits, and the sticky bucketing
 * function both use. A user's bucket is hash(salt:userId) mod 10,000. The first variant (the champion) owns the
 * buckets from 0 up; every other variant owns a fixed range counted down from the top, in list order. Raising a
 * variant's weight therefore only adds buckets to it: everyone already in it stays (ramp-monotone), as long as the
 * variants listed before it keep their weights.
 */
import { z } from "zod";
import { hash32 } from "./hash.ts";
import { formatIssues } from "./manifest.ts";

export const BUCKETS = 10_000;
export const ROLLOUT_SCHEMA = "kser-rollout/1";

export const rolloutVariantSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 . _ -"),
  modelId: z.string().min(1),
  /** Share of traffic in basis points (10,000 = 100%). The first variant's weight is whatever the others leave. */
  weight: z.number().int().min(0).max(BUCKETS),
});

export const rolloutConfigSchema = z
  .object({
    schema: z.literal(ROLLOUT_SCHEMA),
    salt: z.string().min(1).max(128),
    variants: z.array(rolloutVariantSchema).min(1).max(16),
    /** Variant served when the assigned one cannot be (model fails to load, its vectors are missing). */
    fallback: z.string().optional(),
    updatedAt: z.string(),
  })
  .superRefine((cfg, ctx) => {
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
  });

export type RolloutVariant = z.infer<typeof rolloutVariantSchema>;
export type RolloutConfig = z.infer<typeof rolloutConfigSchema>;

export function parseRolloutConfig(value: unknown): RolloutConfig {
  const result = rolloutConfigSchema.safeParse(value);
  if (!result.success) throw new Error(`invalid rollout config: ${formatIssues(result.error.issues)}`);
  return result.data;
}

export function bucketOf(userId: string, salt: string): number {
  return hash32(`${salt}:${userId}`) % BUCKETS;
}

/** The bucket range [start, end) each variant owns. */
export function variantRanges(config: Pick<RolloutConfig, "variants">): { name: string; start: number; end: number }[] {
  const ranges: { name: string; start: number; end: number }[] = [];
  let top = BUCKETS;
  for (const v of config.variants.slice(1)) {
    ranges.push({ name: v.name, start: top - v.weight, end: top });
    top -= v.weight;
  }
  ranges.unshift({ name: config.variants[0].name, start: 0, end: top });
  return ranges;
}

export function assignVariant(config: RolloutConfig, userId: string): RolloutVariant {
  const bucket = bucketOf(userId, config.salt);
  const ranges = variantRanges(config);
  const hit = ranges.find((r) => bucket >= r.start && bucket < r.end) ?? ranges[0];
  const variant = config.variants.find((v) => v.name === hit.name);
  if (!variant) throw new Error(`variant ${hit.name} missing from rollout config`);
  return variant;
}
