/**
 * The offline default encoder: hashed word unigrams and bigrams, sublinear tf (1 + ln tf), idf fitted on the
 * corpus, L2-normalised. Signed hashing (a second hash bit picks +/-) keeps collisions from biasing buckets upward.
 * Deterministic: no randomness, and hashing depends only on the feature string.
 */
import { fmix32 } from "../../../shared/hash.ts";
import { KNOWLEDGE_DEFAULTS } from "../defaults.ts";
import type { KnowledgeEncoder } from "./types.ts";

export interface HashEncoderOptions {
  /** Output dimension (buckets); default 128. */
  dim?: number;
  /** Include word bigrams; default true. */
  bigrams?: boolean;
}

export interface HashEncoderState {
  kind: "hash";
  version: 1;
  dim: number;
  bigrams: boolean;
  docCount: number;
  /** Document frequency per feature (unigram "w" or bigram "w1 w2"). */
  df: Record<string, number>;
}

const TOKEN = /[\p{L}\p{N}]+/gu;

/**
 * FNV-1a over UTF-16 code units (not shared/hash.ts's UTF-8 bytes: stored banks depend on these buckets), then
 * murmur3's avalanche step: fast, and stable across runs and machines.
 */
function hashFeature(feature: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < feature.length; i++) {
    h ^= feature.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

export class HashEncoder implements KnowledgeEncoder {
  readonly dim: number;
  readonly bigrams: boolean;
  private df = new Map<string, number>();
  private docCount = 0;
  /** feature -> signed bucket code (bucket * 2 + sign bit), so each feature is hashed once. */
  private codes = new Map<string, number>();

  constructor(opts: HashEncoderOptions = {}) {
    this.dim = opts.dim ?? KNOWLEDGE_DEFAULTS.encoderDim;
    this.bigrams = opts.bigrams ?? true;
    if (!Number.isInteger(this.dim) || this.dim < 1)
      throw new RangeError(`hash encoder dimension must be a positive integer, got ${this.dim}`);
  }

  get name(): string {
    return `hash-v1-d${this.dim}${this.bigrams ? "" : "-unigram"}`;
  }

  static fromState(state: HashEncoderState): HashEncoder {
    if (state.kind !== "hash" || state.version !== 1) throw new Error("not a hash encoder state (kind hash, version 1)");
    const encoder = new HashEncoder({ dim: state.dim, bigrams: state.bigrams });
    encoder.docCount = state.docCount;
    encoder.df = new Map(Object.entries(state.df));
    return encoder;
  }

  /** Features of a text with their counts. */
  features(text: string): Map<string, number> {
    const tokens = text.toLowerCase().match(TOKEN) ?? [];
    const counts = new Map<string, number>();
    for (let i = 0; i < tokens.length; i++) {
      counts.set(tokens[i], (counts.get(tokens[i]) ?? 0) + 1);
      if (this.bigrams && i > 0) {
        const bigram = `${tokens[i - 1]} ${tokens[i]}`;
        counts.set(bigram, (counts.get(bigram) ?? 0) + 1);
      }
    }
    return counts;
  }

  fit(texts: string[]): void {
    this.df = new Map();
    this.docCount = texts.length;
    for (const text of texts) {
      for (const feature of this.features(text).keys()) this.df.set(feature, (this.df.get(feature) ?? 0) + 1);
    }
  }

  /** Smoothed idf; features unseen in the fitted corpus get the largest weight, and before fit every weight is 1. */
  private idf(feature: string): number {
    if (this.docCount === 0) return 1;
    return Math.log((1 + this.docCount) / (1 + (this.df.get(feature) ?? 0))) + 1;
  }

  private code(feature: string): number {
    let code = this.codes.get(feature);
    if (code === undefined) {
      const h = hashFeature(feature);
      code = (h % this.dim) * 2 + (h >>> 31);
      this.codes.set(feature, code);
    }
    return code;
  }

  encodeSync(texts: string[]): Float32Array {
    const d = this.dim;
    const out = new Float32Array(texts.length * d);
    const row = new Float64Array(d);
    texts.forEach((text, n) => {
      row.fill(0);
      for (const [feature, tf] of this.features(text)) {
        const code = this.code(feature);
        const weight = (1 + Math.log(tf)) * this.idf(feature);
        row[code >>> 1] += code & 1 ? -weight : weight;
      }
      let norm = 0;
      for (let j = 0; j < d; j++) norm += row[j] * row[j];
      const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
      for (let j = 0; j < d; j++) out[n * d + j] = row[j] * scale;
    });
    return out;
  }

  async encode(texts: string[]): Promise<Float32Array> {
    return this.encodeSync(texts);
  }

  state(): HashEncoderState {
    return { kind: "hash", version: 1, dim: this.dim, bigrams: this.bigrams, docCount: this.docCount, df: Object.fromEntries(this.df) };
  }
}

export function createHashEncoder(opts: HashEncoderOptions = {}): HashEncoder {
  return new HashEncoder(opts);
}
