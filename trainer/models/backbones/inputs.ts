/**
 * Inputs the backbones share: the feature fields as [B, E] vectors (target item, user, pooled history, then the
 * two knowledge vectors as extra fields, KAR-style), the history as a sequence (DIN, DIEN), a masked softmax.
 * Sequence lookups use the same emb/ tables and OOV clamping as ../embedding.ts.
 */
import type { Ops } from "../../ops/ops.ts";
import type { ModelConfig } from "../config.ts";
import { historyEmbeddings, historyInputs, itemFieldEmbeddings, stackFields, userFieldEmbeddings } from "../embedding.ts";
import type { KnowledgeFields } from "./backbone.ts";

const MASK_PENALTY = 1e9;

/** Every field as a [B, E] vector: item fields, user fields, pooled history fields, then user/item knowledge. */
export function allFields<T>(ops: Ops<T>, cfg: ModelConfig, knowledge: KnowledgeFields<T> | null): T[] {
  const fields = [...itemFieldEmbeddings(ops, cfg), ...userFieldEmbeddings(ops, cfg), ...historyEmbeddings(ops, cfg)];
  return knowledge ? [...fields, knowledge.user, knowledge.item] : fields;
}

/** allFields as a set: the fields, their number F and the stack [B, F, E]. */
export function fieldSet<T>(ops: Ops<T>, cfg: ModelConfig, knowledge: KnowledgeFields<T> | null): { fields: T[]; F: number; stacked: T } {
  const fields = allFields(ops, cfg, knowledge);
  return { fields, F: fields.length, stacked: stackFields(ops, fields) };
}

/** Number of fields allFields returns. */
export function fieldCount(cfg: ModelConfig, withKnowledge: boolean): number {
  const { spec } = cfg;
  return spec.itemFields.length + spec.userFields.length + spec.itemFields.length + 1 + (withKnowledge ? 2 : 0);
}

export interface HistorySequence<T> {
  /** Item fields per position, concatenated: [B, L, Fi*E] (the same layout as `query`). */
  items: T;
  /** Rating embedding per position: [B, L, E]. */
  ratings: T;
  /** [B, L], 1 = a real interaction. */
  mask: T;
  /** Target item fields concatenated: [B, Fi*E]. */
  query: T;
}

/** The history as a sequence plus the target item as a query of the same width. Declares item_feats, hist_*. */
export function historySequence<T>(ops: Ops<T>, cfg: ModelConfig): HistorySequence<T> {
  const history = historyInputs(ops, cfg);
  const items = ops.concat(
    cfg.spec.itemFields.map((_, i) => history.field(i)),
    2,
  );
  return { items, ratings: history.ratings(), mask: history.mask, query: ops.concat(itemFieldEmbeddings(ops, cfg), 1) };
}

/** Softmax over the last axis of [B, N] restricted to mask = 1; an all-zero mask gives all-zero weights. */
export function maskedSoftmax<T>(ops: Ops<T>, scores: T, mask: T): T {
  const penalty = ops.scale(ops.add(mask, ops.constant([-1], [])), MASK_PENALTY);
  return ops.mul(ops.softmax(ops.add(scores, penalty)), mask);
}

/** Flattens [B, F, D] fields into [B, F*D]. */
export function flatten<T>(ops: Ops<T>, x: T, width: number): T {
  return ops.reshape(x, [-1, width]);
}
