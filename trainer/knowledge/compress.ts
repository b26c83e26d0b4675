/**
 * Bank compression for the edge: PCA to a smaller dimension (fitted per field on the bank's present chunk vectors)
 * followed by per-vector int8 quantisation exactly as the KV codec does it (quantizeLikeCodec), so the vectors a model
 * trains on are the numbers serving decodes. Reports how much is lost.
 *
 * PCA: covariance accumulated in Float64, top components by subspace iteration with a Rayleigh-Ritz step (Jacobi on the
 * small projected matrix). No native dependencies; O(n d^2) for the covariance, O(iters d^2 k) for the components.
 */
import { quantizeLikeCodec, type VectorCodec } from "../../shared/vector-codec.ts";
import type { KnowledgeBankField } from "../data/types.ts";
import { UserFacingError } from "../util/errors.ts";
import { mulberry32, shuffle } from "../util/random.ts";
import { finishBank, type StoredBank } from "./bank.ts";
import { KNOWLEDGE_DEFAULTS } from "./defaults.ts";
import { KNOWLEDGE_FIELDS, type KnowledgeField } from "./types.ts";

export interface PcaModel {
  inputDim: number;
  outputDim: number;
  mean: Float32Array;
  /** outputDim x inputDim, row-major; rows are orthonormal principal directions, largest variance first. */
  components: Float32Array;
  /** Variance along each component. */
  variances: number[];
  /** Total variance of the fitted data (trace of the covariance). */
  totalVariance: number;
}

export interface FitPcaOptions {
  /** Rows with mask 0 are skipped. */
  mask?: Float32Array;
  /** At most this many rows enter the covariance (a seeded subsample beyond it); default 8,192: the covariance is O(n d^2). */
  maxSamples?: number;
  seed?: number;
  maxIterations?: number;
}

/** Eigen-decomposition of a small symmetric matrix (cyclic Jacobi); returns eigenvalues and column eigenvectors. */
export function symmetricEigen(matrix: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i];
  return { values, vectors: v };
}

/** Orthonormalises the columns of q (d x m, row-major) in place by modified Gram-Schmidt. */
function orthonormalise(q: Float64Array, d: number, m: number, rng: () => number): void {
  for (let j = 0; j < m; j++) {
    for (let attempt = 0; attempt < 3; attempt++) {
      for (let i = 0; i < j; i++) {
        let dot = 0;
        for (let r = 0; r < d; r++) dot += q[r * m + i] * q[r * m + j];
        for (let r = 0; r < d; r++) q[r * m + j] -= dot * q[r * m + i];
      }
      let norm = 0;
      for (let r = 0; r < d; r++) norm += q[r * m + j] ** 2;
      norm = Math.sqrt(norm);
      if (norm > 1e-12) {
        for (let r = 0; r < d; r++) q[r * m + j] /= norm;
        break;
      }
      // A collapsed column (rank-deficient data) restarts from noise and is orthogonalised again.
      for (let r = 0; r < d; r++) q[r * m + j] = rng() - 0.5;
    }
  }
}

/** out = cov (d x d) times q (d x m), row-major; four columns of cov per pass over an output row. */
function multiplyCov(cov: Float64Array, q: Float64Array, out: Float64Array, d: number, m: number): void {
  out.fill(0);
  for (let i = 0; i < d; i++) {
    const row = i * m;
    let k = 0;
    for (; k + 3 < d; k += 4) {
      const c0 = cov[i * d + k];
      const c1 = cov[i * d + k + 1];
      const c2 = cov[i * d + k + 2];
      const c3 = cov[i * d + k + 3];
      const q0 = k * m;
      for (let j = 0; j < m; j++) out[row + j] += c0 * q[q0 + j] + c1 * q[q0 + m + j] + c2 * q[q0 + 2 * m + j] + c3 * q[q0 + 3 * m + j];
    }
    for (; k < d; k++) {
      const c = cov[i * d + k];
      for (let j = 0; j < m; j++) out[row + j] += c * q[k * m + j];
    }
  }
}

/** The present rows, at most maxSamples of them (a seeded subsample, in row order). */
function sampleRows(total: number, opts: FitPcaOptions, rng: () => number): number[] {
  const rows: number[] = [];
  for (let i = 0; i < total; i++) if (!opts.mask || opts.mask[i] > 0) rows.push(i);
  if (rows.length < 2) throw new RangeError("PCA needs at least two present vectors");
  const maxSamples = opts.maxSamples ?? 8192;
  if (rows.length <= maxSamples) return rows;
  return shuffle(rng, rows)
    .slice(0, maxSamples)
    .sort((a, b) => a - b);
}

/** Mean and sample covariance (d x d, Float64) of the used rows, and the covariance's trace. */
function covariance(vectors: Float32Array, used: number[], d: number) {
  const mean = new Float64Array(d);
  for (const r of used) for (let j = 0; j < d; j++) mean[j] += vectors[r * d + j];
  for (let j = 0; j < d; j++) mean[j] /= used.length;
  // Upper triangle of the covariance, then mirrored. Rows go in blocks of four so each covariance entry is read and
  // written once per four rows: the loop is bound by memory traffic on the d x d matrix, not by arithmetic.
  const cov = new Float64Array(d * d);
  const block = new Float64Array(4 * d);
  for (let start = 0; start < used.length; start += 4) {
    block.fill(0);
    for (let b = 0; b < 4 && start + b < used.length; b++) {
      const r = used[start + b];
      for (let j = 0; j < d; j++) block[b * d + j] = vectors[r * d + j] - mean[j];
    }
    for (let i = 0; i < d; i++) {
      const a0 = block[i];
      const a1 = block[d + i];
      const a2 = block[2 * d + i];
      const a3 = block[3 * d + i];
      const base = i * d;
      for (let j = i; j < d; j++) cov[base + j] += a0 * block[j] + a1 * block[d + j] + a2 * block[2 * d + j] + a3 * block[3 * d + j];
    }
  }
  const denom = used.length - 1;
  let trace = 0;
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      cov[i * d + j] /= denom;
      cov[j * d + i] = cov[i * d + j];
    }
    trace += cov[i * d + i];
  }
  return { mean, cov, trace };
}

/** An orthonormal basis (d x m) of the covariance's top-m subspace, by subspace iteration. */
function topSubspace(cov: Float64Array, d: number, m: number, rng: () => number, maxIterations: number): Float64Array {
  let q = new Float64Array(d * m);
  for (let i = 0; i < q.length; i++) q[i] = rng() - 0.5;
  orthonormalise(q, d, m, rng);
  const z = new Float64Array(d * m);
  let previous = 0;
  for (let iter = 0; iter < maxIterations; iter++) {
    multiplyCov(cov, q, z, d, m);
    // Variance captured by the basis (sum of Rayleigh quotients): stop once it settles. Individual directions inside
    // a cluster of near-equal eigenvalues may keep rotating, but that does not change what the projection keeps.
    let captured = 0;
    for (let r = 0; r < d * m; r++) captured += q[r] * z[r];
    const change = Math.abs(captured - previous) / (Math.abs(captured) + 1e-30);
    previous = captured;
    q = Float64Array.from(z);
    orthonormalise(q, d, m, rng);
    if (iter > 2 && change < 1e-9) break;
  }
  return q;
}

/** Rayleigh-Ritz: the eigenvectors of Q^T C Q rotate the basis onto the principal directions, largest first. */
function principalDirections(cov: Float64Array, q: Float64Array, d: number, m: number, outputDim: number) {
  const cq = new Float64Array(d * m);
  multiplyCov(cov, q, cq, d, m);
  const t = new Float64Array(m * m);
  for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) for (let r = 0; r < d; r++) t[a * m + b] += q[r * m + a] * cq[r * m + b];
  const eig = symmetricEigen(t, m);
  const order = [...eig.values.keys()].sort((a, b) => eig.values[b] - eig.values[a]).slice(0, outputDim);
  const components = new Float32Array(outputDim * d);
  order.forEach((col, c) => {
    const dir = new Float64Array(d);
    for (let r = 0; r < d; r++) for (let a = 0; a < m; a++) dir[r] += q[r * m + a] * eig.vectors[a * m + col];
    // Sign convention: the largest-magnitude entry is positive, so repeated fits agree.
    let big = 0;
    for (let r = 0; r < d; r++) if (Math.abs(dir[r]) > Math.abs(dir[big])) big = r;
    const sign = dir[big] < 0 ? -1 : 1;
    for (let r = 0; r < d; r++) components[c * d + r] = sign * dir[r];
  });
  return { components, variances: order.map((col) => Math.max(0, eig.values[col])) };
}

export function fitPca(vectors: Float32Array, dim: number, outputDim: number, opts: FitPcaOptions = {}): PcaModel {
  if (!Number.isInteger(outputDim) || outputDim < 1 || outputDim > dim)
    throw new RangeError(`PCA dimension must be in 1..${dim}, got ${outputDim}`);
  const rng = mulberry32(opts.seed ?? 1);
  const used = sampleRows(vectors.length / dim, opts, rng);
  const { mean, cov, trace } = covariance(vectors, used, dim);
  // Subspace iteration with a few extra columns: convergence goes with the gap to the first excluded eigenvalue.
  const m = Math.min(dim, outputDim + Math.min(10, outputDim));
  const q = topSubspace(cov, dim, m, rng, opts.maxIterations ?? 100);
  const { components, variances } = principalDirections(cov, q, dim, m, outputDim);
  return { inputDim: dim, outputDim, mean: Float32Array.from(mean), components, variances, totalVariance: trace };
}

/** Projects row vectors (n x inputDim) to n x outputDim; rows with mask 0 stay zero. */
export function projectPca(model: PcaModel, vectors: Float32Array, mask?: Float32Array): Float32Array {
  const { inputDim: d, outputDim: k } = model;
  const n = vectors.length / d;
  const out = new Float32Array(n * k);
  for (let r = 0; r < n; r++) {
    if (mask && mask[r] === 0) continue;
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (vectors[r * d + j] - model.mean[j]) * model.components[c * d + j];
      out[r * k + c] = s;
    }
  }
  return out;
}

/** Maps projected vectors back to the input space (for measuring the error). */
export function reconstructPca(model: PcaModel, projected: Float32Array): Float32Array {
  const { inputDim: d, outputDim: k } = model;
  const n = projected.length / k;
  const out = new Float32Array(n * d);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < d; j++) out[r * d + j] = model.mean[j];
    for (let c = 0; c < k; c++) {
      const z = projected[r * k + c];
      for (let j = 0; j < d; j++) out[r * d + j] += z * model.components[c * d + j];
    }
  }
  return out;
}

export interface ReconstructionError {
  /** sum |x - x'|^2 / sum |x|^2 over present vectors. */
  relativeMse: number;
  /** Mean cosine between each present vector and its reconstruction. */
  meanCosine: number;
}

export function reconstructionError(original: Float32Array, restored: Float32Array, dim: number, mask?: Float32Array): ReconstructionError {
  let err = 0;
  let energy = 0;
  let cosines = 0;
  let count = 0;
  for (let r = 0; r < original.length / dim; r++) {
    if (mask && mask[r] === 0) continue;
    let dot = 0;
    let nx = 0;
    let ny = 0;
    for (let j = 0; j < dim; j++) {
      const a = original[r * dim + j];
      const b = restored[r * dim + j];
      err += (a - b) ** 2;
      energy += a * a;
      dot += a * b;
      nx += a * a;
      ny += b * b;
    }
    cosines += nx > 0 && ny > 0 ? dot / Math.sqrt(nx * ny) : nx === ny ? 1 : 0;
    count++;
  }
  return { relativeMse: energy > 0 ? err / energy : 0, meanCosine: count > 0 ? cosines / count : 1 };
}

export interface FieldCompressionReport {
  inputDim: number;
  outputDim: number;
  codec: VectorCodec;
  /** Share of the variance kept by the PCA components. */
  explainedVariance: number;
  /** Error of PCA alone. */
  pca: ReconstructionError;
  /** Error of PCA then quantisation: what serving sees. */
  total: ReconstructionError;
}

export interface CompressOptions {
  dim: number;
  /** Storage codec of the compressed vectors; default i8. */
  codec?: VectorCodec;
  seed?: number;
  maxSamples?: number;
}

export interface CompressResult {
  bank: StoredBank;
  /** null for a field without knowledge (no present chunk): it stays empty at the new dimension. */
  pca: Record<KnowledgeField, PcaModel | null>;
  report: Record<KnowledgeField, FieldCompressionReport | null>;
}

function pcaState(model: PcaModel | null) {
  if (!model) return null;
  return {
    inputDim: model.inputDim,
    outputDim: model.outputDim,
    mean: [...model.mean],
    components: [...model.components],
    variances: model.variances,
  };
}

/** PCA per field to opts.dim, then quantisation like the codec; the new bank records both steps and the errors. */
export function compressBank(bank: StoredBank, opts: CompressOptions): CompressResult {
  const codec = opts.codec ?? KNOWLEDGE_DEFAULTS.codec;
  const pca = {} as CompressResult["pca"];
  const report = {} as CompressResult["report"];
  const fields = {} as Record<KnowledgeField, KnowledgeBankField>;
  for (const f of KNOWLEDGE_FIELDS) {
    const field = bank[f];
    const present = field.mask.reduce((a, b) => a + b, 0);
    if (present === 0) {
      // A bank with one knowledge field (item texts only, say): the other has nothing to fit or compress.
      pca[f] = null;
      report[f] = null;
      fields[f] = { ...field, dim: opts.dim, values: new Float32Array(field.ids.length * field.chunks * opts.dim) };
      continue;
    }
    if (present < 2) throw new UserFacingError(`the ${f} field has one present chunk; PCA needs at least two (or none)`);
    const model = fitPca(field.values, field.dim, opts.dim, { mask: field.mask, seed: opts.seed, maxSamples: opts.maxSamples });
    const projected = projectPca(model, field.values, field.mask);
    const stored = quantizeLikeCodec(projected, opts.dim, codec);
    pca[f] = model;
    report[f] = {
      inputDim: field.dim,
      outputDim: opts.dim,
      codec,
      explainedVariance: model.totalVariance > 0 ? model.variances.reduce((a, b) => a + b, 0) / model.totalVariance : 1,
      pca: reconstructionError(field.values, reconstructPca(model, projected), field.dim, field.mask),
      total: reconstructionError(field.values, reconstructPca(model, stored), field.dim, field.mask),
    };
    fields[f] = { ...field, dim: opts.dim, values: stored };
  }
  const compressed = finishBank({
    encoder: `${bank.encoder}+pca${opts.dim}-${codec}`,
    user: fields.user,
    item: fields.item,
    codec,
    corpusHash: bank.corpusHash,
    source: bank.source,
    encoderState: { kind: "pca", base: bank.encoderState, user: pcaState(pca.user), item: pcaState(pca.item) },
    extra: { ...bank.extra, compressedFrom: bank.bankId, compression: report },
  });
  return { bank: compressed, pca, report };
}
