//! The AVX-512 microkernel: a 6 x 32 tile of C in 12 zmm accumulators.
//!
//! The same arithmetic as the AVX2 kernel, element for element (one FMA per
//! step, in step order, then the same store), so either gives the same bits.
//! Per step it loads one row of the B strip (32 values, two registers),
//! broadcasts the 6 values of one column of the A strip in turn and issues 12
//! FMAs of 16 lanes: half the instructions and loads of the AVX2 kernel per
//! multiply-add. On a Zen 4, whose 512-bit FMAs take two passes through the
//! 256-bit units, the peak is the same, but the AVX2 kernel's loads hold it
//! to ~90% of it where this one reaches ~97% (a loop over packed strips in
//! L1/L2: 104 vs 113 GFLOP/s).
//!
//! `VECTORS` = 1 compiles a 6 x 16 variant for edge strips of at most 16
//! valid columns, which skips the zero-padded half of the B strip. (Strips
//! of at most 8 go to the AVX2 kernel's 6 x 8 variant.)

use super::{store_tile_scalar, TileOut, TileStore, MR, NR};
use std::arch::x86_64::*;

/// `out = act(alpha * A_strip * B_strip + beta * out + bias)`, computing the
/// first `VECTORS` x 16 columns (`out.cols` must not exceed them).
///
/// # Safety
/// The CPU supports AVX-512F; `a_strip` holds at least `kc * MR` values and
/// `b_strip` at least `kc * NR`; `out` is valid for reads and writes of
/// `out.rows x out.cols` elements (at most `MR x 16 VECTORS`) and
/// exclusively ours.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn kernel<const VECTORS: usize>(
    kc: usize,
    a_strip: &[f32],
    b_strip: &[f32],
    out: TileOut,
    store: &TileStore,
) {
    debug_assert!(VECTORS * 16 <= NR && out.cols <= VECTORS * 16);
    let mut a = a_strip.as_ptr();
    let mut b = b_strip.as_ptr();
    let zero = _mm512_setzero_ps();
    // acc[i][v]: row i, columns 16v .. 16v + 16 of the tile.
    let mut acc = [[zero; VECTORS]; MR];

    // Start fetching this tile of C now, so its lines arrive during the
    // FMA loop rather than stalling the stores at the end.
    if store.beta != 0.0 {
        for i in 0..out.rows {
            // SAFETY: a prefetch is only a hint; it never faults, and the
            // addresses are inside C anyway (row `i < out.rows`).
            unsafe {
                let row = out.ptr.add(i * out.row_stride);
                _mm_prefetch::<_MM_HINT_T0>(row as *const i8);
                _mm_prefetch::<_MM_HINT_T0>(row.add(out.cols - 1) as *const i8);
            }
        }
    }

    // One rank-1 update: offset `$p` steps ahead of the current pointers.
    macro_rules! rank1 {
        ($p:expr) => {
            // SAFETY (for the whole macro): the loops below only expand it
            // for steps `< kc`, so `b + NR p .. + 16 VECTORS` and `a + MR p
            // .. + MR` lie inside the strips, whose lengths the caller
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

    let mut remaining = kc;
    while remaining >= 4 {
        rank1!(0);
        rank1!(1);
        rank1!(2);
        rank1!(3);
        // SAFETY: advancing by 4 steps stays within (or one past) the strips.
        unsafe {
            a = a.add(4 * MR);
            b = b.add(4 * NR);
        }
        remaining -= 4;
    }
    while remaining > 0 {
        rank1!(0);
        // SAFETY: as above, for one step.
        unsafe {
            a = a.add(MR);
            b = b.add(NR);
        }
        remaining -= 1;
    }

    if out.rows == MR && out.cols == VECTORS * 16 {
        let alpha = _mm512_set1_ps(store.alpha);
        let beta = _mm512_set1_ps(store.beta);
        for (i, row_acc) in acc.iter().enumerate() {
            // SAFETY: a full tile: row `i < MR` and its `16 VECTORS` columns
            // are inside C.
            let row = unsafe { out.ptr.add(i * out.row_stride) };
            for (v, &products) in row_acc.iter().enumerate() {
                // SAFETY: `row + 16v .. + 16` is inside this tile row.
                let slot = unsafe { row.add(16 * v) };
                // Same operation order as `TileStore::apply`.
                let mut value = _mm512_mul_ps(alpha, products);
                if store.beta != 0.0 {
                    // SAFETY: `slot` is valid to read (beta != 0 allows it).
                    value = _mm512_fmadd_ps(beta, unsafe { _mm512_loadu_ps(slot) }, value);
                }
                if let Some(bias) = store.bias {
                    // `bias` has one entry per column of the tile.
                    let bias = &bias[16 * v..16 * v + 16];
                    // SAFETY: the slice just taken holds 16 values.
                    value = _mm512_add_ps(value, unsafe { _mm512_loadu_ps(bias.as_ptr()) });
                }
                if store.relu {
                    // `v > 0 ? v : 0` like the AVX2 kernel's `max(v, 0)`:
                    // NaN and -0.0 become +0.0.
                    value = _mm512_max_ps(value, zero);
                }
                // SAFETY: `slot .. + 16` is inside C and exclusively ours.
                unsafe { _mm512_storeu_ps(slot, value) };
            }
        }
    } else {
        let mut ab = [0.0f32; MR * NR];
        for (i, row_acc) in acc.iter().enumerate() {
            for (v, &products) in row_acc.iter().enumerate() {
                let lanes = &mut ab[i * NR + 16 * v..i * NR + 16 * v + 16];
                // SAFETY: `lanes` is 16 writable floats.
                unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), products) };
            }
        }
        // SAFETY: the caller's contract on `out`.
        unsafe { store_tile_scalar(&ab, out, store) };
    }
}
