/**
 * The GEMM kernel's tiles: a 4 x 8 tile of C in eight v128 accumulators while K is swept, a single leftover row,
 * and the store that adds the bias, applies relu and writes a finished row of C (or of its transpose).
 */

/**
 * Rows of C per tile: 4 x 8 keeps 8 accumulators, B's two vectors and the four broadcasts V8 hoists within the 15
 * vector registers it allocates on x64 (6 x 8 tiles spill).
 */
export const TILE_ROWS = 4;
export const PANEL = 8;
/** Products with at most this many columns read a transposed A in place instead of packing it ($rows). */
export const IN_PLACE_MAX_COLUMNS = 64;
/** The kernel's scratch: one tile of C (`$tileOut`). */
export const TILE_OUT_BYTES = 32 * TILE_ROWS;

const madd = (fused: boolean, a: string, b: string, c: string) =>
  fused ? `(f32x4.relaxed_madd ${a} ${b} ${c})` : `(f32x4.add (f32x4.mul ${a} ${b}) ${c})`;

/** Accumulator locals of an `rows` x 8 tile of C. */
const accumulatorLocals = (rows: number) => [...Array(rows).keys()].map((i) => `(local $acc${i}a v128) (local $acc${i}b v128)`).join(" ");

/** Multiply-adds of one K step into the tile's row `i`, from the f32 at `x` (an address expression). */
const rowMadds = (fused: boolean, i: number, x: string) => `(local.set $x (v128.load32_splat ${x}))
        (local.set $acc${i}a ${madd(fused, "(local.get $x)", "(local.get $b0)", `(local.get $acc${i}a)`)})
        (local.set $acc${i}b ${madd(fused, "(local.get $x)", "(local.get $b1)", `(local.get $acc${i}b)`)})`;

/** Parks the tile's `rows` finished rows at $tileOut, then adds bias / relu and stores them from $c on. */
const storeRows = (rows: number) => {
  const r = [...Array(rows).keys()];
  const park = r.map(
    (i) => `(v128.store offset=${32 * i} (global.get $tileOut) (local.get $acc${i}a))
      (v128.store offset=${32 * i + 16} (global.get $tileOut) (local.get $acc${i}b))`,
  );
  const store = r.map(
    (i) => `(call $store (i32.add (local.get $c) (i32.mul (i32.const ${i}) (local.get $cRow)))
        (i32.add (global.get $tileOut) (i32.const ${32 * i})) (local.get $bias) (local.get $flags) (local.get $cols) (local.get $cCol))`,
  );
  return [...park, ...store].join("\n");
};

/**
 * One TILE_ROWS x 8 tile of C: A's rows packed side by side ($packA, [k][TILE_ROWS]), so one pointer and constant
 * offsets reach every row; the sweep over K keeps the accumulators in registers. Each accumulator adds its products
 * in the order p = 0, 1, ..., k-1.
 */
export function tileWat(fused: boolean): string {
  const rows = [...Array(TILE_ROWS).keys()];
  const zero = rows.map((i) => `(local.set $acc${i}a (v128.const i32x4 0 0 0 0)) (local.set $acc${i}b (v128.const i32x4 0 0 0 0))`);
  const step = rows.map((i) => rowMadds(fused, i, `offset=${4 * i} (local.get $a)`));
  // $a: the tile's packed rows; $panel: packed panel; $cols: columns of C left from this panel.
  return `(func $tile (param $a i32) (param $aStep i32) (param $panel i32) (param $k i32)
      (param $c i32) (param $cRow i32) (param $bias i32) (param $flags i32) (param $cols i32) (param $cCol i32)
      (local $x v128) (local $b0 v128) (local $b1 v128) ${accumulatorLocals(TILE_ROWS)}
    ${zero.join("\n")}
    (loop $sweep
      (local.set $b0 (v128.load (local.get $panel)))
      (local.set $b1 (v128.load offset=16 (local.get $panel)))
      ${step.join("\n")}
      (local.set $a (i32.add (local.get $a) (local.get $aStep)))
      (local.set $panel (i32.add (local.get $panel) (i32.const 32)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br_if $sweep (local.get $k)))
    ${storeRows(TILE_ROWS)})`;
}

/** One row of C (the m mod TILE_ROWS rows left over), A read in place through its column stride $aCol (bytes). */
export function rowWat(fused: boolean): string {
  return `(func $row (param $a i32) (param $aCol i32) (param $panel i32) (param $k i32)
      (param $c i32) (param $bias i32) (param $flags i32) (param $cols i32) (param $cCol i32)
      (local $x v128) (local $b0 v128) (local $b1 v128) (local $cRow i32) ${accumulatorLocals(1)}
    (loop $sweep
      (local.set $b0 (v128.load (local.get $panel)))
      (local.set $b1 (v128.load offset=16 (local.get $panel)))
      ${rowMadds(fused, 0, "(local.get $a)")}
      (local.set $a (i32.add (local.get $a) (local.get $aCol)))
      (local.set $panel (i32.add (local.get $panel) (i32.const 32)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br_if $sweep (local.get $k)))
    ${storeRows(1)})`;
}

/** The scratch a tile parks its rows in, and the store from there (module text, before the tiles). */
export const STORE_WAT = `;; 32 bytes per row of a tile: its accumulators are stored there when its sweep ends, so that no vector is live
  ;; across a call (V8 would otherwise keep spilling them to the stack inside the sweep).
  (global $tileOut (mut i32) (i32.const 0))
  (func (export "setScratch") (param $at i32) (global.set $tileOut (local.get $at)))

  ;; Takes 8 floats at $src, adds the bias (flags & 1), applies relu (flags & 2) and stores min(cols, 8) of them
  ;; from $dst on, $colStep bytes apart (4: a row of C; more: a column of C's transpose, one float at a time).
  (func $store (param $dst i32) (param $src i32) (param $bias i32) (param $flags i32) (param $cols i32)
      (param $colStep i32)
      (local $lo v128) (local $hi v128) (local $j i32)
    (local.set $lo (v128.load (local.get $src)))
    (local.set $hi (v128.load offset=16 (local.get $src)))
    (if (i32.and (local.get $flags) (i32.const 1)) (then
      (local.set $lo (f32x4.add (local.get $lo) (v128.load (local.get $bias))))
      (local.set $hi (f32x4.add (local.get $hi) (v128.load offset=16 (local.get $bias))))))
    (if (i32.and (local.get $flags) (i32.const 2)) (then
      (local.set $lo (f32x4.max (local.get $lo) (v128.const i32x4 0 0 0 0)))
      (local.set $hi (f32x4.max (local.get $hi) (v128.const i32x4 0 0 0 0)))))
    (if (i32.and (i32.ge_u (local.get $cols) (i32.const 8)) (i32.eq (local.get $colStep) (i32.const 4)))
      (then (v128.store (local.get $dst) (local.get $lo)) (v128.store offset=16 (local.get $dst) (local.get $hi)))
      (else
        (v128.store (local.get $src) (local.get $lo))
        (v128.store offset=16 (local.get $src) (local.get $hi))
        (if (i32.gt_u (local.get $cols) (i32.const 8)) (then (local.set $cols (i32.const 8))))
        (loop $copy
          (f32.store (i32.add (local.get $dst) (i32.mul (local.get $j) (local.get $colStep)))
            (f32.load (i32.add (local.get $src) (i32.shl (local.get $j) (i32.const 2)))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $copy (i32.lt_u (local.get $j) (local.get $cols)))))))`;
