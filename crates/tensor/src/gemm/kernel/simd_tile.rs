//! The SIMD microkernel, written once over [`SimdVector`]: `ROWS x VECTORS`
//! accumulators, `kc` rank-1 updates, then the store with alpha, beta and
//! the fused epilogue. `x86_avx512.rs` and `x86_avx2.rs` compile it for
//! their registers inside their `#[target_feature]` entry points.
//!
//! Both registers do the same operations in the same order (one FMA per
//! step and output, in step order, then the same store), so the AVX-512 and
//! AVX2 kernels give the same bits.

use super::simd::SimdVector;
use super::{store_tile_scalar, TileOut, TileStore, MR, NR};

/// The products of the first `ROWS` rows of an A strip (`kc x MR`, column
/// after column) and `VECTORS` registers of a B strip's rows (`kc x NR`,
/// row after row) from `b`: `acc[i][v]` holds row `i`, lanes `LANES v ..
/// LANES (v + 1)`. Four steps per iteration, so loads and pointer updates
/// are amortised, then one at a time.
///
/// # Safety
/// The CPU has `V`'s features; for every step `p < kc`, `a + MR p ..
/// + ROWS` and `b + NR p .. + LANES VECTORS` are valid to read.
#[inline(always)]
pub(super) unsafe fn multiply_strips<V: SimdVector, const ROWS: usize, const VECTORS: usize>(
    kc: usize,
    mut a: *const f32,
    mut b: *const f32,
) -> [[V; VECTORS]; ROWS] {
    // SAFETY: the CPU has `V`'s features.
    let mut acc = [[unsafe { V::zero() }; VECTORS]; ROWS];
    // The pointers move with `wrapping_add`: after the last step they may
    // point past the strips, where `add` would be undefined; only steps
    // `< kc` are dereferenced.
    let mut remaining = kc;
    while remaining >= 4 {
        // SAFETY: the loops only reach steps `< kc`, which the caller lets
        // us read, on a CPU with `V`'s features.
        unsafe {
            rank1(&mut acc, a, b);
            rank1(&mut acc, a.wrapping_add(MR), b.wrapping_add(NR));
            rank1(&mut acc, a.wrapping_add(2 * MR), b.wrapping_add(2 * NR));
            rank1(&mut acc, a.wrapping_add(3 * MR), b.wrapping_add(3 * NR));
        }
        a = a.wrapping_add(4 * MR);
        b = b.wrapping_add(4 * NR);
        remaining -= 4;
    }
    while remaining > 0 {
        // SAFETY: as above.
        unsafe { rank1(&mut acc, a, b) };
        a = a.wrapping_add(MR);
        b = b.wrapping_add(NR);
        remaining -= 1;
    }
    acc
}

/// One rank-1 update: `acc[i][v] += a[i] * b[LANES v ..]`, one FMA each.
///
/// # Safety
/// The CPU has `V`'s features; `a .. + ROWS` and `b .. + LANES VECTORS`
/// are valid to read.
#[inline(always)]
unsafe fn rank1<V: SimdVector, const ROWS: usize, const VECTORS: usize>(
    acc: &mut [[V; VECTORS]; ROWS],
    a: *const f32,
    b: *const f32,
) {
    // SAFETY: (for the whole function) the caller's contract.
    unsafe {
        let row: [V; VECTORS] = std::array::from_fn(|v| V::load(b.add(V::LANES * v)));
        for (i, row_acc) in acc.iter_mut().enumerate() {
            let x = V::splat(*a.add(i));
            for (sum, &b_lanes) in row_acc.iter_mut().zip(&row) {
                *sum = x.fmadd(b_lanes, *sum);
            }
        }
    }
}

/// `act(alpha * products + beta * old + bias)` on one vector, with the
/// operations of [`TileStore::apply`] in its order: `old` (C's values) is
/// called only when beta != 0, since C may hold NaN otherwise, and
/// `bias_vector` turns the store's bias slice into this vector's bias. The kernels' store
/// and the dot-product path's share it.
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
pub(crate) unsafe fn apply_to_vector<V: SimdVector>(
    products: V,
    store: &TileStore,
    old: impl FnOnce() -> V,
    bias_vector: impl FnOnce(&[f32]) -> V,
) -> V {
    // SAFETY: (for the whole function) the CPU has `V`'s features.
    unsafe {
        let mut value = V::splat(store.alpha).mul(products);
        if store.beta != 0.0 {
            value = V::splat(store.beta).fmadd(old(), value);
        }
        if let Some(bias) = store.bias {
            value = value.add(bias_vector(bias));
        }
        if store.relu {
            // `v > 0 ? v : 0`, as `apply`: max returns its second operand
            // for NaN, and +0.0 for -0.0 vs +0.0.
            value = value.max(V::zero());
        }
        value
    }
}

/// Writes the accumulators of [`multiply_strips`] to `out`, with the
/// operations of [`TileStore::apply`] in their order. A whole tile
/// (`ROWS x LANES VECTORS`) is stored a vector at a time; any other goes
/// through `store_tile_scalar`.
///
/// # Safety
/// The CPU has `V`'s features; `out` (at most `ROWS x LANES VECTORS`) is
/// valid for reads and writes and exclusively ours.
#[inline(always)]
pub(super) unsafe fn store_accumulators<V: SimdVector, const ROWS: usize, const VECTORS: usize>(
    acc: &[[V; VECTORS]; ROWS],
    out: TileOut,
    store: &TileStore,
) {
    let full_cols = V::LANES * VECTORS;
    if out.rows == ROWS && out.cols == full_cols {
        // A whole tile in straight-line code for its store's options
        // (`beta`, bias, ReLU: eight copies, each with constant options).
        // Decided per vector, their branches kept the accumulators from
        // staying in registers and were most of a call's fixed cost
        // (figures in docs/benchmark-history.md).
        macro_rules! with_relu {
            ($beta:expr, $bias:expr) => {{
                let (alpha, beta, bias) = (store.alpha, $beta, $bias);
                if store.relu {
                    let store = TileStore {
                        alpha,
                        beta,
                        bias,
                        relu: true,
                    };
                    // SAFETY: the caller's contract, for a whole tile.
                    unsafe { store_whole_tile(acc, out, &store) }
                } else {
                    let store = TileStore {
                        alpha,
                        beta,
                        bias,
                        relu: false,
                    };
                    // SAFETY: as above.
                    unsafe { store_whole_tile(acc, out, &store) }
                }
            }};
        }
        macro_rules! with_bias {
            ($beta:expr) => {
                match store.bias {
                    Some(bias) => with_relu!($beta, Some(&bias[..full_cols])),
                    None => with_relu!($beta, None),
                }
            };
        }
        if store.beta != 0.0 {
            with_bias!(store.beta)
        } else {
            with_bias!(0.0)
        }
    } else {
        let mut ab = [0.0f32; MR * NR];
        for (i, row_acc) in acc.iter().enumerate() {
            for (v, &products) in row_acc.iter().enumerate() {
                let lanes = &mut ab[i * NR + V::LANES * v..][..V::LANES];
                // SAFETY: `lanes` is LANES writable floats; the CPU has
                // `V`'s features.
                unsafe { products.store(lanes.as_mut_ptr()) };
            }
        }
        // SAFETY: the caller's contract on `out`.
        unsafe { store_tile_scalar(&ab, out, store) };
    }
}

/// [`store_accumulators`] for a whole tile, `out` being exactly `ROWS x
/// LANES VECTORS`.
///
/// # Safety
/// As for [`store_accumulators`].
#[inline(always)]
unsafe fn store_whole_tile<V: SimdVector, const ROWS: usize, const VECTORS: usize>(
    acc: &[[V; VECTORS]; ROWS],
    out: TileOut,
    store: &TileStore,
) {
    for (i, row_acc) in acc.iter().enumerate() {
        // SAFETY: a whole tile: row `i < out.rows` and its columns are
        // inside C (the caller's contract on `out`).
        let row = unsafe { out.ptr.add(i * out.row_stride) };
        for (v, &products) in row_acc.iter().enumerate() {
            // SAFETY: `row + LANES v .. + LANES` is inside this tile row.
            let slot = unsafe { row.add(V::LANES * v) };
            // SAFETY: the CPU has `V`'s features (the caller's contract).
            let value = unsafe {
                apply_to_vector(
                    products,
                    store,
                    // SAFETY: `slot` is valid to read (only read when
                    // beta != 0, which allows it).
                    || V::load(slot),
                    // `bias` has one entry per column of the tile; the
                    // slice taken holds LANES values.
                    // SAFETY: reading those LANES values.
                    |bias| V::load(bias[V::LANES * v..][..V::LANES].as_ptr()),
                )
            };
            // SAFETY: `slot .. + LANES` is inside C and exclusively ours.
            unsafe { value.store(slot) };
        }
    }
}
