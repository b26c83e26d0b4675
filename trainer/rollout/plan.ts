/**
 * Pure edits of a rollout config: set, ramp, remove, promote. Each returns a new validated config
 * (parseRolloutConfig) and never touches KV. Buckets are given out by trainer/rollout/allocate.ts from the live
 * config's ownership: only the variant being changed and the champion (the first variant) trade buckets, so every
 * other variant keeps all its users. A config built without a live one (or with a new salt, which re-randomises
 * everyone anyway) gets the fixed layout of shared/rollout.ts rolloutConfigFromWeights.
 */
import { BUCKETS, parseRolloutConfig, type RolloutConfig, rolloutConfigFromWeights, type WeightedVariant } from "../../shared/rollout.ts";
import { UserFacingError } from "../util/errors.ts";
import { allocateBuckets } from "./allocate.ts";

/** Percent (0-100, up to two decimals) to basis points; refuses values that are not whole basis points. */
export function percentToWeight(percent: number): number {
  const weight = Math.round(percent * 100);
  if (!Number.isFinite(percent) || percent < 0 || percent > 100 || Math.abs(weight - percent * 100) > 1e-6) {
    throw new UserFacingError(`weight ${percent}% must be between 0 and 100 in steps of 0.01`);
  }
  return weight;
}

export const weightToPercent = (weight: number) => `${(weight / 100).toFixed(2).replace(/\.?0+$/, "")}%`;

function validated(make: () => RolloutConfig): RolloutConfig {
  try {
    return parseRolloutConfig(make());
  } catch (error) {
    throw new UserFacingError((error as Error).message);
  }
}

/** `config` with the variants `targets` (champion first), buckets allocated from the config's own. */
function reallocated(config: RolloutConfig, targets: WeightedVariant[], now: string, fallback = config.fallback): RolloutConfig {
  const others = targets.slice(1).reduce((s, v) => s + v.weight, 0);
  if (others > BUCKETS) throw new UserFacingError(`the candidates would need ${weightToPercent(others)}, more than 100%`);
  return validated(() => ({
    schema: config.schema,
    salt: config.salt,
    variants: allocateBuckets(config, targets),
    ...(fallback !== undefined ? { fallback } : {}),
    updatedAt: now,
  }));
}

/** "name:modelId:percent" as given on the command line. The champion's percent may be omitted ("name:modelId"). */
export function parseVariantSpec(spec: string): { name: string; modelId: string; weight?: number } {
  const [name, modelId, percent, ...rest] = spec.split(":");
  if (!name || !modelId || rest.length) throw new UserFacingError(`variant "${spec}" must be name:modelId[:percent]`);
  return { name, modelId, weight: percent === undefined ? undefined : percentToWeight(Number(percent)) };
}

/**
 * A whole new config; the first variant gets whatever the others leave when its weight is not given. With a live
 * config of the same salt, variants keep the buckets they own there (matched by name) as far as their new weights
 * allow, so only variants whose weight changes trade users, with the champion.
 */
export function buildConfig(input: {
  salt: string;
  variants: { name: string; modelId: string; weight?: number }[];
  fallback?: string;
  now: string;
  live?: RolloutConfig | null;
}): RolloutConfig {
  if (input.variants.length === 0) throw new UserFacingError("a rollout config needs at least one variant");
  const rest = input.variants.slice(1).map((v, i) => {
    if (v.weight === undefined) throw new UserFacingError(`variants.${i + 1}.weight: only the first variant may omit its weight`);
    return { name: v.name, modelId: v.modelId, weight: v.weight };
  });
  const first = input.variants[0];
  const firstWeight = first.weight ?? BUCKETS - rest.reduce((s, v) => s + v.weight, 0);
  const targets = [{ name: first.name, modelId: first.modelId, weight: firstWeight }, ...rest];
  const { live, salt, fallback, now } = input;
  const total = targets.reduce((s, v) => s + v.weight, 0);
  if (live && live.salt === salt && total === BUCKETS) return reallocated(live, targets, now, fallback);
  return validated(() => rolloutConfigFromWeights({ salt, variants: targets, fallback, updatedAt: now }));
}

/** Sets a candidate's weight (adding it, with modelId, if new); it trades buckets with the champion only. */
export function rampVariant(
  config: RolloutConfig,
  name: string,
  weight: number,
  options: { modelId?: string; now: string },
): RolloutConfig {
  const index = config.variants.findIndex((v) => v.name === name);
  if (index === 0)
    throw new UserFacingError(
      `${name} is the first variant (champion): its weight is what the others leave; ramp a candidate or promote one`,
    );
  const targets: WeightedVariant[] = config.variants.map(({ name, modelId, weight }) => ({ name, modelId, weight }));
  if (index < 0) {
    if (!options.modelId) throw new UserFacingError(`variant ${name} does not exist: pass --model to add it as a new candidate`);
    targets.push({ name, modelId: options.modelId, weight });
  } else {
    const current = config.variants[index];
    if (options.modelId && options.modelId !== current.modelId) {
      throw new UserFacingError(`variant ${name} serves ${current.modelId}; changing its model is not a ramp (add a new variant instead)`);
    }
    targets[index].weight = weight;
  }
  return reallocated(config, targets, options.now);
}

/** Drops a candidate; its users go back to the champion. */
export function removeVariant(config: RolloutConfig, name: string, now: string): RolloutConfig {
  const index = config.variants.findIndex((v) => v.name === name);
  if (index < 0) throw new UserFacingError(`no variant named ${name} (variants: ${config.variants.map((v) => v.name).join(", ")})`);
  if (index === 0) throw new UserFacingError(`${name} is the first variant (champion): promote another variant instead`);
  if (config.fallback === name) throw new UserFacingError(`${name} is the fallback: set another fallback first (kser rollout set)`);
  const targets = config.variants.filter((_, i) => i !== index).map(({ name, modelId, weight }) => ({ name, modelId, weight }));
  return reallocated(config, targets, now);
}

/** The candidate becomes the first variant at 100%; the others are removed (the history keeps them for rollback). */
export function promoteVariant(config: RolloutConfig, name: string, now: string): RolloutConfig {
  const candidate = config.variants.find((v) => v.name === name);
  if (!candidate) throw new UserFacingError(`no variant named ${name} (variants: ${config.variants.map((v) => v.name).join(", ")})`);
  const target = { name, modelId: candidate.modelId, weight: BUCKETS };
  return reallocated(config, [target], now, config.fallback === name ? name : undefined);
}
