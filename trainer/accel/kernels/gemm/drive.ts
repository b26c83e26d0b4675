/**
 * The GEMM kernel's outer loops: row blocks of A through every panel of B ($gemm, claimed from a shared counter when
 * threads share one product), one row block's tiles and leftover rows ($rows), and the exported batch of products.
 */
import { IN_PLACE_MAX_COLUMNS, PANEL, TILE_ROWS } from "./tile.ts";

export const GEMM_WAT = `;; C[m, n] = A (m x k, strides aRow / aCol in elements) times packed B; bias padded to a multiple of 8 floats.
  ;; Rows of A are taken $rowBlock at a time through every panel, so a block of A and of C stays in cache while the
  ;; packed B streams past it (without blocking, A and C together outgrow the L2 cache at training sizes). With a
  ;; $counter (the address of an i32 on shared memory, else 0), the blocks are claimed from it one by one, so that
  ;; threads running the same product share its rows by how fast each gets through them.
  (func $gemm (param $m i32) (param $n i32) (param $k i32) (param $a i32) (param $aRow i32) (param $aCol i32)
      (param $packed i32) (param $c i32) (param $cRow i32) (param $cCol i32) (param $bias i32) (param $flags i32)
      (param $rowBlock i32) (param $packedA i32) (param $counter i32)
      (local $i i32)
    (block $done (loop $blocks
      (if (local.get $counter) (then (local.set $i (i32.atomic.rmw.add (local.get $counter) (local.get $rowBlock)))))
      (br_if $done (i32.ge_u (local.get $i) (local.get $m)))
      (call $rows (select (local.get $rowBlock) (i32.sub (local.get $m) (local.get $i))
          (i32.le_u (i32.add (local.get $i) (local.get $rowBlock)) (local.get $m)))
        (local.get $n) (local.get $k)
        (i32.add (local.get $a) (i32.shl (i32.mul (local.get $i) (local.get $aRow)) (i32.const 2))) (local.get $aRow) (local.get $aCol)
        (local.get $packed)
        (i32.add (local.get $c) (i32.shl (i32.mul (local.get $i) (local.get $cRow)) (i32.const 2))) (local.get $cRow) (local.get $cCol)
        (local.get $bias) (local.get $flags) (local.get $packedA))
      (if (i32.eqz (local.get $counter)) (then (local.set $i (i32.add (local.get $i) (local.get $rowBlock)))))
      (br $blocks))))`;

export const ROWS_WAT = `;; One row block: its full tiles are packed once ($packA) and reused for every panel; the rows left over are read
  ;; in place.
  (func $rows (param $m i32) (param $n i32) (param $k i32) (param $a i32) (param $aRow i32) (param $aCol i32)
      (param $packed i32) (param $c i32) (param $cRow i32) (param $cCol i32) (param $bias i32) (param $flags i32)
      (param $packedA i32)
      (local $i i32) (local $j i32) (local $panel i32) (local $cols i32) (local $tiles i32) (local $tileBytes i32)
      (local $tileA i32) (local $full i32) (local $tilesA i32) (local $aStep i32)
    (local.set $aRow (i32.shl (local.get $aRow) (i32.const 2)))
    (local.set $aCol (i32.shl (local.get $aCol) (i32.const 2)))
    (local.set $cRow (i32.shl (local.get $cRow) (i32.const 2)))
    (local.set $cCol (i32.shl (local.get $cCol) (i32.const 2)))
    (local.set $tiles (i32.div_u (local.get $m) (i32.const ${TILE_ROWS})))
    (local.set $full (i32.mul (local.get $tiles) (i32.const ${TILE_ROWS})))
    ;; Rows already side by side (a transposed A) are read in place, $aCol apart, when there are few panels to
    ;; sweep them for; otherwise packing pays: each step then reads 16 adjacent bytes instead of part of a cache line
    ;; that L1 cannot keep for the next tile once k is large.
    (if (i32.and (i32.eq (local.get $aRow) (i32.const 4)) (i32.le_u (local.get $n) (i32.const ${IN_PLACE_MAX_COLUMNS})))
      (then
        (local.set $aStep (local.get $aCol))
        (local.set $tileBytes (i32.const ${4 * TILE_ROWS}))
        (local.set $tilesA (local.get $a)))
      (else
        (local.set $aStep (i32.const ${4 * TILE_ROWS}))
        (local.set $tileBytes (i32.mul (local.get $k) (i32.const ${4 * TILE_ROWS})))
        (local.set $tilesA (local.get $packedA))
        (call $packA (local.get $a) (local.get $aRow) (local.get $aCol) (local.get $tiles) (local.get $k) (local.get $packedA))))
    (local.set $panel (local.get $packed))
    (block $done (loop $panels
      (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $cols (i32.sub (local.get $n) (local.get $j)))
      (local.set $i (i32.const 0))
      (local.set $tileA (local.get $tilesA))
      (block $tilesDone (loop $tiles
        (br_if $tilesDone (i32.ge_u (local.get $i) (local.get $full)))
        (call $tile (local.get $tileA) (local.get $aStep) (local.get $panel) (local.get $k)
          (i32.add (local.get $c) (i32.add (i32.mul (local.get $i) (local.get $cRow)) (i32.mul (local.get $j) (local.get $cCol))))
          (local.get $cRow) (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))) (local.get $flags) (local.get $cols)
          (local.get $cCol))
        (local.set $tileA (i32.add (local.get $tileA) (local.get $tileBytes)))
        (local.set $i (i32.add (local.get $i) (i32.const ${TILE_ROWS})))
        (br $tiles)))
      (block $restDone (loop $rest
        (br_if $restDone (i32.ge_u (local.get $i) (local.get $m)))
        (call $row (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $aRow))) (local.get $aCol) (local.get $panel) (local.get $k)
          (i32.add (local.get $c) (i32.add (i32.mul (local.get $i) (local.get $cRow)) (i32.mul (local.get $j) (local.get $cCol))))
          (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))) (local.get $flags) (local.get $cols) (local.get $cCol))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rest)))
      (local.set $panel (i32.add (local.get $panel) (i32.shl (local.get $k) (i32.const 5))))
      (local.set $j (i32.add (local.get $j) (i32.const ${PANEL})))
      (br $panels))))`;

export const BATCHED_WAT = `;; count products C_q = A_q B_q, C contiguous; operand strides between products in elements (0: one operand for
  ;; all). B is packed once when it is shared. $counter: see $gemm (one product only).
  (func (export "batched") (param $count i32) (param $m i32) (param $n i32) (param $k i32)
      (param $a i32) (param $aBatch i32) (param $aRow i32) (param $aCol i32)
      (param $b i32) (param $bBatch i32) (param $bRow i32) (param $bCol i32)
      (param $c i32) (param $cRow i32) (param $cCol i32) (param $work i32) (param $bias i32) (param $flags i32)
      (param $rowBlock i32) (param $packedA i32) (param $counter i32)
      (local $q i32)
    (local.set $aBatch (i32.shl (local.get $aBatch) (i32.const 2)))
    (local.set $bBatch (i32.shl (local.get $bBatch) (i32.const 2)))
    (loop $products
      (if (i32.or (i32.eqz (local.get $q)) (i32.ne (local.get $bBatch) (i32.const 0)))
        (then (call $pack (local.get $b) (local.get $bRow) (local.get $bCol) (local.get $k) (local.get $n) (local.get $work))))
      (call $gemm (local.get $m) (local.get $n) (local.get $k) (local.get $a) (local.get $aRow) (local.get $aCol)
        (local.get $work) (local.get $c) (local.get $cRow) (local.get $cCol) (local.get $bias) (local.get $flags)
        (local.get $rowBlock) (local.get $packedA) (local.get $counter))
      (local.set $a (i32.add (local.get $a) (local.get $aBatch)))
      (local.set $b (i32.add (local.get $b) (local.get $bBatch)))
      (local.set $c (i32.add (local.get $c) (i32.shl (i32.mul (local.get $m) (local.get $n)) (i32.const 2))))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br_if $products (i32.lt_u (local.get $q) (local.get $count)))))`;
