/**
 * Sums of an embedding lookup's gradient rows by table row over one step, for the lazy AdamW update of the rows a
 * batch touched: the contract, and the JS accumulator that works on every backend (the wasm-heap one is
 * row-sums-heap.ts).
 */
import type { RowGradients } from "./adam-moments.ts";

/** Summed row gradients of one table over a step, in first-touched order, cleared by reset(). */
export interface RowSums extends RowGradients {
  reset(): void;
}

/** Summed row gradients of one table over a step, in first-touched order (in JS). */
export class RowAccumulator implements RowSums {
  ids: Int32Array;
  values: Float32Array;
  count = 0;
  /** id -> slot in ids/values, -1 when untouched this step. */
  private readonly slot: Int32Array;

  constructor(
    readonly rows: number,
    readonly rowSize: number,
  ) {
    this.slot = new Int32Array(rows).fill(-1);
    const capacity = Math.min(rows, 1024);
    this.ids = new Int32Array(capacity);
    this.values = new Float32Array(capacity * rowSize);
  }

  /** grad row i belongs to table row ids[i]. */
  add(ids: ArrayLike<number>, grad: Float32Array): void {
    const E = this.rowSize;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!(id >= 0 && id < this.rows)) throw new Error(`embedding row ${id} is not in [0, ${this.rows - 1}]`);
      let s = this.slot[id];
      if (s < 0) {
        s = this.count++;
        if (s === this.ids.length) this.grow();
        this.slot[id] = s;
        this.ids[s] = id;
        this.values.fill(0, s * E, (s + 1) * E);
      }
      const dst = s * E;
      const src = i * E;
      for (let j = 0; j < E; j++) this.values[dst + j] += grad[src + j];
    }
  }

  reset(): void {
    for (let s = 0; s < this.count; s++) this.slot[this.ids[s]] = -1;
    this.count = 0;
  }

  private grow(): void {
    const capacity = Math.min(this.rows, this.ids.length * 2);
    const ids = new Int32Array(capacity);
    ids.set(this.ids);
    const values = new Float32Array(capacity * this.rowSize);
    values.set(this.values);
    this.ids = ids;
    this.values = values;
  }
}
