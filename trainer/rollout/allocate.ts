/**
 * Which buckets each variant gets when a rollout changes (ramp, add, remove, set, promote). Ownership is by
 * variant name and the first target variant (the champion) is the pool:
 * - a variant that keeps its weight keeps exactly its buckets;
 * - a variant that shrinks keeps all but its lowest buckets, which go to the pool;
 * - a variant that grows (or is new) keeps its buckets and takes the highest free buckets: the pool's and those
 *   of variants that are removed or shrink in the same change;
 * - the champion owns whatever is left.
 * So a change moves users only between the variants whose weight changes and the champion: everyone in any other
 * variant stays. Taking from the top and giving back from the bottom reproduces the kser-rollout/1 layout when
 * variants are only appended and ramped at the end of the list.
 */
import { type BucketRange, rangesSize, subtractRanges, takeBuckets, unionRanges } from "../../shared/bucket-ranges.ts";
import { BUCKETS, type RolloutConfig, type RolloutVariant, type WeightedVariant } from "../../shared/rollout.ts";

const ALL: BucketRange[] = [[0, BUCKETS]];

/**
 * The variants of `targets` (in that order) with buckets, starting from the ownership in `live`. The champion's
 * weight is ignored: it gets what the others leave. Throws a RangeError when the others need more than BUCKETS.
 */
export function allocateBuckets(live: Pick<RolloutConfig, "variants">, targets: WeightedVariant[]): RolloutVariant[] {
  const owned = new Map(live.variants.map((v) => [v.name, v.buckets]));
  const others = targets.slice(1);
  const need = others.reduce((s, v) => s + v.weight, 0);
  if (need > BUCKETS) throw new RangeError(`the variants after the first need ${need} buckets, more than ${BUCKETS}`);
  // Shrink first, so that buckets given back are free for the variants that grow.
  const kept = others.map((v) => {
    const own = owned.get(v.name) ?? [];
    const excess = rangesSize(own) - v.weight;
    return excess > 0 ? takeBuckets(own, excess, "low").rest : own;
  });
  let free = subtractRanges(
    ALL,
    kept.reduce<BucketRange[]>((acc, r) => unionRanges(acc, r), []),
  );
  const buckets = kept.map((own, i) => {
    const missing = others[i].weight - rangesSize(own);
    if (missing <= 0) return own;
    const { taken, rest } = takeBuckets(free, missing, "high");
    free = rest;
    return unionRanges(own, taken);
  });
  const champion = targets[0];
  return [
    { name: champion.name, modelId: champion.modelId, weight: rangesSize(free), buckets: free },
    ...others.map((v, i) => ({ name: v.name, modelId: v.modelId, weight: v.weight, buckets: buckets[i] })),
  ];
}
