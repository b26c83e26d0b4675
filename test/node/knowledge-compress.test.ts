import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { quantizeLikeCodec } from "../../shared/vector-codec.ts";
import { buildBank, finishBank, loadBank, saveBank } from "../../trainer/knowledge/bank.ts";
import { compressBank, fitPca, projectPca, reconstructPca, symmetricEigen } from "../../trainer/knowledge/compress.ts";
import { HashEncoder } from "../../trainer/knowledge/encoders/hash.ts";
import { simulateKnowledge } from "../../trainer/knowledge/simulator.ts";
import { mulberry32 } from "../../trainer/util/random.ts";
import { syntheticMovies } from "./knowledge-fixtures.ts";

/** n vectors of dimension d lying near a rank-r subspace (Gaussian-ish factors plus small noise). */
function lowRank(n: number, d: number, r: number, noise: number, seed: number): Float32Array {
  const rng = mulberry32(seed);
  const gauss = () => rng() + rng() + rng() - 1.5;
  const basis = Array.from({ length: r }, () => Array.from({ length: d }, gauss));
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const coef = Array.from({ length: r }, (_, k) => gauss() * (r - k));
    for (let j = 0; j < d; j++) {
      let s = 0.3 + noise * gauss();
      for (let k = 0; k < r; k++) s += coef[k] * basis[k][j];
      out[i * d + j] = s;
    }
  }
  return out;
}

describe("PCA", () => {
  it("symmetricEigen diagonalises a symmetric matrix", () => {
    const m = Float64Array.from([4, 1, 0.5, 1, 3, 0.2, 0.5, 0.2, 1]);
    const { values, vectors } = symmetricEigen(m, 3);
    for (let c = 0; c < 3; c++) {
      for (let r = 0; r < 3; r++) {
        let mv = 0;
        for (let k = 0; k < 3; k++) mv += m[r * 3 + k] * vectors[k * 3 + c];
        expect(mv).toBeCloseTo(values[c] * vectors[r * 3 + c], 10);
      }
    }
    expect(values.reduce((a, b) => a + b, 0)).toBeCloseTo(8, 10);
  });

  it("recovers axis-aligned variances in order", () => {
    const rng = mulberry32(3);
    const scales = [1, 5, 0.5, 3, 0.1, 2];
    const n = 4000;
    const data = new Float32Array(n * 6);
    for (let i = 0; i < n; i++) for (let j = 0; j < 6; j++) data[i * 6 + j] = (rng() - 0.5) * Math.sqrt(12) * scales[j];
    const model = fitPca(data, 6, 3);
    const expectedAxes = [1, 3, 5];
    model.variances.forEach((v, c) => {
      expect(v / scales[expectedAxes[c]] ** 2).toBeGreaterThan(0.9);
      expect(v / scales[expectedAxes[c]] ** 2).toBeLessThan(1.1);
      expect(Math.abs(model.components[c * 6 + expectedAxes[c]])).toBeGreaterThan(0.99);
    });
  });

  it("keeps near-low-rank data with a small error, and int8 on top adds little", () => {
    const d = 64;
    const data = lowRank(3000, d, 5, 0.01, 11);
    const model = fitPca(data, d, 8);
    const projected = projectPca(model, data);
    const pcaOnly = reconstructPca(model, projected);
    const withI8 = reconstructPca(model, quantizeLikeCodec(projected, 8, "i8"));
    const rel = (r: Float32Array) => {
      let e = 0;
      let s = 0;
      for (let i = 0; i < data.length; i++) {
        e += (data[i] - r[i]) ** 2;
        s += data[i] ** 2;
      }
      return e / s;
    };
    expect(rel(pcaOnly)).toBeLessThan(1e-3);
    expect(rel(withI8)).toBeLessThan(5e-3);
    expect(rel(withI8)).toBeGreaterThan(rel(pcaOnly));
  });
});

describe("compressBank", () => {
  it("reports reconstruction errors, stores i8 as serving decodes it, and round-trips on disk", async () => {
    const { raw, prepared } = syntheticMovies(120, 200);
    const texts = simulateKnowledge(raw, prepared, { seed: 4, missingRate: { user: 0.1 } });
    const bank = await buildBank(texts, new HashEncoder({ dim: 128 }), { chunks: 6 });
    const { bank: small, report } = compressBank(bank, { dim: 48 });
    expect(small.user.dim).toBe(48);
    expect(small.codec).toBe("i8");
    expect(small.encoder).toBe("hash-v1-d128+pca48-i8");
    expect([...small.user.mask]).toEqual([...bank.user.mask]);
    expect(small.user.kinds).toEqual(bank.user.kinds);
    for (const f of ["user", "item"] as const) {
      const r = report[f]!;
      console.log(
        `${f}: explained ${r.explainedVariance.toFixed(3)}, pca relMSE ${r.pca.relativeMse.toFixed(4)}, +i8 relMSE ${r.total.relativeMse.toFixed(4)}, cos ${r.total.meanCosine.toFixed(4)}`,
      );
      // Templated knowledge is highly structured: 48 of 128 dimensions keep most of it.
      expect(r.explainedVariance).toBeGreaterThan(0.8);
      expect(r.total.meanCosine).toBeGreaterThan(0.9);
      expect(r.total.relativeMse).toBeGreaterThanOrEqual(r.pca.relativeMse);
      expect(r.total.relativeMse - r.pca.relativeMse).toBeLessThan(0.01);
      // Stored values are already what the i8 codec decodes to.
      expect(
        [...quantizeLikeCodec(small[f].values, 48, "i8")].every((v, i) => Math.abs(v - small[f].values[i]) <= 1e-6 * Math.abs(v) + 1e-9),
      ).toBe(true);
    }
    const dir = mkdtempSync(join(tmpdir(), "kser-compress-"));
    try {
      saveBank(dir, small);
      const loaded = loadBank(dir);
      expect(loaded.bankId).toBe(small.bankId);
      expect(loaded.codec).toBe("i8");
      let worst = 0;
      for (let i = 0; i < small.item.values.length; i++) {
        worst = Math.max(worst, Math.abs(loaded.item.values[i] - small.item.values[i]) / (Math.abs(small.item.values[i]) + 1e-9));
      }
      expect(worst).toBeLessThan(1e-6);
      expect((loaded.extra!.compression as typeof report).user!.total.meanCosine).toBeCloseTo(report.user!.total.meanCosine, 10);
      expect(finishBank({ ...small }).bankId).toBe(small.bankId);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
