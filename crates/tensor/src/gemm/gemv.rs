//! One row of C: `c = act(alpha * x * op(B) + beta * c + bias)` with `x` of
//! length `k`, the shape of classifying a single image (batch 1).
//!
//! The blocked path would pack all of op(B) (a whole weight matrix) to use
//! one row of a 6-row microkernel tile: for a 784 x 100 layer that is ~35 us
//! of copying and wasted rows, for ~3 us of arithmetic. Here B is read once,
//! in place, on the calling thread (never the pool: waking it costs more than
//! the whole product).
//!
//! - op(B) = B^T (B stored `n x k`, PyTorch's weight layout): each output is
//!   the dot product of `x` with one contiguous row of B.
//! - op(B) = B (stored `k x n`): C's row is the sum of B's rows scaled by `x`,
//!   accumulated a block of columns at a time in a small stack buffer.
//!
//! The dot products have an AVX2+FMA version (eight rows of B at a time, one
//! load of `x` shared by eight FMAs) chosen with the microkernel; the portable
//! one splits each sum over `LANES` partial sums in a fixed order. Either way
//! the result depends only on the inputs, never on the thread count.

use super::kernel::{Kernel, TileStore};

/// Independent partial sums per dot product: two 8-lane AVX registers, or
/// four SSE ones; enough to hide the add latency.
const LANES: usize = 16;

/// Columns of C accumulated at once when B is not transposed: 256 floats of
/// stack, a few rows of B per L1 line set.
const COLUMN_BLOCK: usize = 256;

/// `c[j] = store(sum_p x[p] * op(B)[p][j])` for every column `j`.
///
/// `b` is B's row-major storage: `n x k` when `transposed`, else `k x n`.
/// `c` holds the `n` outputs; it is read only when `store.beta != 0`.
pub(crate) fn row_times_matrix(
    x: &[f32],
    b: &[f32],
    transposed: bool,
    c: &mut [f32],
    store: &TileStore,
    kernel: Kernel,
) {
    let (k, n) = (x.len(), c.len());
    // The AVX2 path reads B through raw pointers: this is what makes it sound.
    assert_eq!(b.len(), k * n, "gemv: B must hold k x n values");
    let old = |c: &[f32], j: usize| (store.beta != 0.0).then(|| c[j]);
    if transposed {
        #[cfg(target_arch = "x86_64")]
        if kernel.has_avx2() {
            // SAFETY: a kernel with `has_avx2` is only selected after
            // detecting AVX2 and FMA, and `b` holds `n` rows of `k`
            // (asserted above).
            unsafe { x86_avx2::dots(x, b, c, store) };
            return;
        }
        let _ = kernel;
        for j in 0..n {
            let product = dot(x, &b[j * k..j * k + k]);
            c[j] = store.apply(product, old(c, j), j);
        }
        return;
    }
    let mut sums = [0.0f32; COLUMN_BLOCK];
    for first in (0..n).step_by(COLUMN_BLOCK) {
        let width = COLUMN_BLOCK.min(n - first);
        let sums = &mut sums[..width];
        sums.fill(0.0);
        for (p, &scale) in x.iter().enumerate() {
            let row = &b[p * n + first..p * n + first + width];
            for (sum, &value) in sums.iter_mut().zip(row) {
                *sum += scale * value;
            }
        }
        for (offset, &product) in sums.iter().enumerate() {
            let j = first + offset;
            c[j] = store.apply(product, old(c, j), j);
        }
    }
}

/// `sum_i x[i] * y[i]` over `LANES` partial sums, combined pairwise.
fn dot(x: &[f32], y: &[f32]) -> f32 {
    let mut partial = [0.0f32; LANES];
    let (x_blocks, x_rest) = x.split_at(x.len() - x.len() % LANES);
    let (y_blocks, y_rest) = y.split_at(x_blocks.len());
    for (xs, ys) in x_blocks
        .chunks_exact(LANES)
        .zip(y_blocks.chunks_exact(LANES))
    {
        for lane in 0..LANES {
            partial[lane] += xs[lane] * ys[lane];
        }
    }
    for (lane, (&a, &b)) in x_rest.iter().zip(y_rest).enumerate() {
        partial[lane] += a * b;
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for lane in 0..width {
            partial[lane] += partial[lane + width];
        }
    }
    partial[0]
}

#[cfg(target_arch = "x86_64")]
mod x86_avx2 {
    use super::TileStore;
    use std::arch::x86_64::*;

    /// Rows of B (outputs) per pass: eight independent FMA chains, enough
    /// to cover two FMA pipes x 4 cycles of latency.
    const ROWS: usize = 8;

    /// `c[j] = store(dot(x, B row j))` for all `n = c.len()` rows of B.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA, and `b` must hold `c.len()` rows of
    /// `x.len()` floats.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dots(x: &[f32], b: &[f32], c: &mut [f32], store: &TileStore) {
        let (k, n) = (x.len(), c.len());
        debug_assert!(b.len() >= k * n);
        let full = k - k % 8;
        let mut j = 0;
        while j < n {
            let rows = ROWS.min(n - j);
            let mut acc = [_mm256_setzero_ps(); ROWS];
            let mut p = 0;
            while p < full {
                // SAFETY: p + 8 <= k, so x[p..p + 8] is in bounds.
                let xv = unsafe { _mm256_loadu_ps(x.as_ptr().add(p)) };
                for (r, sum) in acc.iter_mut().enumerate().take(rows) {
                    // SAFETY: row j + r < n and p + 8 <= k, so the 8 floats
                    // at (j + r) * k + p lie inside b (n * k floats).
                    let bv = unsafe { _mm256_loadu_ps(b.as_ptr().add((j + r) * k + p)) };
                    *sum = _mm256_fmadd_ps(xv, bv, *sum);
                }
                p += 8;
            }
            for (r, sum) in acc.iter().enumerate().take(rows) {
                let row = &b[(j + r) * k..(j + r) * k + k];
                // SAFETY: this function already requires AVX2.
                let mut total = unsafe { horizontal_sum(*sum) };
                for q in full..k {
                    total = x[q].mul_add(row[q], total);
                }
                let old = (store.beta != 0.0).then(|| c[j + r]);
                c[j + r] = store.apply(total, old, j + r);
            }
            j += rows;
        }
    }

    /// The sum of the 8 lanes, in a fixed order.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn horizontal_sum(v: __m256) -> f32 {
        let halves = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let pairs = _mm_add_ps(halves, _mm_movehl_ps(halves, halves));
        let one = _mm_add_ss(pairs, _mm_shuffle_ps(pairs, pairs, 1));
        _mm_cvtss_f32(one)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dot product in f64, as the reference.
    fn dot_f64(x: &[f32], y: &[f32]) -> f64 {
        x.iter().zip(y).map(|(&a, &b)| a as f64 * b as f64).sum()
    }

    /// The portable path, and the AVX2 one where this CPU has it.
    /// The portable kernel and one with AVX2 (gemv's SIMD path is the same
    /// for both SIMD kernels).
    fn kernels() -> Vec<Kernel> {
        let mut kernels = crate::gemm::kernel::available_kernels();
        kernels.dedup_by_key(|kernel| kernel.has_avx2());
        kernels
    }

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 37 + seed * 11) % 29) as f32 / 29.0 - 0.5)
            .collect()
    }

    #[test]
    fn dot_matches_f64_for_every_remainder() {
        for len in 0..70 {
            let (x, y) = (values(len, 1), values(len, 2));
            let magnitude: f64 = x.iter().zip(&y).map(|(a, b)| (a * b).abs() as f64).sum();
            let tolerance = (len as f64 + 2.0) * f32::EPSILON as f64 * magnitude + 1e-30;
            let error = (dot(&x, &y) as f64 - dot_f64(&x, &y)).abs();
            assert!(error <= tolerance, "len {len}: error {error:e}");
        }
    }

    #[test]
    fn both_layouts_match_f64_with_bias_relu_and_beta() {
        // Widths around and past COLUMN_BLOCK, and the MLP layers' shapes.
        for (k, n) in [
            (1, 1),
            (3, 5),
            (7, 9),
            (8, 8),
            (784, 100),
            (17, 257),
            (512, 256),
            (0, 4),
        ] {
            let x = values(k, 3);
            let w = values(n * k, 4); // n x k
            let w_t: Vec<f32> = (0..k * n).map(|i| w[(i % n) * k + i / n]).collect(); // k x n
            let bias = values(n, 5);
            for relu in [false, true] {
                let store = TileStore {
                    alpha: 0.5,
                    beta: 2.0,
                    bias: Some(&bias),
                    relu,
                };
                let cases = kernels()
                    .into_iter()
                    .flat_map(|kernel| [(&w, true, kernel), (&w_t, false, kernel)]);
                for (storage, transposed, kernel) in cases {
                    let before = values(n, 6);
                    let mut c = before.clone();
                    row_times_matrix(&x, storage, transposed, &mut c, &store, kernel);
                    for j in 0..n {
                        let row = &w[j * k..j * k + k];
                        let mut want =
                            0.5 * dot_f64(&x, row) + 2.0 * before[j] as f64 + bias[j] as f64;
                        if relu {
                            want = want.max(0.0);
                        }
                        let magnitude: f64 = x
                            .iter()
                            .zip(row)
                            .map(|(a, b)| (a * b).abs() as f64)
                            .sum::<f64>()
                            + 2.0 * before[j].abs() as f64
                            + bias[j].abs() as f64;
                        let tolerance = (k as f64 + 4.0) * f32::EPSILON as f64 * magnitude;
                        assert!(
                            (c[j] as f64 - want).abs() <= tolerance,
                            "k {k} n {n} transposed {transposed} relu {relu} {kernel:?}: c[{j}] = {}, want {want}",
                            c[j]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn beta_zero_never_reads_c() {
        let (k, n) = (40, 300);
        let (x, w) = (values(k, 7), values(n * k, 8));
        let store = TileStore {
            alpha: 1.0,
            beta: 0.0,
            bias: None,
            relu: false,
        };
        for kernel in kernels() {
            for transposed in [true, false] {
                let mut c = vec![f32::NAN; n];
                row_times_matrix(&x, &w, transposed, &mut c, &store, kernel);
                assert!(c.iter().all(|v| v.is_finite()), "{kernel:?} {transposed}");
            }
        }
    }
}
