/**
 * The GEMM kernel's packing: A's rows four side by side per tile ([tiles][k][4]) and B in zero-padded panels of 8
 * columns ([ceil(n/8)][k][8]), so that the tile's sweep reads both with one pointer and constant offsets.
 */
import { transpose4x4 } from "../../wasm/wat.ts";
import { TILE_ROWS } from "./tile.ts";

/** Transposes of 4 x 4 blocks along K, for packing transposed operands. */
export const TRANSPOSE_STEPS_WAT = `;; Transposes $blocks 4 x 4 blocks that run along K: lane l of step p is the float at $src + l * $laneStride + 4p
  ;; (steps adjacent); step p's four lanes are written as one vector at $dst + p * $dstStep.
  (func $transposeSteps (param $src i32) (param $laneStride i32) (param $blocks i32) (param $dst i32) (param $dstStep i32)
      (local $s1 i32) (local $s2 i32) (local $s3 i32) (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
      (local $lo01 v128) (local $lo23 v128) (local $hi01 v128) (local $hi23 v128)
    (if (i32.eqz (local.get $blocks)) (then (return)))
    (local.set $s1 (i32.add (local.get $src) (local.get $laneStride)))
    (local.set $s2 (i32.add (local.get $s1) (local.get $laneStride)))
    (local.set $s3 (i32.add (local.get $s2) (local.get $laneStride)))
    (loop $each
      (local.set $r0 (v128.load (local.get $src)))
      (local.set $r1 (v128.load (local.get $s1)))
      (local.set $r2 (v128.load (local.get $s2)))
      (local.set $r3 (v128.load (local.get $s3)))
      ${transpose4x4.pairs}
      ${transpose4x4.columns
        .map(
          (column) => `(v128.store (local.get $dst) ${column})
      (local.set $dst (i32.add (local.get $dst) (local.get $dstStep)))`,
        )
        .join("\n      ")}
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (local.set $s1 (i32.add (local.get $s1) (i32.const 16)))
      (local.set $s2 (i32.add (local.get $s2) (i32.const 16)))
      (local.set $s3 (i32.add (local.get $s3) (i32.const 16)))
      (local.set $blocks (i32.sub (local.get $blocks) (i32.const 1)))
      (br_if $each (local.get $blocks))))`;

export const PACK_A_WAT = `;; Packs $tiles tiles of ${TILE_ROWS} rows of A (byte strides aRow / aCol) row-interleaved: [tiles][k][${TILE_ROWS}].
  ;; Adjacent rows are copied a vector per step, rows with adjacent steps are transposed four steps at a time; the
  ;; steps left (and any other strides) are copied one float at a time.
  (func $packA (param $a i32) (param $aRow i32) (param $aCol i32) (param $tiles i32) (param $k i32) (param $dst i32)
      (local $p i32) (local $src i32) (local $to i32)
    (if (local.get $tiles) (then (loop $eachTile
      (local.set $p (i32.const 0))
      (if (i32.eq (local.get $aRow) (i32.const 4))
        (then
          (local.set $src (local.get $a))
          (local.set $to (local.get $dst))
          (loop $vectors
            (v128.store (local.get $to) (v128.load (local.get $src)))
            (local.set $src (i32.add (local.get $src) (local.get $aCol)))
            (local.set $to (i32.add (local.get $to) (i32.const 16)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br_if $vectors (i32.lt_u (local.get $p) (local.get $k)))))
        (else (if (i32.eq (local.get $aCol) (i32.const 4)) (then
          (call $transposeSteps (local.get $a) (local.get $aRow) (i32.shr_u (local.get $k) (i32.const 2)) (local.get $dst) (i32.const 16))
          (local.set $p (i32.and (local.get $k) (i32.const -4)))))))
      (local.set $src (i32.add (local.get $a) (i32.mul (local.get $p) (local.get $aCol))))
      (local.set $to (i32.add (local.get $dst) (i32.shl (local.get $p) (i32.const 4))))
      (block $scalarDone (loop $scalar
        (br_if $scalarDone (i32.ge_u (local.get $p) (local.get $k)))
        ${[...Array(TILE_ROWS).keys()].map((i) => `(f32.store offset=${4 * i} (local.get $to) (f32.load (i32.add (local.get $src) (i32.mul (local.get $aRow) (i32.const ${i})))))`).join("\n        ")}
        (local.set $to (i32.add (local.get $to) (i32.const ${4 * TILE_ROWS})))
        (local.set $src (i32.add (local.get $src) (local.get $aCol)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $scalar)))
      (local.set $dst (i32.add (local.get $dst) (i32.mul (local.get $k) (i32.const ${4 * TILE_ROWS}))))
      (local.set $a (i32.add (local.get $a) (i32.mul (local.get $aRow) (i32.const ${TILE_ROWS}))))
      (local.set $tiles (i32.sub (local.get $tiles) (i32.const 1)))
      (br_if $eachTile (local.get $tiles))))))`;

export const PACK_B_WAT = `;; Packs B (k x n, element strides rs / cs) into panels of 8 columns, zero-padded: [ceil(n/8)][k][8]. The full
  ;; panels of a row-major B are filled row by row, two vectors per panel; then per panel: adjacent steps (a
  ;; transposed B) are transposed four lanes and four steps at a time; whatever is left (the last steps, a partial
  ;; panel's lanes, other strides) is copied lane by lane, each lane a strided run along K.
  (func $pack (param $b i32) (param $rs i32) (param $cs i32) (param $k i32) (param $n i32) (param $dst i32)
      (local $j i32) (local $p i32) (local $q i32) (local $lanes i32) (local $src i32) (local $to i32)
      (local $transposedLanes i32) (local $transposedSteps i32)
    (local.set $rs (i32.shl (local.get $rs) (i32.const 2)))
    (local.set $cs (i32.shl (local.get $cs) (i32.const 2)))
    ;; Row-major B's full panels: row by row, each row's 8-float runs to every panel, so B is read once front to
    ;; back instead of once per panel down a column of runs (a long K then misses the cache).
    (if (i32.and (i32.eq (local.get $cs) (i32.const 4)) (i32.ge_u (local.get $n) (i32.const 8))) (then
      (local.set $lanes (i32.shr_u (local.get $n) (i32.const 3)))
      (local.set $transposedSteps (i32.shl (local.get $k) (i32.const 5)))
      (local.set $p (i32.const 0))
      (loop $packRows
        (local.set $src (i32.add (local.get $b) (i32.mul (local.get $p) (local.get $rs))))
        (local.set $to (i32.add (local.get $dst) (i32.shl (local.get $p) (i32.const 5))))
        (local.set $q (local.get $lanes))
        (loop $runs
          (v128.store (local.get $to) (v128.load (local.get $src)))
          (v128.store offset=16 (local.get $to) (v128.load offset=16 (local.get $src)))
          (local.set $src (i32.add (local.get $src) (i32.const 32)))
          (local.set $to (i32.add (local.get $to) (local.get $transposedSteps)))
          (local.set $q (i32.sub (local.get $q) (i32.const 1)))
          (br_if $runs (local.get $q)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br_if $packRows (i32.lt_u (local.get $p) (local.get $k))))
      (local.set $j (i32.shl (local.get $lanes) (i32.const 3)))
      (local.set $dst (i32.add (local.get $dst) (i32.mul (local.get $lanes) (local.get $transposedSteps))))))
    (block $done (loop $panels
      (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $lanes (select (i32.const 8) (i32.sub (local.get $n) (local.get $j))
        (i32.ge_u (i32.sub (local.get $n) (local.get $j)) (i32.const 8))))
      (local.set $src (i32.add (local.get $b) (i32.mul (local.get $j) (local.get $cs))))
      (local.set $transposedLanes (i32.const 0))
      (local.set $transposedSteps (i32.const 0))
      ;; A partial panel is zeroed first (a vector loop: V8's memory.fill costs microseconds per call).
      (if (i32.lt_u (local.get $lanes) (i32.const 8)) (then
        (local.set $to (local.get $dst))
        (local.set $p (local.get $k))
        (loop $zero
          (v128.store (local.get $to) (v128.const i32x4 0 0 0 0))
          (v128.store offset=16 (local.get $to) (v128.const i32x4 0 0 0 0))
          (local.set $to (i32.add (local.get $to) (i32.const 32)))
          (local.set $p (i32.sub (local.get $p) (i32.const 1)))
          (br_if $zero (local.get $p)))))
      (if (i32.eq (local.get $rs) (i32.const 4)) (then
          (local.set $transposedLanes (i32.and (local.get $lanes) (i32.const -4)))
          (local.set $transposedSteps (i32.and (local.get $k) (i32.const -4)))
          (local.set $q (i32.const 0))
          (block $groupsDone (loop $groups
            (br_if $groupsDone (i32.ge_u (local.get $q) (local.get $transposedLanes)))
            (call $transposeSteps (i32.add (local.get $src) (i32.mul (local.get $q) (local.get $cs))) (local.get $cs)
              (i32.shr_u (local.get $k) (i32.const 2)) (i32.add (local.get $dst) (i32.shl (local.get $q) (i32.const 2))) (i32.const 32))
            (local.set $q (i32.add (local.get $q) (i32.const 4)))
            (br $groups)))))
      ;; Lane by lane: the transposed lanes from their last steps on, the other lanes from step 0.
      (local.set $q (i32.const 0))
      (block $lanesDone (loop $eachLane
        (br_if $lanesDone (i32.ge_u (local.get $q) (local.get $lanes)))
        (local.set $p (select (local.get $transposedSteps) (i32.const 0) (i32.lt_u (local.get $q) (local.get $transposedLanes))))
        (local.set $to (i32.add (local.get $dst) (i32.add (i32.shl (local.get $p) (i32.const 5)) (i32.shl (local.get $q) (i32.const 2)))))
        (local.set $src (i32.add (local.get $b) (i32.add (i32.mul (i32.add (local.get $j) (local.get $q)) (local.get $cs))
          (i32.mul (local.get $p) (local.get $rs)))))
        (block $stepsDone (loop $steps
          (br_if $stepsDone (i32.ge_u (local.get $p) (local.get $k)))
          (f32.store (local.get $to) (f32.load (local.get $src)))
          (local.set $to (i32.add (local.get $to) (i32.const 32)))
          (local.set $src (i32.add (local.get $src) (local.get $rs)))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $steps)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $eachLane)))
      (local.set $dst (i32.add (local.get $dst) (i32.shl (local.get $k) (i32.const 5))))
      (local.set $j (i32.add (local.get $j) (i32.const 8)))
      (br $panels))))`;
