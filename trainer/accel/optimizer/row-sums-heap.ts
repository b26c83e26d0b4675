/**
 * Sums of an embedding lookup's gradient rows by table row, kept on the tfjs wasm heap and added by the wasm layout
 * kernel (`accumulateRows`): the lookup's ids and its output gradient are read where they are on the heap, nothing
 * is copied to JS. The sums are RowAccumulator's (row-sums.ts) to the bit: the same rows in the same order, float32
 * adds (a float64 add rounded to float32, as the JS loop does, gives the same float).
 */
import type { WasmLayout } from "../kernels/layout/layout.ts";
import type { WasmHeap } from "../wasm/heap.ts";
import type { RowSums } from "./row-sums.ts";

export class HeapRowSums implements RowSums {
  private capacity: number;
  /** Heap offsets: slot per table row (-1: untouched), the touched ids, their summed rows, the count (one i32). */
  private readonly slotAt: number;
  private idsAt: number;
  private valuesAt: number;
  private readonly countAt: number;

  constructor(
    private readonly heap: WasmHeap,
    private readonly layout: WasmLayout,
    readonly rows: number,
    readonly rowSize: number,
  ) {
    this.capacity = Math.min(rows, 1024);
    this.slotAt = this.allocate(4 * rows);
    new Int32Array(heap.memory.buffer, this.slotAt, rows).fill(-1);
    this.countAt = this.allocate(4);
    this.idsAt = this.allocate(4 * this.capacity);
    this.valuesAt = this.allocate(4 * this.capacity * rowSize);
    this.count = 0;
  }

  get count(): number {
    return new Int32Array(this.heap.memory.buffer, this.countAt, 1)[0];
  }

  private set count(n: number) {
    new Int32Array(this.heap.memory.buffer, this.countAt, 1)[0] = n;
  }

  /** Views of the heap (made on each read: the heap's buffer changes when it grows). */
  get ids(): Int32Array {
    return new Int32Array(this.heap.memory.buffer, this.idsAt, this.capacity);
  }

  get values(): Float32Array {
    return new Float32Array(this.heap.memory.buffer, this.valuesAt, this.capacity * this.rowSize);
  }

  /** Where the ids and sums are: byte offsets on `memory` (valid until the next add, which may move them). */
  heapPlaces(): { memory: WebAssembly.Memory; ids: number; values: number } {
    return { memory: this.heap.memory, ids: this.idsAt, values: this.valuesAt };
  }

  /** Adds n gradient rows (float32 at byte offset gradAt) into the rows of their ids (int32 at byte offset idsAt). */
  add(idsAt: number, gradAt: number, n: number): void {
    let from = 0;
    for (;;) {
      from = this.layout.accumulateRows(
        this.slotAt,
        this.idsAt,
        this.valuesAt,
        this.countAt,
        this.capacity,
        idsAt,
        gradAt,
        from,
        n,
        this.rowSize,
        this.rows,
      );
      if (from >= n) return;
      const id = new Int32Array(this.heap.memory.buffer, idsAt, n)[from];
      if (!(id >= 0 && id < this.rows)) throw new Error(`embedding row ${id} is not in [0, ${this.rows - 1}]`);
      this.grow();
    }
  }

  reset(): void {
    this.layout.clearRows(this.slotAt, this.idsAt, this.count);
    this.count = 0;
  }

  dispose(): void {
    for (const at of [this.slotAt, this.countAt, this.idsAt, this.valuesAt]) this.heap.free(at);
  }

  /** Doubles the places (at most one per table row), keeping the ones in use. */
  private grow(): void {
    const capacity = Math.min(this.rows, this.capacity * 2);
    const idsAt = this.allocate(4 * capacity);
    const valuesAt = this.allocate(4 * capacity * this.rowSize);
    const count = this.count;
    const buffer = this.heap.memory.buffer;
    new Int32Array(buffer, idsAt, count).set(new Int32Array(buffer, this.idsAt, count));
    new Float32Array(buffer, valuesAt, count * this.rowSize).set(new Float32Array(buffer, this.valuesAt, count * this.rowSize));
    this.heap.free(this.idsAt);
    this.heap.free(this.valuesAt);
    this.idsAt = idsAt;
    this.valuesAt = valuesAt;
    this.capacity = capacity;
  }

  private allocate(bytes: number): number {
    const at = this.heap.malloc(bytes);
    if (at === 0) throw new Error(`sparse embedding gradients: the wasm heap has no room for ${bytes} bytes`);
    return at;
  }
}
