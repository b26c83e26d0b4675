/**
 * The deletion test, a measure of selection that needs no ground truth: per entity, rank its present chunks by
 * the trained model's gate (an item's own gates; a user's mean over its samples, as computeGates gives them), mask
 * the g = floor(present / 2) highest-gated chunks of every entity (both fields), and separately the g lowest-gated,
 * and score the test split each time. If the gate selects what the model uses, the top half costs more. Masking
 * every chunk (knowledgeOff) measures how much of any knowledge model's score its knowledge carries.
 */
import type { KnowledgeBank, KnowledgeBankField, PreparedDataset } from "../../trainer/data/types.ts";
import { scoreMasked, scoreSplit } from "../../trainer/eval/masked-scores.ts";
import type { FieldGates, GatesReport } from "../../trainer/train/gates.ts";
import type { TrainedModel } from "../../trainer/train/model.ts";
import type { BenchMetric } from "./settings.ts";
import type { DeletionResult, TestMetrics } from "./types.ts";

/** Flags of the chunks to mask: each entity's g most (top) or least (bottom) gated present chunks. */
export function deletionDrop(gates: FieldGates, which: "top" | "bottom"): { drop: Uint8Array; masked: number } {
  const K = gates.chunks;
  const drop = new Uint8Array(gates.entities.length * K);
  let masked = 0;
  gates.entities.forEach((entity, e) => {
    const present = entity.mask.flatMap((m, k) => (m > 0 ? [k] : []));
    const g = Math.floor(present.length / 2);
    if (g === 0) return;
    // Ties keep slot order, so the two halves never overlap.
    const order = present.slice().sort((a, b) => entity.gates[a] - entity.gates[b] || a - b);
    const chosen = which === "bottom" ? order.slice(0, g) : order.slice(order.length - g);
    for (const k of chosen) drop[e * K + k] = 1;
    masked += g;
  });
  return { drop, masked };
}

const metrics = (m: TestMetrics): TestMetrics => ({ auc: m.auc, logloss: m.logloss, gauc: m.gauc });

export async function deletionTest(
  model: TrainedModel,
  data: PreparedDataset,
  bank: KnowledgeBank,
  gates: GatesReport,
  metric: BenchMetric,
): Promise<DeletionResult> {
  const base = metrics((await scoreSplit(model, data, bank)).metrics);
  const run = async (which: "top" | "bottom") => {
    const user = deletionDrop(gates.user, which);
    const item = deletionDrop(gates.item, which);
    const scored = await scoreMasked(model, data, bank, { user: user.drop, item: item.drop });
    return { metrics: metrics(scored.metrics), masked: { user: user.masked, item: item.masked } };
  };
  const top = await run("top");
  const bottom = await run("bottom");
  return {
    base,
    top: top.metrics,
    bottom: bottom.metrics,
    masked: top.masked,
    cost: { top: base[metric] - top.metrics[metric], bottom: base[metric] - bottom.metrics[metric] },
  };
}

/**
 * Test metrics with every chunk of both fields masked: what the model scores without the knowledge it reads. Beside
 * its score with knowledge this is the knowledge's part; beside `none`, what joint training did to the rest.
 */
export async function knowledgeOff(model: TrainedModel, data: PreparedDataset, bank: KnowledgeBank): Promise<TestMetrics> {
  const every = (field: KnowledgeBankField) => Uint8Array.from(field.mask, (m) => (m > 0 ? 1 : 0));
  return metrics((await scoreMasked(model, data, bank, { user: every(bank.user), item: every(bank.item) })).metrics);
}
