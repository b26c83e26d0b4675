/**
 * Exactly which users a rollout change moves, counted in buckets (each bucket is 1/10,000 of users; with the same
 * salt a user moves iff their bucket changes owner). A variant that only gains or only loses buckets keeps its
 * other users; one that both gains and loses (or any variant, under a new salt) has its users reshuffled, which
 * `kser rollout set` accepts only with --allow-reshuffle. The first variant after the change (the champion, the
 * pool every ramp trades with) is not counted as reshuffled.
 */
import { BUCKETS, type RolloutConfig, variantRanges } from "../../shared/rollout.ts";

export interface VariantMove {
  name: string;
  before: number;
  after: number;
  /** Buckets that move into / out of this variant. */
  in: number;
  out: number;
}

export interface BucketMoves {
  saltChanged: boolean;
  /** "from -> to": buckets, for buckets whose owner changes (same salt only). */
  transitions: Record<string, number>;
  /** Every variant of either config, those of `after` first, in order. */
  variants: VariantMove[];
  /** Variants of both configs (not the new champion) whose users would be reshuffled. */
  reshuffled: string[];
}

function ownerTable(config: RolloutConfig): string[] {
  const owner = new Array<string>(BUCKETS);
  for (const r of variantRanges(config)) owner.fill(r.name, r.start, r.end);
  return owner;
}

export function bucketMoves(before: RolloutConfig, after: RolloutConfig): BucketMoves {
  const saltChanged = before.salt !== after.salt;
  const names = [...new Set([...after.variants, ...before.variants].map((v) => v.name))];
  const weightIn = (config: RolloutConfig, name: string) => config.variants.find((v) => v.name === name)?.weight ?? 0;
  const moves = new Map<string, VariantMove>(
    names.map((name) => [name, { name, before: weightIn(before, name), after: weightIn(after, name), in: 0, out: 0 }]),
  );
  const transitions: Record<string, number> = {};
  if (!saltChanged) {
    const from = ownerTable(before);
    const to = ownerTable(after);
    for (let b = 0; b < BUCKETS; b++) {
      if (from[b] === to[b]) continue;
      transitions[`${from[b]} -> ${to[b]}`] = (transitions[`${from[b]} -> ${to[b]}`] ?? 0) + 1;
      moves.get(from[b])!.out++;
      moves.get(to[b])!.in++;
    }
  }
  const inBoth = new Set(before.variants.map((v) => v.name).filter((n) => after.variants.some((v) => v.name === n)));
  inBoth.delete(after.variants[0].name);
  const reshuffled = [...moves.values()]
    .filter((m) => inBoth.has(m.name) && (saltChanged ? m.before > 0 && m.after > 0 : m.in > 0 && m.out > 0))
    .map((m) => m.name);
  return { saltChanged, transitions, variants: [...moves.values()], reshuffled };
}
