/**
 * The training-only terms an extractor adds to the loss (Extractor.training), per knowledge field:
 * - contrastive: binary cross-entropy of telling an entity's own chunks (label 1) from chunks of another entity
 *   (label 0, `${side}_negative_chunks` / `_mask`, fed by the training loop) through the extractor's consistency
 *   head, with the gradient into the entity's context stopped;
 * - gate sparsity: the mean gate of present chunks, so a chunk keeps its gate open only when it pays for itself.
 * Without negative chunks in the feeds (any pass other than a training step) there is no term.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ExtractorOutput, ExtractorTraining } from "../models/extractors/extractor.ts";

/** The identity with no gradient. */
const detach = (x: tf.Tensor): tf.Tensor =>
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.clone(args[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor | tf.Tensor[]) => tf.zerosLike(dy as tf.Tensor),
  }))(x);

/** Mean of `values` over the entries where `mask` is 1. */
const maskedMean = (values: tf.Tensor, mask: tf.Tensor) => tf.div(tf.sum(tf.mul(values, mask)), tf.add(tf.sum(mask), 1e-6));

/** log(1 + e^x), overflow-safe. */
const softplus = (x: tf.Tensor) => tf.add(tf.relu(x), tf.log1p(tf.exp(tf.neg(tf.abs(x)))));

export function extractorAuxLoss(
  feeds: Map<string, tf.Tensor>,
  training: ExtractorTraining,
  sides: Record<"user" | "item", ExtractorOutput<tf.Tensor>>,
): tf.Scalar | undefined {
  const terms: tf.Tensor[] = [];
  for (const side of ["user", "item"] as const) {
    const negative = feeds.get(`${side}_negative_chunks`);
    const negativeMask = feeds.get(`${side}_negative_mask`);
    const { consistency, gate } = sides[side];
    if (!negative || !negativeMask) continue;
    const mask = feeds.get(`${side}_chunk_mask`)!;
    if (consistency && training.contrastiveWeight > 0) {
      const own = consistency(feeds.get(`${side}_chunks`)!, detach, true);
      const other = consistency(negative, detach, false);
      const bce = tf.add(maskedMean(softplus(tf.neg(own)), mask), maskedMean(softplus(other), negativeMask));
      terms.push(tf.mul(bce, training.contrastiveWeight));
    }
    if (training.gateSparsity > 0) terms.push(tf.mul(maskedMean(gate, mask), training.gateSparsity));
  }
  return terms.length > 0 ? (tf.addN(terms) as tf.Scalar) : undefined;
}
