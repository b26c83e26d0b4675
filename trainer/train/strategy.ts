/**
 * Training strategies. all-params: every parameter trains from its seeded init. extractor-only: start from a
 * trained backbone-only model (extractor "none"), copy its weights, keep every parameter it has frozen (emb/, core/,
 * out/: the backbone is the whole model it was) and train what the extractor adds. Training the backbone's
 * embeddings too would go on fitting them past the epoch validation chose for the backbone.
 *
 * Knowledge fields change input dimensions: a backbone appends the two aligned knowledge vectors (2 x E) after its
 * feature fields, so the layer that reads them (DeepFM: core/dnn/0/w, [F*E, H] -> [(F+2)*E, H]; a backbone that
 * feeds them to its output layer: out/...) grows by 2E input rows at the end. Grown parameters keep the backbone's
 * rows and start the new rows at zero, so the starting model scores exactly like the backbone. The backbone's rows
 * stay frozen bit-for-bit and only the new rows train (the knowledge must enter somewhere).
 * Square layers over all fields (DCN's cross weights [D, D] -> [D+2E, D+2E]) also grow new output columns: the
 * backbone's rows keep zeros there (frozen), the new rows train across every column.
 */
import * as tf from "@tensorflow/tfjs-core";
import { getBackbone } from "../models/registry.ts";
import type { ParamStore } from "../ops/tf-ops.ts";
import type { TrainedModel } from "./model.ts";

export type Strategy = "all-params" | "extractor-only";
export const STRATEGIES: Strategy[] = ["all-params", "extractor-only"];

export interface StrategyPlan {
  /** Parameters the optimizer updates. */
  trainable: Map<string, tf.Variable>;
  /** Partly frozen parameters: row i trains when the flag is true. */
  rowMasks: Map<string, boolean[]>;
  /** Parameters (or rows) kept exactly as loaded. */
  frozen: string[];
}

const isFrozenGroup = (name: string) => name.startsWith("core/");

/** Copies a backbone's weights into a freshly built store and says what trains. */
export function planExtractorOnly(store: ParamStore, backbone: TrainedModel): StrategyPlan {
  if (backbone.config.extractor !== "none")
    throw new Error(`extractor-only training starts from a backbone-only model (extractor none), got "${backbone.config.extractor}"`);
  const trainable = new Map<string, tf.Variable>();
  const rowMasks = new Map<string, boolean[]>();
  const frozen: string[] = [];
  for (const [name, t] of store.tensors) {
    const v = t as tf.Variable;
    const old = backbone.params.get(name);
    if (!old) {
      if (isFrozenGroup(name)) throw new Error(`parameter ${name} is new in core/ and cannot be frozen: backbones differ?`);
      trainable.set(name, v);
      continue;
    }
    if (old.shape.length !== v.shape.length || old.shape.some((d, i) => d > v.shape[i]))
      throw new Error(`parameter ${name}: backbone shape [${old.shape}] cannot grow into [${v.shape}]`);
    // New entries (knowledge inputs and, for square layers such as cross networks, outputs) stay zero.
    const grown = old.shape[0] < v.shape[0];
    const at = grown ? (getBackbone(backbone.config.backbone).knowledgeRowsAt?.(name, old.shape[0]) ?? old.shape[0]) : old.shape[0];
    const values = insertRowsAt(copyIntoLeadingBlock(old.values, old.shape, v.shape), v.shape, old.shape[0], at);
    tf.tidy(() => v.assign(tf.tensor(values, v.shape)));
    if (grown) {
      const added = v.shape[0] - old.shape[0];
      trainable.set(name, v);
      rowMasks.set(
        name,
        Array.from({ length: v.shape[0] }, (_, r) => r >= at && r < at + added),
      );
      frozen.push(`${name} (all but rows ${at}-${at + added - 1})`);
    } else frozen.push(name);
  }
  return { trainable, rowMasks, frozen };
}

/**
 * `values` (shape `shape`) with its rows [at, oldRows) moved down to the end, so the zero rows after oldRows (the
 * grown ones) sit at [at, at + added) instead.
 */
function insertRowsAt(values: Float32Array, shape: number[], oldRows: number, at: number): Float32Array {
  if (at >= oldRows) return values;
  const row = values.length / shape[0];
  const added = shape[0] - oldRows;
  values.copyWithin((at + added) * row, at * row, oldRows * row);
  values.fill(0, at * row, (at + added) * row);
  return values;
}

/** A zero tensor of shape `to` holding `values` (shape `from`, every dim <= to's) in its leading corner. */
function copyIntoLeadingBlock(values: Float32Array, from: number[], to: number[]): Float32Array {
  const out = new Float32Array(to.reduce((a, c) => a * c, 1));
  if (from.length === 0) {
    out.set(values);
    return out;
  }
  const inner = from[from.length - 1];
  const rows = values.length / Math.max(inner, 1);
  for (let r = 0; r < rows; r++) {
    // Offset of row r (all leading indices) in the larger tensor.
    let rest = r;
    let offset = 0;
    let stride = to[to.length - 1];
    for (let axis = from.length - 2; axis >= 0; axis--) {
      offset += (rest % from[axis]) * stride;
      rest = Math.floor(rest / from[axis]);
      stride *= to[axis];
    }
    out.set(values.subarray(r * inner, (r + 1) * inner), offset);
  }
  return out;
}

export function planAllParams(store: ParamStore): StrategyPlan {
  return { trainable: new Map([...store.tensors].map(([n, t]) => [n, t as tf.Variable])), rowMasks: new Map(), frozen: [] };
}
