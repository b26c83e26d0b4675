/** What the bank needs from a text encoder: a name for the manifest, a dimension, and batched encoding. */
export interface KnowledgeEncoder {
  /** Identifies the model and its settings (e.g. "hash-v1-d128", "openai:text-embedding-3-small"). */
  readonly name: string;
  readonly dim: number;
  /** Fits corpus statistics (idf) when the encoder has any; buildBank calls it once with every chunk text. */
  fit?(texts: string[]): void;
  /** n texts to n*dim values, row-major. Empty texts are never passed by the bank. */
  encode(texts: string[]): Promise<Float32Array>;
  /** Fitted state to store beside a bank, so later texts (new items) encode the same way; absent when stateless. */
  state?(): unknown;
}
