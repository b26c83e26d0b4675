/**
 * Sets of user buckets written as half-open ranges [start, end): the form a rollout config records which buckets
 * each variant owns. Normalised sets are sorted, disjoint and non-adjacent, so equal sets serialise identically.
 */
export type BucketRange = [start: number, end: number];

export function rangesSize(ranges: readonly BucketRange[]): number {
  return ranges.reduce((s, [start, end]) => s + (end - start), 0);
}

/** Sorted, with overlapping and touching ranges merged and empty ones dropped. */
export function normalizeRanges(ranges: readonly BucketRange[]): BucketRange[] {
  const sorted = ranges.filter(([s, e]) => e > s).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: BucketRange[] = [];
  for (const [s, e] of sorted) {
    const last = out.at(-1);
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

export function unionRanges(a: readonly BucketRange[], b: readonly BucketRange[]): BucketRange[] {
  return normalizeRanges([...a, ...b]);
}

/** The buckets of `a` that are not in `b`. */
export function subtractRanges(a: readonly BucketRange[], b: readonly BucketRange[]): BucketRange[] {
  const cut = normalizeRanges(b);
  const out: BucketRange[] = [];
  for (const [start, end] of normalizeRanges(a)) {
    let s = start;
    for (const [cs, ce] of cut) {
      if (ce <= s || cs >= end) continue;
      if (cs > s) out.push([s, cs]);
      s = Math.max(s, ce);
      if (s >= end) break;
    }
    if (s < end) out.push([s, end]);
  }
  return out;
}

export function containsBucket(ranges: readonly BucketRange[], bucket: number): boolean {
  return ranges.some(([s, e]) => bucket >= s && bucket < e);
}

/** Splits off the `n` highest (from "high") or lowest buckets of a normalised set. */
export function takeBuckets(
  ranges: readonly BucketRange[],
  n: number,
  from: "high" | "low",
): { taken: BucketRange[]; rest: BucketRange[] } {
  const rest = ranges.map(([s, e]): BucketRange => [s, e]);
  if (from === "high") rest.reverse();
  const taken: BucketRange[] = [];
  let need = n;
  while (need > 0 && rest.length) {
    const [s, e] = rest[0];
    const k = Math.min(need, e - s);
    if (from === "high") taken.push([e - k, e]);
    else taken.push([s, s + k]);
    if (k === e - s) rest.shift();
    else rest[0] = from === "high" ? [s, e - k] : [s + k, e];
    need -= k;
  }
  if (need > 0) throw new RangeError(`cannot take ${n} buckets from a set of ${rangesSize(ranges)}`);
  if (from === "high") {
    taken.reverse();
    rest.reverse();
  }
  return { taken, rest };
}

/** "[0, 7000) [8000, 9000)", at most `limit` ranges, then how many more. */
export function formatRanges(ranges: readonly BucketRange[], limit = 6): string {
  if (ranges.length === 0) return "none";
  const shown = ranges.slice(0, limit).map(([s, e]) => `[${s}, ${e})`);
  return ranges.length > limit ? `${shown.join(" ")} ... (${ranges.length} ranges)` : shown.join(" ");
}
