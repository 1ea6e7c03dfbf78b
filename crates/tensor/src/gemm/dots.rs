//! `C = act(alpha * A * B^T + beta * C + bias)` as dot products of rows, for
//! a narrow layer's forward pass (`X * W^T` with `W` stored `out x in`).
//!
//! There both operands run along `k` in memory, so the blocked path must
//! transpose both while packing them; for 100 x 784 x 100 that packing is a
//! fifth of the GEMM. Here nothing is packed: a block of 4 rows of A (12 KiB
//! for k = 784) stays in L1 while every row of B streams past it from L2
//! (hence [`fits`]: B must fit there), and each of the 4 x 4 outputs is a
//! 16-lane AVX-512 dot product, reduced at the end. At that shape this
//! measured 87-95 GFLOP/s against 72-79 for the packed path (medians of 15
//! windows each, same minutes). AVX2 has too few registers for a 4 x 4 block
//! (a 2 x 5 one ran at 67), so this path is the AVX-512 kernel's only.
//!
//! Each output sums its products in 16 lanes and then across them, another
//! order than the packed kernels' (one running sum per output), so results
//! differ from theirs in the last bits; they are the same for any thread
//! count, since an output's sum never depends on which thread computes it.

use super::blocked::{tile_share, Problem};
use super::kernel::{Microkernel, TileStore, NR};
use super::pool;
use std::arch::x86_64::*;
use std::ops::Range;

/// Rows of A, and of B, in one block of outputs.
const BLOCK: usize = 4;

/// The largest B (in bytes) this path takes, leaving most of the 1 MiB L2
/// to A's rows, C and the other thread's data: 784 x 100 floats (306 KiB)
/// fits; with 256 x 512 (512 KiB) this path ran slower than packing (82 vs
/// 90 GFLOP/s at 128 x 512 x 256).
const MAX_B_BYTES: usize = 384 * 1024;

/// Below this depth each output's reduction and store weigh too much against
/// its dot product, unless C is a single strip narrower than the blocked
/// path's tiles: 128 x 256 x 256 ran at 65-71 GFLOP/s here against 81-84
/// packed, while 128 x 256 x 10 ran at 58 against 36.
const MIN_DEPTH: usize = 512;

/// Whether `problem` is a plain A times a transposed B that fits in L2, deep
/// enough (or narrow enough) to gain, on a CPU with the AVX-512 kernel.
pub(crate) fn fits(problem: &Problem) -> bool {
    let (n, k) = (problem.c.cols, problem.a.cols());
    problem.kernel == Microkernel::Avx512
        && !problem.a.transposed
        && problem.b.transposed
        && n * k * std::mem::size_of::<f32>() <= MAX_B_BYTES
        && (k >= MIN_DEPTH || n < NR)
}

/// Runs `problem` (for which [`fits`] holds) with C's columns shared out
/// over up to `threads` threads, in blocks of 4.
///
/// Columns, not rows: each thread then reads only its share of B, a
/// layer's weight rows, which the optimizer's update of the previous step
/// (split the same way, by rows of W) wrote on that thread's core. Split by
/// rows of A, every thread read all of W, so every update of W had to take
/// each line back from the other core first: on this VM, when a round trip
/// between the cores took ~400 ns or more, the SGD step of 784-100-10 at 2
/// threads cost 9% of the CPU time instead of 1.2%, and training ran at
/// 176-183k instead of 216-220k samples/s (alternating runs, same minutes).
pub(crate) fn gemm_dots(problem: &Problem, threads: usize) {
    debug_assert!(fits(problem));
    let (m, n) = (problem.c.rows, problem.c.cols);
    let parts = threads.clamp(1, n.div_ceil(BLOCK));
    pool::run_parts(parts, &|part| {
        let cols = tile_share(n, BLOCK, parts, part);
        // SAFETY: `fits` held, so the CPU has AVX-512F (the `Avx512` kernel
        // is only selected after detecting it); this part writes only its
        // own columns of C.
        unsafe { dot_products(problem, 0..m, cols) };
    });
}

/// C's `rows x cols`, a block of 4 x 4 outputs at a time, then the rows
/// and columns left over one at a time.
///
/// # Safety
/// The CPU supports AVX-512F; no other thread writes these outputs of C.
#[target_feature(enable = "avx512f")]
unsafe fn dot_products(problem: &Problem, rows: Range<usize>, cols: Range<usize>) {
    let (n, k) = (problem.c.cols, problem.a.cols());
    let (a, b) = (problem.a.matrix.as_slice(), problem.b.matrix.as_slice());
    let store = TileStore {
        alpha: problem.alpha,
        beta: problem.beta,
        bias: problem.bias,
        relu: problem.relu,
    };
    let full_rows = rows.start + rows.len() / BLOCK * BLOCK;
    let full_cols = cols.start + cols.len() / BLOCK * BLOCK;
    let mut i = rows.start;
    while i < rows.end {
        let block_rows = if i < full_rows { BLOCK } else { 1 };
        let mut j = cols.start;
        while j < cols.end {
            let block_cols = if j < full_cols { BLOCK } else { 1 };
            let mut dots = [[0.0f32; BLOCK]; BLOCK];
            let a_rows = &a[i * k..(i + block_rows) * k];
            let b_rows = &b[j * k..(j + block_cols) * k];
            match (block_rows, block_cols) {
                (BLOCK, BLOCK) => block::<BLOCK, BLOCK>(a_rows, b_rows, k, &mut dots),
                (BLOCK, _) => block::<BLOCK, 1>(a_rows, b_rows, k, &mut dots),
                (_, BLOCK) => block::<1, BLOCK>(a_rows, b_rows, k, &mut dots),
                _ => block::<1, 1>(a_rows, b_rows, k, &mut dots),
            }
            for (r, row_dots) in dots.iter().enumerate().take(block_rows) {
                // `i + r < rows.end <= m`: a row of C.
                let c_row = problem.c.ptr.wrapping_add((i + r) * n);
                for (s, &dot) in row_dots.iter().enumerate().take(block_cols) {
                    // SAFETY: column `j + s < cols.end <= n` of that row is
                    // inside C, and this part's: no other thread writes it.
                    unsafe {
                        let slot = c_row.add(j + s);
                        let old = (store.beta != 0.0).then(|| *slot);
                        *slot = store.apply(dot, old, j + s);
                    }
                }
            }
            j += block_cols;
        }
        i += block_rows;
    }
}

/// `dots[r][s] = a_rows[r] . b_rows[s]` for `R` rows of A and `S` of B, each
/// `k` long and stored one after another.
#[target_feature(enable = "avx512f")]
fn block<const R: usize, const S: usize>(
    a_rows: &[f32],
    b_rows: &[f32],
    k: usize,
    dots: &mut [[f32; BLOCK]; BLOCK],
) {
    assert!(a_rows.len() >= R * k && b_rows.len() >= S * k);
    let mut acc = [[_mm512_setzero_ps(); S]; R];
    // One step of 16 lanes from `p`, masked to `mask` (lanes past `k` in the
    // last step read as zeros: masked loads touch nothing outside the mask).
    let mut step = |p: usize, mask: __mmask16| {
        // SAFETY: lanes `p..p + 16` masked to those below `k` are inside
        // row `r` (or `s`), and the rows are inside the slices (asserted).
        let a: [__m512; R] = std::array::from_fn(|r| unsafe {
            _mm512_maskz_loadu_ps(mask, a_rows.as_ptr().add(r * k + p))
        });
        // SAFETY: as above.
        let b: [__m512; S] = std::array::from_fn(|s| unsafe {
            _mm512_maskz_loadu_ps(mask, b_rows.as_ptr().add(s * k + p))
        });
        for (acc_row, &a_lanes) in acc.iter_mut().zip(&a) {
            for (sum, &b_lanes) in acc_row.iter_mut().zip(&b) {
                *sum = _mm512_fmadd_ps(a_lanes, b_lanes, *sum);
            }
        }
    };
    let full_steps = k / 16 * 16;
    for p in (0..full_steps).step_by(16) {
        step(p, 0xFFFF);
    }
    if full_steps < k {
        step(full_steps, (1 << (k - full_steps)) - 1);
    }
    for r in 0..R {
        for s in 0..S {
            dots[r][s] = _mm512_reduce_add_ps(acc[r][s]);
        }
    }
}
