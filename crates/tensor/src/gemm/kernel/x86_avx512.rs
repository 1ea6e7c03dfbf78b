//! The AVX-512 microkernel: a 6 x 32 tile of C in 12 zmm accumulators.
//!
//! Per step it loads one row of the B strip (32 values, two registers),
//! broadcasts the 6 values of one column of the A strip in turn and issues 12
//! FMAs of 16 lanes: half the instructions and loads of the AVX2 kernel per
//! multiply-add, with the same arithmetic (`simd_tile.rs`), so the same
//! bits. On a Zen 4, whose 512-bit FMAs take two passes through the
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

use super::simd_tile::{multiply_strips, store_accumulators};
use super::{prefetch_tile, TileOut, TileStore, MR, NR};
use std::arch::x86_64::__m512;

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
    prefetch_tile(out);
    // SAFETY: the CPU has AVX-512F; every step `p < kc` reads `a + MR p ..
    // + ROWS` and `b + NR p .. + 16 VECTORS`, inside the strips (their
    // lengths are the caller's contract); `out` fits the accumulators.
    unsafe {
        let acc = multiply_strips::<__m512, ROWS, VECTORS>(kc, a_strip.as_ptr(), b_strip.as_ptr());
        store_accumulators(&acc, out, store);
    }
}
