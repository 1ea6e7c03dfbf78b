//! The AVX-512 microkernel: a 6 x 32 tile of C in 12 zmm accumulators.
//!
//! The same arithmetic as the AVX2 kernel, element for element (one FMA per
//! step, in step order, then the same store), so either gives the same bits.
//! Per step it loads one row of the B strip (32 values, two registers),
//! broadcasts the 6 values of one column of the A strip in turn and issues 12
//! FMAs of 16 lanes: half the instructions and loads of the AVX2 kernel per
//! multiply-add. On a Zen 4, whose 512-bit FMAs take two passes through the
//! 256-bit units, the peak is the same, but the AVX2 kernel's loads hold it
//! further below that peak than this one's (figures in BENCHMARKS.md,
//! "Measurements behind the code").
//!
//! `VECTORS` = 1 compiles a 6 x 16 variant for edge strips of at most 16
//! valid columns, which skips the zero-padded half of the B strip. (Strips
//! of at most 8 go to the AVX2 kernel's 6 x 8 variant.) `ROWS` < 6 compiles
//! variants for the last strip of A when m is not a multiple of 6, which
//! skip its zero-padded rows: with 4 or more accumulators the FMA unit stays
//! busy (one 512-bit FMA per cycle, 4 cycles of latency), so the 2 rows left
//! of m = 128 cost 4 FMAs per step instead of 12.

use super::{prefetch_tile, store_tile_scalar, TileOut, TileStore, MR, NR};
use std::arch::x86_64::*;

/// `out = act(alpha * A_strip * B_strip + beta * out + bias)`, computing the
/// first `ROWS` rows and `VECTORS` x 16 columns (`out` must not exceed them).
///
/// # Safety
/// The CPU supports AVX-512F; `a_strip` holds at least `kc * MR` values and
/// `b_strip` at least `kc * NR`; `out` is valid for reads and writes of
/// `out.rows x out.cols` elements (at most `ROWS x 16 VECTORS`) and
/// exclusively ours.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn kernel<const ROWS: usize, const VECTORS: usize>(
    kc: usize,
    a_strip: &[f32],
    b_strip: &[f32],
    out: TileOut,
    store: &TileStore,
) {
    debug_assert!(VECTORS * 16 <= NR && out.cols <= VECTORS * 16);
    debug_assert!(ROWS <= MR && out.rows <= ROWS);
    let mut a = a_strip.as_ptr();
    let mut b = b_strip.as_ptr();
    let zero = _mm512_setzero_ps();
    // acc[i][v]: row i, columns 16v .. 16v + 16 of the tile.
    let mut acc = [[zero; VECTORS]; ROWS];

    prefetch_tile(out);

    // One rank-1 update: offset `$p` steps ahead of the current pointers.
    macro_rules! rank1 {
        ($p:expr) => {
            // SAFETY: (for the whole macro) the loops below only expand it
            // for steps `< kc`, so `b + NR p .. + 16 VECTORS` and `a + MR p
            // .. + ROWS` lie inside the strips, whose lengths the caller
            // guarantees.
            unsafe {
                let row: [__m512; VECTORS] =
                    std::array::from_fn(|v| _mm512_loadu_ps(b.add($p * NR + 16 * v)));
                for (i, row_acc) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_ps(*a.add($p * MR + i));
                    for (c, &b_lanes) in row_acc.iter_mut().zip(&row) {
                        *c = _mm512_fmadd_ps(x, b_lanes, *c);
                    }
                }
            }
        };
    }

    for_each_step!(kc, a, b, rank1);

    store_accumulators!(
        &acc,
        out,
        store,
        full_cols = VECTORS * 16,
        lanes = 16,
        _mm512_set1_ps,
        _mm512_setzero_ps,
        _mm512_mul_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps,
        _mm512_max_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps
    );
}
