/**
 * Turns a RawDataset into the CTR samples the models train on, following KAR's protocol:
 * - each user's interactions in time order; the first `knowledgePrefix` of them only feed that user's knowledge and
 *   never become samples (no label leakage into user knowledge); they may still appear as history of later samples;
 * - one sample per later interaction: target item fields, user fields, the last L interactions before it (item
 *   fields + rating, oldest first, left-padded), label = rating >= minPositiveRating (shared/rating.ts);
 * - users split by id into train/valid/test (a seeded shuffle, exact proportions), or each interaction in the
 *   split the data gives it (RawDataset.givenSplit; the knowledge prefix then comes from train interactions only);
 * - vocabularies from train interactions only (row 0 = OOV), so valid/test see unknown values as 0 exactly as
 *   serving does; a multi-valued field's vocabulary holds its single values. The arrays match
 *   shared/feature-encoding.ts row for row.
 */
import { encodeField, ITEM_ID_FIELD, itemFeatureWidth, splitBag, userFeatureWidth } from "../../shared/feature-encoding.ts";
import { type CategoricalField, type FeatureSpec, OOV_TOKEN, type VocabularyBlob } from "../../shared/manifest.ts";
import { isPositive, ratingIndex, ratingVocabFor } from "../../shared/rating.ts";
import type { UserProfile } from "../../shared/user-profile.ts";
import { Rng } from "./rng.ts";
import type { PreparedDataset, RawDataset, RawInteraction, SampleSplit } from "./types.ts";

export interface PrepareOptions {
  seed: number;
  historyLength?: number;
  /** Interactions per user kept for knowledge only: a count (>= 1), or a fraction of each user's interactions (< 1). */
  knowledgePrefix?: number;
  /** Train, valid, test shares of the users; normalised. */
  splits?: [number, number, number];
  /** History entries kept in each serving profile (at least historyLength). */
  profileHistory?: number;
}

export const DEFAULT_KNOWLEDGE_PREFIX = 10;

export function prepareDataset(raw: RawDataset, options: PrepareOptions): PreparedDataset {
  const { seed, historyLength: L = 5, knowledgePrefix = DEFAULT_KNOWLEDGE_PREFIX, splits = [0.8, 0.1, 0.1] } = options;
  if (!Number.isInteger(L) || L < 1) throw new Error("historyLength must be a positive integer");
  if (!(knowledgePrefix >= 0) || (knowledgePrefix >= 1 && !Number.isInteger(knowledgePrefix))) {
    throw new Error("knowledgePrefix must be a whole count or a fraction in [0, 1)");
  }
  if (splits.length !== 3 || splits.some((s) => !(s >= 0)) || splits[0] <= 0) throw new Error("splits must be three shares, train > 0");
  const profileHistory = Math.max(L, options.profileHistory ?? 4 * L);

  // Each user's interactions in time order (stable on ties: file order).
  const byUser = new Map<string, RawInteraction[]>();
  for (const u of raw.users) byUser.set(u.id, []);
  for (const it of raw.interactions) {
    const list = byUser.get(it.userId);
    if (list) list.push(it);
    else byUser.set(it.userId, [it]);
  }
  for (const list of byUser.values()) list.sort((a, b) => a.timestamp - b.timestamp);
  const userIds = [...byUser.keys()].sort(compareIds);
  const prefixLength = (n: number) => Math.min(n, knowledgePrefix >= 1 ? knowledgePrefix : Math.ceil(n * knowledgePrefix));
  const plans = userIds.map((id) => planUser(byUser.get(id)!, prefixLength));
  if (!raw.givenSplit) {
    // Split users by id: a seeded shuffle of the sorted ids, cut at exact shares.
    const order = new Rng(seed).shuffle(userIds.map((_, i) => i));
    const total = splits[0] + splits[1] + splits[2];
    const nTrain = Math.round((splits[0] / total) * userIds.length);
    const nValid = Math.round((splits[1] / total) * userIds.length);
    order.forEach((u, rank) => {
      const split = rank < nTrain ? 0 : rank < nTrain + nValid ? 1 : 2;
      plans[u].split.fill(split);
      plans[u].trainUser = split === 0;
    });
  }

  const encoding = buildEncoding(raw, userIds, byUser, plans, L);
  const { spec, vocabulary, userRowOf, itemRowOf } = encoding;
  const Fi = itemFeatureWidth(spec);
  const Fu = userFeatureWidth(spec);

  // Count samples per split, then fill flat arrays in one pass.
  const counts = [0, 0, 0];
  for (const plan of plans) {
    plan.split.forEach((sp, t) => {
      if (!plan.prefix[t]) counts[sp]++;
    });
  }
  const out = counts.map((c) => allocateSplit(c, Fi, Fu, L));
  const cursor = [0, 0, 0];
  const knowledgePrefixes: Record<string, RawInteraction[]> = {};
  const profiles: UserProfile[] = [];
  userIds.forEach((id, u) => {
    const list = byUser.get(id)!;
    const { split: splitAt, prefix } = plans[u];
    knowledgePrefixes[id] = list.filter((_, t) => prefix[t]);
    const attrs = encoding.usersById.get(id)?.attributes ?? {};
    const profileAttributes: Record<string, string> = {};
    for (const f of raw.userFieldNames) if (attrs[f] !== undefined) profileAttributes[f] = attrs[f];
    profiles.push({
      userId: id,
      attributes: profileAttributes,
      history: list.slice(-profileHistory).map((it) => ({ itemId: it.itemId, rating: Math.max(0, Math.min(100, it.rating)) })),
    });
    const userRow = userRowOf(attrs);
    for (let t = 0; t < list.length; t++) {
      if (prefix[t]) continue;
      const split = out[splitAt[t]];
      const s = cursor[splitAt[t]]++;
      split.itemFeats.set(itemRowOf(list[t].itemId), s * Fi);
      split.userFeats.set(userRow, s * Fu);
      const start = Math.max(0, t - L);
      const offset = L - (t - start);
      for (let h = start; h < t; h++) {
        const pos = offset + h - start;
        split.histFeats.set(itemRowOf(list[h].itemId), (s * L + pos) * Fi);
        split.histRatings[s * L + pos] = ratingIndex(list[h].rating, spec);
        split.histMask[s * L + pos] = 1;
      }
      split.labels[s] = isPositive(list[t].rating, raw.minPositiveRating) ? 1 : 0;
      split.userIndex[s] = u;
    }
  });

  return {
    name: raw.name,
    seed,
    spec,
    vocabulary,
    userIds,
    train: out[0],
    valid: out[1],
    test: out[2],
    profiles,
    knowledgePrefix: knowledgePrefixes,
  };
}

/** A user's interactions (time order): each one's split, and which of them are the knowledge prefix. */
interface UserPlan {
  split: Uint8Array;
  prefix: Uint8Array;
  /** Whether the user's attributes enter the vocabularies: a train user, or a user with train interactions. */
  trainUser: boolean;
}

/**
 * The knowledge prefix is the first interactions of the user's train part: with a split by user that is the
 * user's first interactions; with a given split, valid and test interactions always stay samples.
 */
function planUser(list: RawInteraction[], prefixLength: (n: number) => number): UserPlan {
  const split = Uint8Array.from(list, (it) => it.split ?? 0);
  const prefix = new Uint8Array(list.length);
  const trainPositions: number[] = [];
  split.forEach((sp, t) => {
    if (sp === 0) trainPositions.push(t);
  });
  for (const t of trainPositions.slice(0, prefixLength(trainPositions.length))) prefix[t] = 1;
  return { split, prefix, trainUser: trainPositions.length > 0 };
}

/** Vocabularies (from train interactions only), the feature spec, and the row encoders of items and users. */
function buildEncoding(raw: RawDataset, userIds: string[], byUser: Map<string, RawInteraction[]>, plans: UserPlan[], L: number) {
  // Vocabularies from train interactions only: values ordered by frequency, then by id, for stable, readable tables.
  const itemsById = new Map(raw.items.map((i) => [i.id, i]));
  const usersById = new Map(raw.users.map((u) => [u.id, u]));
  const valuesOf = (field: string, rawValue: string | undefined): string[] => {
    if (rawValue === undefined) return [];
    const rule = raw.multiValued?.[field];
    return rule ? splitBag(rawValue, rule.separator) : [rawValue];
  };
  const itemCounts = new Map<string, number>();
  const userFieldCounts = raw.userFieldNames.map(() => new Map<string, number>());
  const bagSizes = new Map<string, number>();
  const countValues = (field: string, counts: Map<string, number>, rawValue: string | undefined, weight: number) => {
    const values = valuesOf(field, rawValue);
    for (const v of values) counts.set(v, (counts.get(v) ?? 0) + weight);
    bagSizes.set(field, Math.max(bagSizes.get(field) ?? 1, values.length));
  };
  userIds.forEach((id, u) => {
    byUser.get(id)!.forEach((it, t) => {
      if (plans[u].split[t] === 0) itemCounts.set(it.itemId, (itemCounts.get(it.itemId) ?? 0) + 1);
    });
    if (!plans[u].trainUser) return;
    const attrs = usersById.get(id)?.attributes ?? {};
    raw.userFieldNames.forEach((f, k) => {
      countValues(f, userFieldCounts[k], attrs[f], 1);
    });
  });
  const itemVocab = vocabularyFrom(itemCounts);
  const itemFieldCounts = raw.itemFieldNames.map(() => new Map<string, number>());
  for (const [itemId, count] of itemCounts) {
    const attrs = itemsById.get(itemId)?.attributes ?? {};
    raw.itemFieldNames.forEach((f, k) => {
      countValues(f, itemFieldCounts[k], attrs[f], count);
    });
  }
  const fields: Record<string, string[]> = { [ITEM_ID_FIELD]: itemVocab };
  raw.itemFieldNames.forEach((f, k) => {
    fields[f] = vocabularyFrom(itemFieldCounts[k]);
  });
  raw.userFieldNames.forEach((f, k) => {
    fields[f] = vocabularyFrom(userFieldCounts[k]);
  });
  const fieldSpec = (name: string): CategoricalField => {
    const rule = raw.multiValued?.[name];
    const spec: CategoricalField = { name, vocabSize: fields[name].length };
    if (rule) spec.bag = { size: Math.min(rule.maxValues, bagSizes.get(name) ?? 1), separator: rule.separator };
    return spec;
  };
  const spec: FeatureSpec = {
    historyLength: L,
    itemFields: [ITEM_ID_FIELD, ...raw.itemFieldNames].map(fieldSpec),
    userFields: raw.userFieldNames.map(fieldSpec),
    ratingVocab: ratingVocabFor(raw.ratingLevels, raw.ratingStep),
    ...(raw.ratingStep !== undefined && raw.ratingStep !== 1 ? { ratingStep: raw.ratingStep } : {}),
  };
  const lookup = (field: string) => new Map(fields[field].map((v, i) => [v, i] as [string, number]).slice(1));
  const lookups = new Map([...spec.itemFields, ...spec.userFields].map((f) => [f.name, lookup(f.name)]));
  const rowOf = (specFields: CategoricalField[], attrs: Record<string, string>) =>
    specFields.flatMap((f) => encodeField(f, attrs[f.name], (v) => lookups.get(f.name)!.get(v) ?? 0));
  const itemFeatures: number[][] = itemVocab.map((id, index) =>
    index === 0
      ? new Array(itemFeatureWidth(spec)).fill(0)
      : [index, ...rowOf(spec.itemFields.slice(1), itemsById.get(id)?.attributes ?? {})],
  );
  const vocabulary: VocabularyBlob = { fields, itemFeatures };
  const itemIndex = lookups.get(ITEM_ID_FIELD)!;
  return {
    spec,
    vocabulary,
    usersById,
    userRowOf: (attrs: Record<string, string>) => rowOf(spec.userFields, attrs),
    itemRowOf: (itemId: string) => itemFeatures[itemIndex.get(itemId) ?? 0],
  };
}

/** Raw values ordered by count (descending) then value, after the OOV row. */
function vocabularyFrom(counts: Map<string, number>): string[] {
  const values = [...counts.entries()].filter(([v]) => v !== OOV_TOKEN);
  values.sort((a, b) => b[1] - a[1] || compareIds(a[0], b[0]));
  return [OOV_TOKEN, ...values.map(([v]) => v)];
}

/** Numeric ids in numeric order, others by code units; deterministic regardless of locale. */
export function compareIds(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  const numeric = a !== "" && b !== "" && Number.isFinite(na) && Number.isFinite(nb);
  if (numeric && na !== nb) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

function allocateSplit(count: number, Fi: number, Fu: number, L: number): SampleSplit {
  return {
    count,
    itemFeats: new Int32Array(count * Fi),
    userFeats: new Int32Array(count * Fu),
    histFeats: new Int32Array(count * L * Fi),
    histRatings: new Int32Array(count * L),
    histMask: new Float32Array(count * L),
    labels: new Float32Array(count),
    userIndex: new Int32Array(count),
  };
}
