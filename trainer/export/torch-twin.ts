/**
 * The PyTorch twin of a model: the training forward pass (trainer/train/model.ts forwardTf, the three graphs chained
 * through their inputs) written as an nn.Module by TorchCodegenOps. Used for same-machine GPU comparisons
 * (bench/gpu); the twin has the tfjs model's parameter names, shapes and initialisers.
 */
import type { ModelConfig } from "../models/config.ts";
import { backboneGraph, itemExtractorGraph, userExtractorGraph } from "../models/graphs.ts";
import { getExtractor } from "../models/registry.ts";
import { TorchCodegenOps } from "../ops/torch-codegen.ts";

export interface TorchTwin {
  ops: TorchCodegenOps;
  /** Output name -> Python variable: logit, and user_gate / item_gate for extractors with knowledge. */
  outputs: Record<string, string>;
  /**
   * The extractor's gate sparsity weight (0 when it has none). The twin leaves out the contrastive term (it needs
   * negative chunks from the training loop): the GPU comparison times the forward and backward pass of the model.
   */
  gateSparsity: number;
}

export function torchTwin(cfg: ModelConfig): TorchTwin {
  const ops = new TorchCodegenOps();
  const extractor = getExtractor(cfg.extractor);
  if (!extractor.usesKnowledge) return { ops, outputs: { logit: backboneGraph(ops, cfg).logit }, gateSparsity: 0 };
  const user = userExtractorGraph(ops, cfg);
  const item = itemExtractorGraph(ops, cfg);
  ops.bind("user_know", user.user_know);
  ops.bind("item_know", item.item_know);
  return {
    ops,
    outputs: { logit: backboneGraph(ops, cfg).logit, user_gate: user.user_gate, item_gate: item.item_gate },
    gateSparsity: extractor.training?.gateSparsity ?? 0,
  };
}
