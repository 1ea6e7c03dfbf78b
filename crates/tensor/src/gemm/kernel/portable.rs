//! The portable microkernel: plain Rust the compiler vectorises for whatever
//! CPU it targets. Same tile shape and packing as the AVX2 kernel.

use super::{store_tile_scalar, TileOut, TileStore, MR, NR};

/// `out = act(alpha * A_strip * B_strip + beta * out + bias)`.
///
/// # Safety
/// `out` is valid for reads and writes of `out.rows x out.cols` elements and
/// exclusively ours; the strips hold `kc * MR` and `kc * NR` values.
pub(super) unsafe fn kernel(
    kc: usize,
    a_strip: &[f32],
    b_strip: &[f32],
    out: TileOut,
    store: &TileStore,
) {
    let mut ab = [0.0f32; MR * NR];
    for (a_column, b_row) in a_strip
        .chunks_exact(MR)
        .zip(b_strip.chunks_exact(NR))
        .take(kc)
    {
        for (i, &a) in a_column.iter().enumerate() {
            for (acc, &b) in ab[i * NR..(i + 1) * NR].iter_mut().zip(b_row) {
                *acc += a * b;
            }
        }
    }
    // SAFETY: the caller's contract on `out`.
    unsafe { store_tile_scalar(&ab, out, store) };
}
