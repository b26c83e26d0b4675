/**
 * The one rating rule of a model, used by the trainer (labels, history) and the worker (request history): a rating
 * r in steps of `ratingStep` (1 = whole stars, 0.5 = half stars) is history index round(r / ratingStep), clamped to
 * the rating vocabulary (index 0 = padding / unknown); a sample's label is r >= minPositiveRating. Loaders refuse a
 * rating off the step grid, so a history entry and a label never disagree about the same rating.
 */

export interface RatingRule {
  /** Rows of the rating embedding: 0 (padding / unknown) and one per step up to the highest rating. */
  ratingVocab: number;
  /** Size of one rating step; absent = 1. */
  ratingStep?: number;
}

/** History index of a rating (0 for an absent or non-finite one). */
export function ratingIndex(rating: number | undefined, rule: RatingRule): number {
  if (rating === undefined || !Number.isFinite(rating)) return 0;
  return Math.max(0, Math.min(rule.ratingVocab - 1, Math.round(rating / (rule.ratingStep ?? 1))));
}

/** Rows of the rating embedding for ratings up to `highest` in steps of `step`. */
export function ratingVocabFor(highest: number, step = 1): number {
  return Math.round(highest / step) + 1;
}

/** True when `rating` is a whole number of steps (within float rounding). */
export function onRatingGrid(rating: number, step = 1): boolean {
  const steps = rating / step;
  return Math.abs(steps - Math.round(steps)) < 1e-6;
}

/** The label rule: a positive interaction. */
export function isPositive(rating: number, minPositiveRating: number): boolean {
  return rating >= minPositiveRating;
}
