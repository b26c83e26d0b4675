/**
 * Pure edits of a rollout config: set, ramp, promote. Each returns a new validated config (parseRolloutConfig)
 * and never touches KV. Bucketing is shared/rollout.ts's: the first variant (champion) owns [0, rest), every
 * other variant a fixed range counted down from the top in list order.
 *
 * Ramp guarantee (why ramping is sticky): variant i's range is [top_i - w_i, top_i), where top_i depends only on
 * the weights of the variants listed before it. Ramping i up with those unchanged keeps top_i and lowers the
 * start, so its range only grows: every user already in i stays in i, and the newcomers come from the range below
 * (the champion's, when i is the last variant). Variants listed after i do move, so ramping a variant that has
 * non-empty variants after it needs allowReshuffle. Changing the salt re-randomises everyone: ramp keeps it.
 */
import { BUCKETS, parseRolloutConfig, ROLLOUT_SCHEMA, type RolloutConfig, type RolloutVariant } from "../../shared/rollout.ts";
import { UserFacingError } from "../util/errors.ts";

/** Percent (0-100, up to two decimals) to basis points; refuses values that are not whole basis points. */
export function percentToWeight(percent: number): number {
  const weight = Math.round(percent * 100);
  if (!Number.isFinite(percent) || percent < 0 || percent > 100 || Math.abs(weight - percent * 100) > 1e-6) {
    throw new UserFacingError(`weight ${percent}% must be between 0 and 100 in steps of 0.01`);
  }
  return weight;
}

export const weightToPercent = (weight: number) => `${(weight / 100).toFixed(2).replace(/\.?0+$/, "")}%`;

function validated(config: RolloutConfig): RolloutConfig {
  try {
    return parseRolloutConfig(config);
  } catch (error) {
    throw new UserFacingError((error as Error).message);
  }
}

/** "name:modelId:percent" as given on the command line. The champion's percent may be omitted ("name:modelId"). */
export function parseVariantSpec(spec: string): { name: string; modelId: string; weight?: number } {
  const [name, modelId, percent, ...rest] = spec.split(":");
  if (!name || !modelId || rest.length) throw new UserFacingError(`variant "${spec}" must be name:modelId[:percent]`);
  return { name, modelId, weight: percent === undefined ? undefined : percentToWeight(Number(percent)) };
}

/** A whole new config; the first variant gets whatever the others leave when its weight is not given. */
export function buildConfig(input: {
  salt: string;
  variants: { name: string; modelId: string; weight?: number }[];
  fallback?: string;
  now: string;
}): RolloutConfig {
  if (input.variants.length === 0) throw new UserFacingError("a rollout config needs at least one variant");
  const rest = input.variants.slice(1).map((v, i) => {
    if (v.weight === undefined) throw new UserFacingError(`variants.${i + 1}.weight: only the first variant may omit its weight`);
    return { name: v.name, modelId: v.modelId, weight: v.weight };
  });
  const first = input.variants[0];
  const firstWeight = first.weight ?? BUCKETS - rest.reduce((s, v) => s + v.weight, 0);
  return validated({
    schema: ROLLOUT_SCHEMA,
    salt: input.salt,
    variants: [{ name: first.name, modelId: first.modelId, weight: firstWeight }, ...rest],
    ...(input.fallback !== undefined ? { fallback: input.fallback } : {}),
    updatedAt: input.now,
  });
}

/** Sets a candidate's weight (adding it, with modelId, if new); the champion absorbs the difference. */
export function rampVariant(
  config: RolloutConfig,
  name: string,
  weight: number,
  options: { modelId?: string; allowReshuffle?: boolean; now: string },
): RolloutConfig {
  const index = config.variants.findIndex((v) => v.name === name);
  if (index === 0)
    throw new UserFacingError(
      `${name} is the first variant (champion): its weight is what the others leave; ramp a candidate or promote one`,
    );
  let variants: RolloutVariant[];
  if (index < 0) {
    if (!options.modelId) throw new UserFacingError(`variant ${name} does not exist: pass --model to add it as a new candidate`);
    variants = [...config.variants.map((v) => ({ ...v })), { name, modelId: options.modelId, weight }];
  } else {
    const current = config.variants[index];
    if (options.modelId && options.modelId !== current.modelId) {
      throw new UserFacingError(`variant ${name} serves ${current.modelId}; changing its model is not a ramp (add a new variant instead)`);
    }
    const movedAfter = config.variants.slice(index + 1).filter((v) => v.weight > 0);
    if (weight !== current.weight && movedAfter.length && !options.allowReshuffle) {
      throw new UserFacingError(
        `ramping ${name} moves the users of ${movedAfter.map((v) => v.name).join(", ")} (listed after it); pass --allow-reshuffle to accept that`,
      );
    }
    variants = config.variants.map((v, i) => (i === index ? { ...v, weight } : { ...v }));
  }
  const others = variants.slice(1).reduce((s, v) => s + v.weight, 0);
  if (others > BUCKETS) throw new UserFacingError(`the candidates would need ${weightToPercent(others)}, more than 100%`);
  variants[0].weight = BUCKETS - others;
  return validated({ ...config, variants, updatedAt: options.now });
}

/** The candidate becomes the first variant at 100%; the others are removed (the history keeps them for rollback). */
export function promoteVariant(config: RolloutConfig, name: string, now: string): RolloutConfig {
  const candidate = config.variants.find((v) => v.name === name);
  if (!candidate) throw new UserFacingError(`no variant named ${name} (variants: ${config.variants.map((v) => v.name).join(", ")})`);
  const { fallback: _dropped, ...rest } = config;
  return validated({
    ...rest,
    variants: [{ ...candidate, weight: BUCKETS }],
    ...(config.fallback === name ? { fallback: name } : {}),
    updatedAt: now,
  });
}
