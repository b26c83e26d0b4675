/**
 * Maps raw ids and attributes to model input indices exactly as training does. Both the trainer (dataset
 * preparation, parity checks) and the worker (requests) use this, so an id means the same row on both sides.
 *
 * Layout of one row (one candidate); Fi and Fu are slot counts (itemFeatureWidth, userFeatureWidth): one slot per
 * field, `bag.size` slots for a multi-valued field (its known values in the order given, then 0s):
 *   item_feats   int32 [Fi]      indices of the item fields (itemFields order), item id first; 0 = out of vocabulary
 *   user_feats   int32 [Fu]      indices of the user fields (userFields order)
 *   hist_feats   int32 [L, Fi]   item-field indices of the last L history items, oldest first, left-padded with 0
 *   hist_ratings int32 [L]       rating index (shared/rating.ts: 0 = padding/unknown)
 *   hist_mask    float32 [L]     1 for a real history position, 0 for padding
 */
import type { CategoricalField, FeatureSpec, VocabularyBlob } from "./manifest.ts";
import { ratingIndex } from "./rating.ts";
import type { HistoryEntry } from "./user-profile.ts";

export const ITEM_ID_FIELD = "item_id";

/** Slots a field takes in a row. */
export function fieldWidth(field: CategoricalField): number {
  return field.bag?.size ?? 1;
}

/** Slots of a list of fields, and where each starts. */
export function fieldOffsets(fields: readonly CategoricalField[]): { offsets: number[]; width: number } {
  const offsets: number[] = [];
  let width = 0;
  for (const f of fields) {
    offsets.push(width);
    width += fieldWidth(f);
  }
  return { offsets, width };
}

export const itemFeatureWidth = (spec: FeatureSpec) => fieldOffsets(spec.itemFields).width;
export const userFeatureWidth = (spec: FeatureSpec) => fieldOffsets(spec.userFields).width;

/** The values of a multi-valued raw value: split at the separator, trimmed, empty and repeated values dropped. */
export function splitBag(raw: string, separator: string): string[] {
  const out: string[] = [];
  for (const part of raw.split(separator)) {
    const v = part.trim();
    if (v && !out.includes(v)) out.push(v);
  }
  return out;
}

/**
 * A field's slots for a raw value: its index (0 when unknown or absent), or for a bag the indices of its known
 * values in the order given, at most bag.size of them, 0-padded.
 */
export function encodeField(field: CategoricalField, raw: string | undefined, index: (value: string) => number): number[] {
  if (!field.bag) return [raw === undefined ? 0 : index(raw)];
  const slots = new Array<number>(field.bag.size).fill(0);
  if (raw === undefined) return slots;
  let n = 0;
  for (const value of splitBag(raw, field.bag.separator)) {
    const i = index(value);
    if (i > 0 && n < slots.length) slots[n++] = i;
  }
  return slots;
}

/** `count` rows in the layout above, one array per input: the model inputs of a batch, a split's samples. */
export interface EncodedRows {
  count: number;
  itemFeats: Int32Array;
  userFeats: Int32Array;
  histFeats: Int32Array;
  histRatings: Int32Array;
  histMask: Float32Array;
}

/** Slots of one row: item fields (Fi), user fields (Fu), history positions (L). */
export interface RowShape {
  Fi: number;
  Fu: number;
  L: number;
}

export function rowShape(spec: FeatureSpec): RowShape {
  return { Fi: itemFeatureWidth(spec), Fu: userFeatureWidth(spec), L: spec.historyLength };
}

/** `count` rows of zeros (out of vocabulary, no history). */
export function allocateRows({ Fi, Fu, L }: RowShape, count: number): EncodedRows {
  return {
    count,
    itemFeats: new Int32Array(count * Fi),
    userFeats: new Int32Array(count * Fu),
    histFeats: new Int32Array(count * L * Fi),
    histRatings: new Int32Array(count * L),
    histMask: new Float32Array(count * L),
  };
}

/** Copies row `from` of `source` over row `to` of `target`. */
export function copyRow({ Fi, Fu, L }: RowShape, source: EncodedRows, from: number, target: EncodedRows, to: number): void {
  target.itemFeats.set(source.itemFeats.subarray(from * Fi, (from + 1) * Fi), to * Fi);
  target.userFeats.set(source.userFeats.subarray(from * Fu, (from + 1) * Fu), to * Fu);
  target.histFeats.set(source.histFeats.subarray(from * L * Fi, (from + 1) * L * Fi), to * L * Fi);
  target.histRatings.set(source.histRatings.subarray(from * L, (from + 1) * L), to * L);
  target.histMask.set(source.histMask.subarray(from * L, (from + 1) * L), to * L);
}

/** Rows start..end of `rows` as views (no copies). */
export function rowRange({ Fi, Fu, L }: RowShape, rows: EncodedRows, start: number, end: number): EncodedRows {
  return {
    count: end - start,
    itemFeats: rows.itemFeats.subarray(start * Fi, end * Fi),
    userFeats: rows.userFeats.subarray(start * Fu, end * Fu),
    histFeats: rows.histFeats.subarray(start * L * Fi, end * L * Fi),
    histRatings: rows.histRatings.subarray(start * L, end * L),
    histMask: rows.histMask.subarray(start * L, end * L),
  };
}

export class FeatureEncoder {
  private readonly lookups = new Map<string, Map<string, number>>();

  constructor(
    readonly spec: FeatureSpec,
    readonly vocabulary: VocabularyBlob,
  ) {
    for (const f of [...spec.itemFields, ...spec.userFields]) {
      const values = vocabulary.fields[f.name];
      if (!values) throw new Error(`vocabulary has no field ${f.name}`);
      if (values.length !== f.vocabSize) throw new Error(`vocabulary field ${f.name} has ${values.length} rows, spec says ${f.vocabSize}`);
    }
    if (spec.itemFields[0]?.name !== ITEM_ID_FIELD) throw new Error(`the first item field must be ${ITEM_ID_FIELD}`);
    if (vocabulary.itemFeatures.length !== spec.itemFields[0].vocabSize) {
      throw new Error(
        `vocabulary.itemFeatures has ${vocabulary.itemFeatures.length} rows, item_id vocabulary has ${spec.itemFields[0].vocabSize}`,
      );
    }
    const Fi = itemFeatureWidth(spec);
    const bad = vocabulary.itemFeatures.findIndex((row) => row.length !== Fi);
    if (bad >= 0) throw new Error(`vocabulary.itemFeatures row ${bad} has ${vocabulary.itemFeatures[bad].length} slots, the spec ${Fi}`);
  }

  /** Index of a raw value in a field's vocabulary; 0 (OOV) when unknown. */
  index(field: string, raw: string | undefined): number {
    if (raw === undefined) return 0;
    let lookup = this.lookups.get(field);
    if (!lookup) {
      const values = this.vocabulary.fields[field];
      if (!values) throw new Error(`vocabulary has no field ${field}`);
      lookup = new Map(values.map((v, i) => [v, i]));
      lookup.delete(values[0]); // row 0 is the OOV row, never a real value
      this.lookups.set(field, lookup);
    }
    return lookup.get(raw) ?? 0;
  }

  itemIndex(itemId: string): number {
    return this.index(ITEM_ID_FIELD, itemId);
  }

  /** Item-field indices of an item (row 0's features for an unknown item). */
  itemFeatureRow(itemIndex: number): number[] {
    return this.vocabulary.itemFeatures[itemIndex] ?? this.vocabulary.itemFeatures[0];
  }

  ratingIndex(rating: number | undefined): number {
    return ratingIndex(rating, this.spec);
  }

  /** Encodes one user's context against many candidate items (one row per candidate). */
  encode(input: { attributes: Record<string, string>; history: HistoryEntry[]; candidates: string[] }): EncodedRows {
    const { spec } = this;
    const n = input.candidates.length;
    const shape = rowShape(spec);
    const { Fi, Fu, L } = shape;
    const userRow = spec.userFields.flatMap((f) => encodeField(f, input.attributes[f.name], (v) => this.index(f.name, v)));
    const histFeatsRow = new Int32Array(L * Fi);
    const histRatingsRow = new Int32Array(L);
    const histMaskRow = new Float32Array(L);
    const recent = input.history.slice(-L);
    const offset = L - recent.length;
    recent.forEach((h, j) => {
      const feats = this.itemFeatureRow(this.itemIndex(h.itemId));
      histFeatsRow.set(feats, (offset + j) * Fi);
      histRatingsRow[offset + j] = this.ratingIndex(h.rating);
      histMaskRow[offset + j] = 1;
    });
    const rows = allocateRows(shape, n);
    input.candidates.forEach((c, i) => {
      rows.itemFeats.set(this.itemFeatureRow(this.itemIndex(c)), i * Fi);
      rows.userFeats.set(userRow, i * Fu);
      rows.histFeats.set(histFeatsRow, i * L * Fi);
      rows.histRatings.set(histRatingsRow, i * L);
      rows.histMask.set(histMaskRow, i * L);
    });
    return rows;
  }
}
