//! The AVX2+FMA microkernel: a 6 x 32 tile of C as two 6 x 16 halves, each
//! in 12 ymm accumulators (the 16 ymm registers hold one half at a time).
//!
//! Per step `p` a half loads its 16 values of one row of the B strip (two
//! registers), broadcasts the 6 values of one column of the A strip in turn,
//! and issues 12 FMAs: the arithmetic of `simd_tile.rs`, on ymm registers.
//!
//! A half of at most 8 valid columns (n = 100 ends in a strip of 4) runs as
//! a 6 x 8 variant: it skips the zero-padded rest of the B strip instead of
//! multiplying by it.

use super::simd_tile::{multiply_strips, store_accumulators};
use super::{prefetch_tile, TileOut, TileStore, MR};
use std::arch::x86_64::__m256;

/// Columns of one half.
const HALF: usize = 16;

/// `out = act(alpha * A_strip * B_strip + beta * out + bias)`, for a tile of
/// up to `MR x NR`, a half (or less) at a time.
///
/// # Safety
/// The CPU supports AVX2 and FMA; `a_strip` holds at least `kc * MR` values
/// and `b_strip` at least `kc * NR`; `out` is valid for reads and writes of
/// `out.rows x out.cols` elements (at most `MR x NR`) and exclusively ours.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn kernel(
    kc: usize,
    a_strip: &[f32],
    b_strip: &[f32],
    out: TileOut,
    store: &TileStore,
) {
    for first in (0..out.cols).step_by(HALF) {
        let cols = HALF.min(out.cols - first);
        let out = TileOut {
            // `first < out.cols`, so still inside the tile.
            ptr: out.ptr.wrapping_add(first),
            cols,
            ..out
        };
        let store = TileStore {
            bias: store.bias.map(|bias| &bias[first..first + cols]),
            ..*store
        };
        prefetch_tile(out);
        // This half's values of step `p` are `b_strip[first + p * NR ..]`.
        let (a, b) = (a_strip.as_ptr(), b_strip.as_ptr().wrapping_add(first));
        // SAFETY: the CPU has AVX2 and FMA; this half of the tile is inside
        // `out` (columns `first .. first + cols <= out.cols <= NR`), and
        // `first + HALF <= NR`, so every step `p < kc` reads `b + NR p ..
        // + 16` (or `+ 8`) inside the strip of `kc * NR` values, and `a + MR
        // p .. + MR` inside A's; the rest is the caller's contract.
        unsafe {
            if cols <= HALF / 2 {
                let acc = multiply_strips::<__m256, MR, 1>(kc, a, b);
                store_accumulators(&acc, out, &store);
            } else {
                let acc = multiply_strips::<__m256, MR, 2>(kc, a, b);
                store_accumulators(&acc, out, &store);
            }
        }
    }
}
