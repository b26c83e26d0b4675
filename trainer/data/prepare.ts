/**
 * Turns a RawDataset into the CTR samples the models train on, following KAR's protocol:
 * - each user's interactions in time order; the first `knowledgePrefix` of them only feed that user's knowledge and
 *   never become samples (no label leakage into user knowledge); they may still appear as history of later samples;
 * - one sample per later interaction: target item fields, user fields, the last L interactions before it (item
 *   fields + rating, oldest first, left-padded), label = rating >= minPositiveRating;
 * - users split by id into train/valid/test (a seeded shuffle, exact proportions);
 * - vocabularies from the train users' data only (row 0 = OOV), so valid/test see unknown values as 0 exactly as
 *   serving does. The arrays match shared/feature-encoding.ts row for row.
 */
import { ITEM_ID_FIELD } from "../../shared/feature-encoding.ts";
import { type FeatureSpec, OOV_TOKEN, type VocabularyBlob } from "../../shared/manifest.ts";
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

  // Split users by id: a seeded shuffle of the sorted ids, cut at exact shares.
  const order = new Rng(seed).shuffle(userIds.map((_, i) => i));
  const total = splits[0] + splits[1] + splits[2];
  const nTrain = Math.round((splits[0] / total) * userIds.length);
  const nValid = Math.round((splits[1] / total) * userIds.length);
  const splitOf = new Uint8Array(userIds.length);
  order.forEach((u, rank) => {
    splitOf[u] = rank < nTrain ? 0 : rank < nTrain + nValid ? 1 : 2;
  });

  // Vocabularies from train users only: values ordered by frequency, then by id, for stable, readable tables.
  const itemsById = new Map(raw.items.map((i) => [i.id, i]));
  const usersById = new Map(raw.users.map((u) => [u.id, u]));
  const itemCounts = new Map<string, number>();
  const userFieldCounts = raw.userFieldNames.map(() => new Map<string, number>());
  userIds.forEach((id, u) => {
    if (splitOf[u] !== 0) return;
    for (const it of byUser.get(id)!) itemCounts.set(it.itemId, (itemCounts.get(it.itemId) ?? 0) + 1);
    const attrs = usersById.get(id)?.attributes ?? {};
    raw.userFieldNames.forEach((f, k) => {
      const v = attrs[f];
      if (v !== undefined) userFieldCounts[k].set(v, (userFieldCounts[k].get(v) ?? 0) + 1);
    });
  });
  const itemVocab = vocabularyFrom(itemCounts);
  const itemFieldCounts = raw.itemFieldNames.map(() => new Map<string, number>());
  for (const [itemId, count] of itemCounts) {
    const attrs = itemsById.get(itemId)?.attributes ?? {};
    raw.itemFieldNames.forEach((f, k) => {
      const v = attrs[f];
      if (v !== undefined) itemFieldCounts[k].set(v, (itemFieldCounts[k].get(v) ?? 0) + count);
    });
  }
  const fields: Record<string, string[]> = { [ITEM_ID_FIELD]: itemVocab };
  raw.itemFieldNames.forEach((f, k) => {
    fields[f] = vocabularyFrom(itemFieldCounts[k]);
  });
  raw.userFieldNames.forEach((f, k) => {
    fields[f] = vocabularyFrom(userFieldCounts[k]);
  });
  const lookup = (field: string) => new Map(fields[field].map((v, i) => [v, i] as [string, number]).slice(1));
  const itemIndex = lookup(ITEM_ID_FIELD);
  const itemFieldLookups = raw.itemFieldNames.map(lookup);
  const userFieldLookups = raw.userFieldNames.map(lookup);

  const Fi = 1 + raw.itemFieldNames.length;
  const Fu = raw.userFieldNames.length;
  const itemFeatures: number[][] = itemVocab.map((id, index) => {
    if (index === 0) return new Array(Fi).fill(0);
    const attrs = itemsById.get(id)?.attributes ?? {};
    return [index, ...raw.itemFieldNames.map((f, k) => itemFieldLookups[k].get(attrs[f] as string) ?? 0)];
  });
  const vocabulary: VocabularyBlob = { fields, itemFeatures };
  const spec: FeatureSpec = {
    historyLength: L,
    itemFields: [ITEM_ID_FIELD, ...raw.itemFieldNames].map((name) => ({ name, vocabSize: fields[name].length })),
    userFields: raw.userFieldNames.map((name) => ({ name, vocabSize: fields[name].length })),
    ratingVocab: raw.ratingLevels + 1,
  };

  // Count samples per split, then fill flat arrays in one pass.
  const counts = [0, 0, 0];
  userIds.forEach((id, u) => {
    const n = byUser.get(id)!.length;
    counts[splitOf[u]] += n - prefixLength(n);
  });
  const out = counts.map((c) => allocateSplit(c, Fi, Fu, L));
  const cursor = [0, 0, 0];
  const ratingIndex = (r: number) => Math.max(0, Math.min(spec.ratingVocab - 1, Math.round(r)));
  const knowledgePrefixes: Record<string, RawInteraction[]> = {};
  const profiles: UserProfile[] = [];
  userIds.forEach((id, u) => {
    const list = byUser.get(id)!;
    const p = prefixLength(list.length);
    knowledgePrefixes[id] = list.slice(0, p);
    const attrs = usersById.get(id)?.attributes ?? {};
    const profileAttributes: Record<string, string> = {};
    for (const f of raw.userFieldNames) if (attrs[f] !== undefined) profileAttributes[f] = attrs[f];
    profiles.push({
      userId: id,
      attributes: profileAttributes,
      history: list.slice(-profileHistory).map((it) => ({ itemId: it.itemId, rating: Math.max(0, Math.min(100, Math.round(it.rating))) })),
    });
    const split = out[splitOf[u]];
    const userRow = raw.userFieldNames.map((f, k) => userFieldLookups[k].get(attrs[f] as string) ?? 0);
    const rowOf = (itemId: string) => itemFeatures[itemIndex.get(itemId) ?? 0];
    for (let t = p; t < list.length; t++) {
      const s = cursor[splitOf[u]]++;
      split.itemFeats.set(rowOf(list[t].itemId), s * Fi);
      split.userFeats.set(userRow, s * Fu);
      const start = Math.max(0, t - L);
      const offset = L - (t - start);
      for (let h = start; h < t; h++) {
        const pos = offset + h - start;
        split.histFeats.set(rowOf(list[h].itemId), (s * L + pos) * Fi);
        split.histRatings[s * L + pos] = ratingIndex(list[h].rating);
        split.histMask[s * L + pos] = 1;
      }
      split.labels[s] = list[t].rating >= raw.minPositiveRating ? 1 : 0;
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
