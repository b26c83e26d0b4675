/**
 * What a rollout change does, for --dry-run and for the log of a real change: variants, weights and buckets before
 * and after; the exact share of users moving into and out of each variant (trainer/rollout/moves.ts, by bucket);
 * and the number of sampled user ids who would switch, computed with the worker's own bucketing
 * (shared/rollout.ts assignVariant).
 */
import { formatRanges } from "../../shared/bucket-ranges.ts";
import { assignVariant, BUCKETS, type RolloutConfig } from "../../shared/rollout.ts";
import { type BucketMoves, bucketMoves } from "./moves.ts";
import { weightToPercent } from "./plan.ts";

export interface RolloutChange {
  sampleSize: number;
  /** Sampled users whose variant would change. */
  switched: number;
  /** "from -> to": count, for switched users only. */
  transitions: Record<string, number>;
  /** Exact moves by bucket; null when there is no config before. */
  moves: BucketMoves | null;
  lines: string[];
}

/** Ids 1..n: MovieLens-style numeric user ids, used when no real id list is given. */
export function syntheticUserIds(n = 20_000): string[] {
  return Array.from({ length: n }, (_, i) => String(i + 1));
}

/** Salt, then each variant with its model, share and buckets, one line each. */
export function describeConfig(config: RolloutConfig | null): string[] {
  if (!config) return ["  (none)"];
  return [
    `  salt ${config.salt}${config.fallback ? `, fallback ${config.fallback}` : ""}, updated ${config.updatedAt}`,
    ...config.variants.map(
      (v) => `  ${v.name.padEnd(16)} ${v.modelId.padEnd(24)} ${weightToPercent(v.weight).padStart(7)}  buckets ${formatRanges(v.buckets)}`,
    ),
  ];
}

const share = (buckets: number) => `${((100 * buckets) / BUCKETS).toFixed(2)}%`;

/** The exact moves as lines: per variant in/out, then each from -> to. */
function describeMoves(before: RolloutConfig, after: RolloutConfig, moves: BucketMoves): string[] {
  if (moves.saltChanged)
    return ["note: the salt changes, so assignment is re-randomised for everyone (only the sample below can tell who moves)"];
  const lines = ["users moving in/out of each variant (share of buckets = share of users):"];
  for (const m of moves.variants) {
    const what = m.in === 0 && m.out === 0 ? (m.before > 0 ? "keeps all its users" : "no users") : `in ${share(m.in)}, out ${share(m.out)}`;
    lines.push(`  ${m.name.padEnd(16)} ${share(m.before).padStart(7)} -> ${share(m.after).padStart(7)}  ${what}`);
  }
  for (const [t, n] of Object.entries(moves.transitions).sort((a, b) => b[1] - a[1])) lines.push(`  ${t}: ${share(n)}`);
  for (const v of after.variants) {
    const old = before.variants.find((w) => w.name === v.name);
    if (old && old.modelId !== v.modelId)
      lines.push(`  ${v.name} changes model ${old.modelId} -> ${v.modelId}: its users get the new model`);
  }
  return lines;
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
  const moves = before ? bucketMoves(before, after) : null;
  const sampled = userIds.length ? ((100 * switched) / userIds.length).toFixed(2) : "0";
  const lines = [
    "before:",
    ...describeConfig(before),
    "after:",
    ...describeConfig(after),
    ...(before && moves ? describeMoves(before, after, moves) : ["no live config: every user starts on the new one"]),
    ...(before ? [`sampled users who would switch variant: ${switched} of ${userIds.length} (${sampled}%)`] : []),
    ...Object.entries(transitions)
      .sort((a, b) => b[1] - a[1])
      .map(([t, n]) => `  ${t}: ${n}`),
  ];
  if (moves?.reshuffled.length)
    lines.push(`reshuffles the users of ${moves.reshuffled.join(", ")} (not only between a changed variant and the champion)`);
  return { sampleSize: userIds.length, switched, transitions, moves, lines };
}
