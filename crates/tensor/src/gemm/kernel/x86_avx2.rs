//! The AVX2+FMA microkernel: a 6 x 32 tile of C as two 6 x 16 halves, each
//! in 12 ymm accumulators (the 16 ymm registers hold one half at a time).
//!
//! Per step `p` a half loads its 16 values of one row of the B strip (two
//! registers), broadcasts the 6 values of one column of the A strip in turn,
//! and issues 12 FMAs. The loop is unrolled by 4 so loads and pointer
//! updates are amortised; everything else is left to the out-of-order core.
//!
//! `NARROW` compiles a 6 x 8 variant for a half of at most 8 valid columns
//! (n = 100 ends in a strip of 4): it skips the zero-padded rest of the B
//! strip instead of multiplying by it.

use super::{prefetch_tile, store_tile_scalar, TileOut, TileStore, MR, NR};
use std::arch::x86_64::*;

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
        // SAFETY: this half of the tile is inside `out` (columns `first ..
        // first + cols <= out.cols <= NR`), and `first + HALF <= NR`, so the
        // strip of `kc * NR` values covers `first + (kc - 1) * NR + HALF`
        // as `half` needs; the rest is the caller's contract.
        unsafe {
            if cols <= HALF / 2 {
                half::<true>(kc, a_strip, b_strip, first, out, &store)
            } else {
                half::<false>(kc, a_strip, b_strip, first, out, &store)
            }
        }
    }
}

/// `out = act(alpha * A_strip * B_half + beta * out + bias)` for up to 16
/// columns: B's values of step `p` are `b_strip[first + p * NR ..][..16]`.
///
/// # Safety
/// The CPU supports AVX2 and FMA; `a_strip` holds at least `kc * MR` values
/// and, when `kc > 0`, `b_strip` at least `first + (kc - 1) * NR + 16`;
/// `out` is valid for reads and writes of `out.rows x out.cols` elements (at
/// most `MR x 16`) and exclusively ours.
#[target_feature(enable = "avx2,fma")]
unsafe fn half<const NARROW: bool>(
    kc: usize,
    a_strip: &[f32],
    b_strip: &[f32],
    first: usize,
    out: TileOut,
    store: &TileStore,
) {
    debug_assert!(kc == 0 || first + (kc - 1) * NR + HALF <= b_strip.len());
    let mut a = a_strip.as_ptr();
    // Pointers are moved with `wrapping_add`: after the last step they may
    // point past the end of the strips (this half's `b` by up to 16 values),
    // where `add` would be undefined; only in-bounds ones are dereferenced.
    let mut b = b_strip.as_ptr().wrapping_add(first);
    let zero = _mm256_setzero_ps();
    let (mut c00, mut c01, mut c10, mut c11, mut c20, mut c21) =
        (zero, zero, zero, zero, zero, zero);
    let (mut c30, mut c31, mut c40, mut c41, mut c50, mut c51) =
        (zero, zero, zero, zero, zero, zero);

    prefetch_tile(out);

    // One rank-1 update: offset `$p` steps ahead of the current pointers.
    macro_rules! rank1 {
        ($p:expr) => {
            // SAFETY: (for the whole macro) the loops below only expand it
            // for steps `< kc`, so `b + NR p .. + 16` and `a + 6p .. + 6` lie
            // inside the strips, whose lengths the caller guarantees.
            unsafe {
                let b0 = _mm256_loadu_ps(b.add($p * NR));
                let b1 = if NARROW {
                    zero
                } else {
                    _mm256_loadu_ps(b.add($p * NR + 8))
                };
                let ap = a.add($p * MR);
                let x = _mm256_broadcast_ss(&*ap);
                c00 = _mm256_fmadd_ps(x, b0, c00);
                if !NARROW {
                    c01 = _mm256_fmadd_ps(x, b1, c01);
                }
                let x = _mm256_broadcast_ss(&*ap.add(1));
                c10 = _mm256_fmadd_ps(x, b0, c10);
                if !NARROW {
                    c11 = _mm256_fmadd_ps(x, b1, c11);
                }
                let x = _mm256_broadcast_ss(&*ap.add(2));
                c20 = _mm256_fmadd_ps(x, b0, c20);
                if !NARROW {
                    c21 = _mm256_fmadd_ps(x, b1, c21);
                }
                let x = _mm256_broadcast_ss(&*ap.add(3));
                c30 = _mm256_fmadd_ps(x, b0, c30);
                if !NARROW {
                    c31 = _mm256_fmadd_ps(x, b1, c31);
                }
                let x = _mm256_broadcast_ss(&*ap.add(4));
                c40 = _mm256_fmadd_ps(x, b0, c40);
                if !NARROW {
                    c41 = _mm256_fmadd_ps(x, b1, c41);
                }
                let x = _mm256_broadcast_ss(&*ap.add(5));
                c50 = _mm256_fmadd_ps(x, b0, c50);
                if !NARROW {
                    c51 = _mm256_fmadd_ps(x, b1, c51);
                }
            }
        };
    }

    for_each_step!(kc, a, b, rank1);

    let acc = [
        [c00, c01],
        [c10, c11],
        [c20, c21],
        [c30, c31],
        [c40, c41],
        [c50, c51],
    ];
    // (With NARROW the right-hand accumulators stay zero and, as
    // `out.cols <= 8`, are never stored.)
    store_accumulators!(
        &acc,
        out,
        store,
        full_cols = HALF,
        lanes = 8,
        _mm256_set1_ps,
        _mm256_setzero_ps,
        _mm256_mul_ps,
        _mm256_fmadd_ps,
        _mm256_add_ps,
        _mm256_max_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps
    );
}
