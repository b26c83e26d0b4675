/** Expected scores for a request, computed from the fixture's parameters in plain JS (independent of the worker). */
import {
  DIMS,
  fixtureKnowledge,
  fixtureParams,
  ITEM_FEATURES,
  ITEM_FIELDS,
  noChunks,
  referenceItemKnow,
  referenceLogit,
  referenceUserKnow,
  sigmoid,
  USER_FIELDS,
} from "./fixtures/fixture-model.ts";

export interface RefRequest {
  userId: string;
  attributes: Record<string, string>;
  history: { itemId: string; rating?: number }[];
  candidates: string[];
}

const params = fixtureParams();
const knowledge = fixtureKnowledge();

const indexIn = (values: string[], raw: string | undefined) => {
  const i = raw === undefined ? -1 : values.indexOf(raw);
  return Math.max(i, 0);
};
const itemFeats = (id: string) => ITEM_FEATURES[indexIn(ITEM_FIELDS[0].values, id)];

/** kind "know": backbone with user_feats and knowledge; "plain": no user fields, no knowledge. */
export function expectedScores(kind: "know" | "plain", req: RefRequest, opts: { userKnowledge?: boolean } = {}): number[] {
  const { L, ratingVocab } = DIMS;
  const userFeats = kind === "know" ? USER_FIELDS.map((f) => indexIn(f.values, req.attributes[f.name])) : [];
  const recent = req.history.slice(-L);
  const hist = [
    ...Array.from({ length: L - recent.length }, () => ({ feats: [0, 0], rating: 0, mask: 0 })),
    ...recent.map((h) => ({
      feats: itemFeats(h.itemId),
      rating: h.rating === undefined ? 0 : Math.max(0, Math.min(ratingVocab - 1, Math.round(h.rating))),
      mask: 1,
    })),
  ];
  const userChunks = opts.userKnowledge === false ? noChunks() : (knowledge.users.get(req.userId) ?? noChunks());
  const userKnow = kind === "know" ? referenceUserKnow(params, userChunks, userFeats) : undefined;
  return req.candidates.map((c) => {
    const feats = itemFeats(c);
    const itemKnow = kind === "know" ? referenceItemKnow(params, knowledge.items.get(c) ?? noChunks(), feats) : undefined;
    return sigmoid(referenceLogit(params, { itemFeats: feats, userFeats, hist, userKnow, itemKnow }));
  });
}

export const hasUserKnowledge = (userId: string) => knowledge.users.has(userId);
