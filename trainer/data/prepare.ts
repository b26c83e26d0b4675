/**
 * Turns a RawDataset into the CTR samples the models train on, following KAR's protocol:
 * - each user's interactions in time order; the first `knowledgePrefix` of them only feed that user's knowledge and
 *   never become samples (no label leakage into user knowledge); they may still appear as history of later samples;
 * - one sample per later interaction: target item fields, user fields, L history interactions (item fields +
 *   rating, oldest first, left-padded), label = rating >= minPositiveRating (one rating rule: shared/rating.ts);
 * - splits: by user (a seeded shuffle of the ids, exact shares: test users are new users), or as the data gives them
 *   (`split: "given"`, each interaction's own `split`: a user with train rows takes history only from them, so a
 *   test row never sees another test label; validation is carved from train users when the data marks none);
 * - vocabularies from the training data only (row 0 = OOV), so valid/test see unknown values as 0 exactly as
 *   serving does; a multi-valued field's vocabulary holds its single values and its rows a bag of them. The arrays
 *   match shared/feature-encoding.ts row for row.
 */
import {
  allocateRows,
  encodeField,
  ITEM_ID_FIELD,
  itemFeatureWidth,
  type RowShape,
  rowShape,
  splitBag,
} from "../../shared/feature-encoding.ts";
import { type CategoricalField, type FeatureSpec, OOV_TOKEN, type VocabularyBlob } from "../../shared/manifest.ts";
import { isPositive, ratingIndex, ratingVocabFor } from "../../shared/rating.ts";
import type { UserProfile } from "../../shared/user-profile.ts";
import { Rng } from "../util/random.ts";
import type { PreparedDataset, RawDataset, RawInteraction, SampleSplit } from "./types.ts";

export interface PrepareOptions {
  seed: number;
  historyLength?: number;
  /**
   * Interactions per user kept for knowledge only: a count (>= 1), or a fraction of each user's interactions (< 1).
   * Default: the source's own (RawDataset.knowledgePrefix), else DEFAULT_KNOWLEDGE_PREFIX.
   */
  knowledgePrefix?: number;
  /** Train, valid, test shares of the users; normalised (split "users" only). */
  splits?: [number, number, number];
  /** History entries kept in each serving profile (at least historyLength). */
  profileHistory?: number;
  /** "users": users split by `splits`. "given": each interaction's `split`. Default: "given" when every row has one. */
  split?: SplitMode;
  /** Given split without valid rows: about this share of the train samples is held out for validation (default 0.1). */
  validShare?: number;
  /**
   * Which interactions form a sample's history. "previous" (default): the L before it in time (for a valid or test
   * sample of a given split, the last L train rows before it). "prefix": the last L of the user's knowledge prefix,
   * the same for every sample of the user: for data without a meaningful order, where a window over the user's
   * other rows would hold the user's other labels but never the sample's own (a within-user anti-correlation).
   */
  history?: HistoryMode;
}

export type SplitMode = "users" | "given";
export type HistoryMode = "previous" | "prefix";
export const DEFAULT_KNOWLEDGE_PREFIX = 10;
export const DEFAULT_VALID_SHARE = 0.1;
const TRAIN = 0;
const VALID = 1;
const TEST = 2;
/** A row that only feeds knowledge and history. */
const PREFIX = 3;

/** Each user's interactions in time order, with the role every row plays. */
interface UserRows {
  id: string;
  rows: RawInteraction[];
  /** Per row: TRAIN, VALID, TEST (a sample of that split) or PREFIX. */
  roles: Uint8Array;
  /** Rows that may serve as history (all rows for a user split, train and prefix rows for a given split). */
  historyPool: boolean[];
  /** Whether the user's train and prefix rows feed the vocabularies (a train user of a user split; every user of a given split). */
  inVocabulary: boolean;
}

/** The options with their defaults, checked. */
function resolveOptions(raw: RawDataset, options: PrepareOptions) {
  const { historyLength: L = 5, splits = [0.8, 0.1, 0.1] } = options;
  const knowledgePrefix = options.knowledgePrefix ?? raw.knowledgePrefix ?? DEFAULT_KNOWLEDGE_PREFIX;
  if (!Number.isInteger(L) || L < 1) throw new Error("historyLength must be a positive integer");
  if (!(knowledgePrefix >= 0) || (knowledgePrefix >= 1 && !Number.isInteger(knowledgePrefix))) {
    throw new Error("knowledgePrefix must be a whole count or a fraction in [0, 1)");
  }
  if (splits.length !== 3 || splits.some((s) => !(s >= 0)) || splits[0] <= 0) throw new Error("splits must be three shares, train > 0");
  const validShare = options.validShare ?? DEFAULT_VALID_SHARE;
  if (!(validShare >= 0 && validShare <= 0.5)) throw new Error("validShare must be in [0, 0.5]");
  const split =
    options.split ?? (raw.interactions.length > 0 && raw.interactions.every((it) => it.split !== undefined) ? "given" : "users");
  return {
    L,
    splits,
    validShare,
    split,
    profileHistory: Math.max(L, options.profileHistory ?? 4 * L),
    historyMode: options.history ?? "previous",
    prefixLength: (n: number) => Math.min(n, knowledgePrefix >= 1 ? knowledgePrefix : Math.ceil(n * knowledgePrefix)),
  };
}

export function prepareDataset(raw: RawDataset, options: PrepareOptions): PreparedDataset {
  const { seed } = options;
  const o = resolveOptions(raw, options);
  const byUser = interactionsByUser(raw);
  const userIds = [...byUser.keys()].sort(compareIds);
  const users =
    o.split === "given"
      ? givenSplit(userIds, byUser, o.prefixLength, o.validShare, seed)
      : userSplit(userIds, byUser, o.prefixLength, o.splits, seed);
  const { vocabulary, spec, itemIndex, userRowOf } = buildVocabulary(raw, users, o.L);
  const shape = rowShape(spec);
  const counts = [0, 0, 0];
  for (const u of users) for (const role of u.roles) if (role !== PREFIX) counts[role]++;
  const out = counts.map(
    (count): SampleSplit => ({
      ...allocateRows(shape, count),
      labels: new Float32Array(count),
      userIndex: new Int32Array(count),
      targetItem: new Int32Array(count),
    }),
  );
  const cursor = [0, 0, 0];
  const usersById = new Map(raw.users.map((u) => [u.id, u]));
  const itemIds = [...new Set([...raw.items.map((i) => i.id), ...raw.interactions.map((it) => it.itemId)])].sort(compareIds);
  const fill: SampleFilling = {
    raw,
    spec,
    shape,
    rowOf: (itemId) => vocabulary.itemFeatures[itemIndex.get(itemId) ?? 0],
    itemPosition: new Map(itemIds.map((id, i) => [id, i])),
  };
  const knowledgePrefixes: Record<string, RawInteraction[]> = {};
  const profiles: UserProfile[] = [];
  users.forEach((user, u) => {
    knowledgePrefixes[user.id] = user.rows.filter((_, i) => user.roles[i] === PREFIX);
    const attrs = usersById.get(user.id)?.attributes ?? {};
    profiles.push(userProfile(raw, user, attrs, o.profileHistory));
    const histories = historyRows(user, o.L, o.historyMode);
    const userRow = userRowOf(attrs);
    user.rows.forEach((_, t) => {
      const role = user.roles[t];
      if (role !== PREFIX) fillSample(fill, out[role], cursor[role]++, { user, u, t, userRow, history: histories[t] });
    });
  });
  return {
    name: raw.name,
    seed,
    spec,
    vocabulary,
    userIds,
    itemIds,
    train: out[TRAIN],
    valid: out[VALID],
    test: out[TEST],
    profiles,
    knowledgePrefix: knowledgePrefixes,
  };
}

/** The serving profile of a user: its stored attributes and last interactions (ratings clamped to 0-100). */
function userProfile(raw: RawDataset, user: UserRows, attrs: Record<string, string>, profileHistory: number): UserProfile {
  const attributes: Record<string, string> = {};
  for (const f of raw.userFieldNames) if (attrs[f] !== undefined) attributes[f] = attrs[f];
  return {
    userId: user.id,
    attributes,
    history: user.rows.slice(-profileHistory).map((it) => ({ itemId: it.itemId, rating: Math.max(0, Math.min(100, it.rating)) })),
  };
}

/** What filling any sample needs. */
interface SampleFilling {
  raw: RawDataset;
  spec: FeatureSpec;
  shape: RowShape;
  rowOf: (itemId: string) => number[];
  itemPosition: Map<string, number>;
}

/** Sample s of a split from interaction t of user u: target item, user row, history (right-aligned), label. */
function fillSample(
  f: SampleFilling,
  split: SampleSplit,
  s: number,
  x: { user: UserRows; u: number; t: number; userRow: number[]; history: number[] },
): void {
  const { Fi, Fu, L } = f.shape;
  const list = x.user.rows;
  split.itemFeats.set(f.rowOf(list[x.t].itemId), s * Fi);
  split.userFeats.set(x.userRow, s * Fu);
  const offset = L - x.history.length;
  x.history.forEach((h, i) => {
    const pos = offset + i;
    split.histFeats.set(f.rowOf(list[h].itemId), (s * L + pos) * Fi);
    split.histRatings[s * L + pos] = ratingIndex(list[h].rating, f.spec);
    split.histMask[s * L + pos] = 1;
  });
  split.labels[s] = isPositive(list[x.t].rating, f.raw.minPositiveRating) ? 1 : 0;
  split.userIndex[s] = x.u;
  split.targetItem![s] = f.itemPosition.get(list[x.t].itemId)!;
}

/** Each user's interactions in time order (stable on ties: file order); users without interactions included. */
function interactionsByUser(raw: RawDataset): Map<string, RawInteraction[]> {
  const byUser = new Map<string, RawInteraction[]>();
  for (const u of raw.users) byUser.set(u.id, []);
  for (const it of raw.interactions) {
    const list = byUser.get(it.userId);
    if (list) list.push(it);
    else byUser.set(it.userId, [it]);
  }
  for (const list of byUser.values()) list.sort((a, b) => a.timestamp - b.timestamp);
  return byUser;
}

/** KAR's split: a seeded shuffle of the sorted ids, cut at exact shares; every row of a user in the user's split. */
function userSplit(
  userIds: string[],
  byUser: Map<string, RawInteraction[]>,
  prefixLength: (n: number) => number,
  splits: [number, number, number],
  seed: number,
): UserRows[] {
  const order = new Rng(seed).shuffle(userIds.map((_, i) => i));
  const total = splits[0] + splits[1] + splits[2];
  const nTrain = Math.round((splits[0] / total) * userIds.length);
  const nValid = Math.round((splits[1] / total) * userIds.length);
  const splitOf = new Uint8Array(userIds.length);
  order.forEach((u, rank) => {
    splitOf[u] = rank < nTrain ? TRAIN : rank < nTrain + nValid ? VALID : TEST;
  });
  return userIds.map((id, u) => {
    const rows = byUser.get(id)!;
    const p = prefixLength(rows.length);
    const roles = Uint8Array.from(rows, (_, i) => (i < p ? PREFIX : splitOf[u]));
    return { id, rows, roles, historyPool: rows.map(() => true), inVocabulary: splitOf[u] === TRAIN };
  });
}

/**
 * The data's own split: the prefix is the first rows of the user's train rows. When no row is marked valid,
 * validation is carved from train: a seeded 2 x validShare of the users with at least four train samples give half
 * of those samples (so validation users have several rows each, and a per-user AUC means something), about
 * validShare of the train samples in all.
 */
function givenSplit(
  userIds: string[],
  byUser: Map<string, RawInteraction[]>,
  prefixLength: (n: number) => number,
  validShare: number,
  seed: number,
): UserRows[] {
  const roleOf = (it: RawInteraction): number => {
    if (it.split === "train") return TRAIN;
    if (it.split === "valid") return VALID;
    if (it.split === "test") return TEST;
    throw new Error(`split "given": the interaction of user ${it.userId} with item ${it.itemId} has no split`);
  };
  const carve = ![...byUser.values()].some((rows) => rows.some((it) => it.split === "valid"));
  const rng = new Rng(seed);
  return userIds.map((id) => {
    const rows = byUser.get(id)!;
    const roles = Uint8Array.from(rows, roleOf);
    const train = [...roles.keys()].filter((i) => roles[i] === TRAIN);
    // A user with train rows takes history and prefix from them; a new user (none) from its own rows, in time order.
    const pool = train.length > 0 ? train : [...roles.keys()];
    const p = prefixLength(pool.length);
    for (const i of pool.slice(0, p)) roles[i] = PREFIX;
    const rest = train.slice(p);
    // One draw per user whatever its size, so a user's role does not depend on the others'.
    const held = rng.next() < 2 * validShare && carve && rest.length >= 4;
    if (held) for (const i of rng.shuffle(rest.slice()).slice(0, Math.floor(rest.length / 2))) roles[i] = VALID;
    const inPool = new Set(pool);
    return { id, rows, roles, historyPool: rows.map((_, i) => inPool.has(i)), inVocabulary: train.length > 0 };
  });
}

/** Per row, the indices of its history rows (oldest first, at most L). */
function historyRows(user: UserRows, L: number, mode: HistoryMode): number[][] {
  const { rows, roles, historyPool } = user;
  if (mode === "prefix") {
    const prefix = [...roles.keys()].filter((i) => roles[i] === PREFIX).slice(-L);
    return rows.map(() => prefix);
  }
  // "previous": the L pool rows before the row; a row outside the pool (valid/test of a given split) takes the pool
  // rows at or before its time, never other valid/test rows.
  const pool = [...rows.keys()].filter((i) => historyPool[i]);
  let seen = 0; // pool rows before t
  return rows.map((row, t) => {
    if (historyPool[t]) {
      const before = pool.slice(Math.max(0, seen - L), seen);
      seen++;
      return before;
    }
    let upTo = seen; // rows are in time order: pool rows after t may still share its timestamp
    while (upTo < pool.length && rows[pool[upTo]].timestamp <= row.timestamp) upTo++;
    return pool.slice(Math.max(0, upTo - L), upTo);
  });
}

/** Vocabularies (train rows only, by frequency), the item feature table, the feature spec and the user row encoder. */
function buildVocabulary(raw: RawDataset, users: UserRows[], L: number) {
  const itemsById = new Map(raw.items.map((i) => [i.id, i]));
  const usersById = new Map(raw.users.map((u) => [u.id, u]));
  // A multi-valued field counts each of its values; its bag size is the most values an entity has (up to maxValues).
  const bagSizes = new Map<string, number>();
  const countValues = (field: string, counts: Map<string, number>, value: string | undefined, weight: number) => {
    if (value === undefined) return;
    const rule = raw.multiValued?.[field];
    const values = rule ? splitBag(value, rule.separator) : [value];
    for (const v of values) counts.set(v, (counts.get(v) ?? 0) + weight);
    bagSizes.set(field, Math.max(bagSizes.get(field) ?? 1, values.length));
  };
  const itemCounts = new Map<string, number>();
  const userFieldCounts = raw.userFieldNames.map(() => new Map<string, number>());
  for (const user of users) {
    if (!user.inVocabulary) continue;
    const trainRows = user.rows.filter((_, i) => user.roles[i] === TRAIN || user.roles[i] === PREFIX);
    for (const it of trainRows) itemCounts.set(it.itemId, (itemCounts.get(it.itemId) ?? 0) + 1);
    const attrs = usersById.get(user.id)?.attributes ?? {};
    raw.userFieldNames.forEach((f, k) => {
      countValues(f, userFieldCounts[k], attrs[f], 1);
    });
  }
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
    const field: CategoricalField = { name, vocabSize: fields[name].length };
    if (rule) field.bag = { size: Math.min(rule.maxValues, bagSizes.get(name) ?? 1), separator: rule.separator };
    return field;
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
  return {
    vocabulary,
    spec,
    itemIndex: lookups.get(ITEM_ID_FIELD)!,
    userRowOf: (attrs: Record<string, string>) => rowOf(spec.userFields, attrs),
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
