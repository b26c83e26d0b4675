/**
 * Lazy sparse AdamW for embedding tables: rows a batch did not touch stay unchanged (values and moments), touched
 * rows match a lazy AdamW step computed by hand, frozen rows stay put, state round-trips, and a table read other
 * than by gather keeps dense gradients. Also the dense (JS-fused) AdamW against a hand-computed step.
 */
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../trainer/accel/index.ts";
import { ParamStore } from "../../trainer/ops/tf-ops.ts";
import { AdamW } from "../../trainer/train/optimizer.ts";
import { SparseEmbeddings, sparseTables } from "../../trainer/train/sparse-embeddings.ts";

const V = 6;
const E = 3;
const lr = 0.05;
const wd = 0.1;
const [b1, b2, eps] = [0.9, 0.999, 1e-7];
const start = Float32Array.from({ length: V * E }, (_, i) => Math.sin(i + 1));
const c = [0.5, -1, 2];

/** A table and a constant-weighted sum of looked-up rows: d loss / d row r = (times r looked up) * c. */
function setup() {
  const params = new ParamStore(true, 1);
  const table = params.get("emb/t", [V, E], { kind: "zeros" }) as tf.Variable;
  table.assign(tf.tensor2d(start, [V, E]));
  const weights = tf.keep(tf.tensor1d(c));
  const loss = (gather: (t: tf.Tensor, ids: tf.Tensor) => tf.Tensor, ids: number[]) =>
    tf.sum(tf.mul(gather(table, tf.tensor1d(ids, "int32")), weights)) as tf.Scalar;
  return { params, table, weights, loss };
}

/** Lazy AdamW in float64 for one row: returns the new row, m, v. */
function lazyStep(row: number[], m: number[], v: number[], g: number[], t: number) {
  const stepSize = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
  const m1 = m.map((x, j) => b1 * x + (1 - b1) * g[j]);
  const v1 = v.map((x, j) => b2 * x + (1 - b2) * g[j] * g[j]);
  return { row: row.map((p, j) => p * (1 - lr * wd) - (stepSize * m1[j]) / (Math.sqrt(v1[j]) + eps)), m: m1, v: v1 };
}

beforeAll(async () => {
  await initBackend("wasm");
});

describe("sparse embedding updates (lazy AdamW)", () => {
  it("updates only touched rows and their moments, as a hand-computed lazy AdamW step", () => {
    const { params, table, weights, loss } = setup();
    const tables = new Map([["emb/t", table]]);
    const sparse = new SparseEmbeddings(tables);
    const opt = new AdamW(tables, { weightDecay: wd });
    opt.freezeRows("emb/t", [true, true, true, true, true, false]); // row 5 frozen
    const step = (ids: number[]) => {
      sparse.reset();
      const { grads } = tf.variableGrads(() => loss((t, i) => sparse.gather(t, i), ids), [sparse.anchor]);
      opt.apply({}, lr, sparse.rows);
      tf.dispose(Object.values(grads));
    };
    const rowsOf = (values: Float32Array | number[], r: number) => Array.from(values).slice(r * E, (r + 1) * E);

    step([1, 3, 3, 5]);
    const after1 = table.dataSync() as Float32Array;
    const s1 = opt.getState().moments.get("emb/t")!;
    const h1 = lazyStep(rowsOf(start, 1), [0, 0, 0], [0, 0, 0], c, 1);
    const h3 = lazyStep(
      rowsOf(start, 3),
      [0, 0, 0],
      [0, 0, 0],
      c.map((x) => 2 * x),
      1,
    );
    rowsOf(after1, 1).forEach((x, j) => {
      expect(x).toBeCloseTo(h1.row[j], 6);
    });
    rowsOf(after1, 3).forEach((x, j) => {
      expect(x).toBeCloseTo(h3.row[j], 6);
    });
    for (const r of [0, 2, 4, 5]) {
      expect(rowsOf(after1, r), `row ${r}`).toEqual(rowsOf(Float32Array.from(start), r));
      expect(rowsOf(s1.m, r).every((x) => x === 0) && rowsOf(s1.v, r).every((x) => x === 0)).toBe(true);
    }

    // Step 2 touches row 1 only: row 3 keeps its values and moments (no decay of untouched rows).
    step([1]);
    const after2 = table.dataSync() as Float32Array;
    const s2 = opt.getState().moments.get("emb/t")!;
    const h1b = lazyStep(h1.row, h1.m, h1.v, c, 2);
    rowsOf(after2, 1).forEach((x, j) => {
      expect(x).toBeCloseTo(h1b.row[j], 6);
    });
    rowsOf(s2.m, 1).forEach((x, j) => {
      expect(x).toBeCloseTo(h1b.m[j], 7);
    });
    expect(rowsOf(after2, 3)).toEqual(rowsOf(after1, 3));
    expect(rowsOf(s2.m, 3)).toEqual(rowsOf(s1.m, 3));
    expect(rowsOf(s2.v, 3)).toEqual(rowsOf(s1.v, 3));

    // Exact resume: a fresh optimizer given the state continues identically.
    const state = opt.getState();
    const copy = new Float32Array(after2);
    step([0, 1, 1]);
    const continued = Float32Array.from(table.dataSync() as Float32Array);
    table.assign(tf.tensor2d(copy, [V, E]));
    const resumed = new AdamW(tables, { weightDecay: wd });
    resumed.freezeRows("emb/t", [true, true, true, true, true, false]);
    resumed.setState(state);
    sparse.reset();
    const { grads } = tf.variableGrads(() => loss((t, i) => sparse.gather(t, i), [0, 1, 1]), [sparse.anchor]);
    resumed.apply({}, lr, sparse.rows);
    tf.dispose(Object.values(grads));
    expect(table.dataSync()).toEqual(continued);

    sparse.dispose();
    params.dispose();
    weights.dispose();
  });

  it("dense AdamW step matches the hand computation; a table read other than by gather stays dense", () => {
    const { params, table, weights } = setup();
    const w = params.get("core/w", [E, 1], { kind: "zeros" }) as tf.Variable;
    w.assign(tf.tensor2d([1, 2, 3], [E, 1]));
    const vars = new Map([
      ["emb/t", table],
      ["core/w", w],
    ]);
    // The table also enters a matMul: it must not be sparse. A gathered-only table would be.
    const tied = sparseTables(params, vars, (makeOps) => {
      const ops = makeOps(new Map());
      const looked = ops.gather(table, tf.tensor1d([0, 2], "int32"));
      return tf.add(tf.sum(ops.matMul(looked, w)), tf.sum(ops.matMul(table, w))) as tf.Scalar;
    });
    expect([...tied.keys()]).toEqual([]);
    const gatheredOnly = sparseTables(params, vars, (makeOps) => {
      const ops = makeOps(new Map());
      return tf.sum(ops.matMul(ops.gather(table, tf.tensor1d([0, 2], "int32")), w)) as tf.Scalar;
    });
    expect([...gatheredOnly.keys()]).toEqual(["emb/t"]);

    const opt = new AdamW(new Map([["core/w", w]]), { weightDecay: wd });
    const g = tf.tensor2d([0.3, -0.2, 0.1], [E, 1]);
    opt.apply({ "core/w": g }, lr);
    const h = lazyStep([1, 2, 3], [0, 0, 0], [0, 0, 0], [0.3, -0.2, 0.1], 1);
    Array.from(w.dataSync()).forEach((x, j) => {
      expect(x).toBeCloseTo(h.row[j], 6);
    });
    g.dispose();
    params.dispose();
    weights.dispose();
  });
});
