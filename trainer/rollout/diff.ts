/**
 * What a rollout change does, for --dry-run and for the log of a real change: variants, weights and bucket ranges
 * before and after, and the share of users who would switch variant, computed with the worker's own bucketing
 * (shared/rollout.ts assignVariant) over a sample of user ids.
 */
import { assignVariant, type RolloutConfig, variantRanges } from "../../shared/rollout.ts";
import { weightToPercent } from "./plan.ts";

export interface RolloutChange {
  sampleSize: number;
  /** Sampled users whose variant would change. */
  switched: number;
  /** "from -> to": count, for switched users only. */
  transitions: Record<string, number>;
  lines: string[];
}

/** Ids 1..n: MovieLens-style numeric user ids, used when no real id list is given. */
export function syntheticUserIds(n = 20_000): string[] {
  return Array.from({ length: n }, (_, i) => String(i + 1));
}

/** Salt, variants, weights and bucket ranges, one line each. */
export function describeConfig(config: RolloutConfig | null): string[] {
  if (!config) return ["  (none)"];
  const ranges = new Map(variantRanges(config).map((r) => [r.name, r]));
  return [
    `  salt ${config.salt}${config.fallback ? `, fallback ${config.fallback}` : ""}, updated ${config.updatedAt}`,
    ...config.variants.map((v) => {
      const r = ranges.get(v.name)!;
      return `  ${v.name.padEnd(16)} ${v.modelId.padEnd(24)} ${weightToPercent(v.weight).padStart(7)}  buckets [${r.start}, ${r.end})`;
    }),
  ];
}

export function describeRolloutChange(before: RolloutConfig | null, after: RolloutConfig, userIds: string[]): RolloutChange {
  const transitions: Record<string, number> = {};
  let switched = 0;
  if (before) {
    for (const id of userIds) {
      const from = assignVariant(before, id).name;
      const to = assignVariant(after, id).name;
      if (from !== to) {
        switched++;
        transitions[`${from} -> ${to}`] = (transitions[`${from} -> ${to}`] ?? 0) + 1;
      }
    }
  }
  const share = userIds.length ? ((100 * switched) / userIds.length).toFixed(2) : "0";
  const lines = [
    "before:",
    ...describeConfig(before),
    "after:",
    ...describeConfig(after),
    before
      ? `users who would switch variant: ${switched} of ${userIds.length} sampled (${share}%)`
      : "no live config: every user starts on the new one",
    ...Object.entries(transitions)
      .sort((a, b) => b[1] - a[1])
      .map(([t, n]) => `  ${t}: ${n}`),
  ];
  if (before && before.salt !== after.salt) lines.push("note: the salt changes, so assignment is re-randomised for everyone");
  return { sampleSize: userIds.length, switched, transitions, lines };
}
