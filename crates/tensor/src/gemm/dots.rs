//! `C = act(alpha * A * B^T + beta * C + bias)` as dot products of rows, for
//! a narrow layer's forward pass (`X * W^T` with `W` stored `out x in`), and
//! `A * B` for a narrow plain B, whose columns are first copied as rows.
//!
//! There both operands run along `k` in memory, so the blocked path must
//! transpose both while packing them; for 100 x 784 x 100 that packing is a
//! fifth of the GEMM. Here nothing is packed: a block of 4 rows of A (12 KiB
//! for k = 784) stays in L1 while every row of B streams past it from L2 or
//! L3 (hence [`fits`]: A may not be too deep, nor B too big for a tall A),
//! and each of the 4 x 4
//! outputs is a 16-lane AVX-512 dot product, reduced at the end; at that
//! shape it beats the packed path. AVX2 has too few registers for a 4 x 4
//! block (a 2 x 5 one was slower than packing), so this path is the
//! AVX-512 kernel's only. A block's 16 sums are reduced together and
//! stored four at a time ([`sum_lanes`], [`store_block`]) rather than one
//! by one. Figures for all of this: BENCHMARKS.md, "Measurements behind
//! the code".
//!
//! A plain B (`A * B`) with fewer than 128 columns (and `k` in the same
//! range) comes here too: each thread first copies its columns of B as rows
//! ([`transpose_columns`]). Where C is that narrow the blocked path spends
//! more on packing A (a transpose) and on its last, ragged strip of columns
//! than the copy costs, up to 128 columns, where the two paths were even.
//! Shallower products (`k` < 256)
//! were not measured, so they stay packed even when C is narrower than a
//! tile.
//!
//! Each output sums its products in 16 lanes and then across them, another
//! order than the packed kernels' (one running sum per output), so results
//! differ from theirs in the last bits; they are the same for any thread
//! count, since an output's sum never depends on which thread computes it.

use super::buffers::run_parts_with_buffers;
use super::chunks::Chunks;
use super::kernel::simd::SimdVector;
use super::kernel::simd_tile::apply_to_vector;
use super::kernel::{Kernel, TileStore, NR};
use super::pack_avx2::transpose_columns;
use super::problem::Problem;
use crate::thread_pool;
use std::arch::x86_64::*;
use std::ops::Range;

/// Rows of A, and of B, in one block of outputs. (`sum_lanes` and
/// `store_block` are written for 4: a 128-bit lane per row.)
const BLOCK: usize = 4;
const _: () = assert!(BLOCK == 4);

/// The largest B (in bytes) this path takes for an A of `rows` rows. Each
/// block of 4 rows of A streams all of B; on a core with one 512-bit FMA a
/// cycle (Zen 4) a B of up to 2 MB (more than its 1 MiB L2) still came from
/// L3 fast enough to beat the packed path. One with two (Zen 5) asks for
/// data twice as fast, and there, from [`TALL_A`] rows on, only a B within
/// its L2 kept up: 128 x 784 x 512 (1.6 MB) ran at 182-191 GFLOP/s here and
/// 196-212 packed, 128 x 784 x 256 (0.8 MB) at 210-220 against 192-205.
/// A shorter A streams B fewer times than packing it costs: 2 x 784 x 512
/// ran at 94-95 GFLOP/s here and 26-27 packed, 32 x 784 x 512 at 188
/// against 153; below [`SHORT_A`] rows, whatever B's size (1 thread;
/// figures in BENCHMARKS.md, "Measurements behind the code").
fn max_b_bytes(rows: usize) -> usize {
    if rows < SHORT_A {
        usize::MAX
    } else if crate::cpu::two_avx512_fma_pipes() && rows >= TALL_A {
        crate::cpu::cache_sizes().l2
    } else {
        2048 * 1024
    }
}

/// Rows of A below which B may be of any size: packing B costs more than
/// streaming it past A a few blocks of rows at a time. On Zen 5 (1 thread,
/// B read from L3, as a layer's weights are from call to call): 2 x 784 x
/// 1024 (3.2 MB) 92 GFLOP/s against 24 packed, 8 x 784 x 4096 (12.8 MB)
/// 167 against 59, 32 x 784 x 2048 179 against 125. At 48 and 63 rows the
/// dot products still won at n = 2048 and 4096 but not at 1024 (175
/// against 178 at 48, 155 against 191 at 63), so from 48 rows on the
/// limits above stay. Not measured on Zen 4, nor with B from memory (each
/// block of 4 rows of A reads all of B).
const SHORT_A: usize = 48;

/// Rows of A from which, on a core with two 512-bit FMA pipes, B must fit
/// in L2 ([`max_b_bytes`]): at 64 the two paths were even (187-191 GFLOP/s).
const TALL_A: usize = 64;

/// Below this depth each output's reduction and store weigh too much against
/// its dot product, unless C is a single strip narrower than the blocked
/// path's tiles, whose packing then costs as much as the products (figures
/// in BENCHMARKS.md, "Measurements behind the code").
const MIN_DEPTH: usize = 256;

/// From this depth on, a block's 4 rows of A (16 KiB and more) no longer
/// stay in L1 beside B's streaming rows, and at k = 1024 all 8 rows, 4 KiB
/// apart, fall in the same L1 sets: the packed path wins (figures in
/// BENCHMARKS.md, "Measurements behind the code").
const MAX_DEPTH: usize = 1024;

/// A plain B is copied as rows only for a C with fewer columns than this
/// (see the module's documentation).
const PLAIN_B_COLUMNS_BELOW: usize = 4 * NR;

/// Whether `problem` is a plain A times a transposed B small enough, deep
/// enough (or narrow enough) and not too deep to gain, or times a plain B
/// also narrow enough and deep enough, on a CPU with the AVX-512 kernel.
pub(crate) fn fits(problem: &Problem) -> bool {
    let (n, k) = (problem.c.cols, problem.a.cols());
    let shape_gains = if problem.b.transposed {
        k >= MIN_DEPTH || n < NR
    } else {
        k >= MIN_DEPTH && n < PLAIN_B_COLUMNS_BELOW
    };
    problem.kernel == Kernel::Avx512
        && !problem.a.transposed
        && shape_gains
        && n * k * std::mem::size_of::<f32>() <= max_b_bytes(problem.c.rows)
        && k < MAX_DEPTH
}

/// Runs `problem` (for which [`fits`] holds) with C's columns shared out
/// over up to `threads` threads, in blocks of 4, a chunk of blocks at a
/// time (see `chunks.rs`).
///
/// Columns, not rows: each thread then reads only its share of B (of a
/// plain B, the columns it copies). A transposed B is a layer's weights,
/// and its share of them the rows that the optimizer's update of the
/// previous step (split by rows of W too, at about the same rows, for a
/// weight of 32k values or more) wrote on that thread's core. Split by rows
/// of A, every thread read all of W, so every update of W had to take each
/// line back from the other core first, which slowed training wherever a
/// round trip between the cores is slow (figures in BENCHMARKS.md,
/// "Measurements behind the code").
pub(crate) fn gemm_dots(problem: &Problem, threads: usize) {
    debug_assert!(fits(problem));
    let (m, n, k) = (problem.c.rows, problem.c.cols, problem.a.cols());
    let parts = threads.clamp(1, n.div_ceil(BLOCK));
    // Chunks (see `chunks.rs`) of at least 16 columns: a chunk streams all
    // of A past its columns, so narrower ones would read A more often than B
    // (and one thread streams it once).
    let chunks = match parts {
        1 => Chunks::whole_shares(n, BLOCK, 1),
        _ => Chunks::by_work(n, BLOCK, parts, m * BLOCK * k, 16 / BLOCK),
    };
    let stored_b = problem.b.matrix.as_slice();
    if problem.b.transposed {
        thread_pool::run_parts(parts, &|part| {
            while let Some(cols) = chunks.next(part) {
                // SAFETY: `fits` held, so the CPU has AVX-512F (the `Avx512`
                // kernel is only selected after detecting it); `cols` is
                // inside `0..n`, and this chunk's alone; B's row `j` is
                // op(B)'s column.
                unsafe { dot_products(problem, cols, stored_b, 0) };
            }
        });
    } else {
        run_parts_with_buffers(parts, &|part, buffers| {
            // Room for the longest chunk, whichever this part gets.
            let space = buffers.b.get(chunks.longest() * k);
            while let Some(cols) = chunks.next(part) {
                let columns_as_rows = &mut space[..cols.len() * k];
                // SAFETY: as above, and the `Avx512` kernel is only selected
                // where AVX2 was detected too (`Kernel::select`);
                // `columns_as_rows` then holds op(B)'s columns `cols`, from
                // column `cols.start`.
                unsafe {
                    transpose_columns(stored_b, n, k, cols.clone(), columns_as_rows);
                    dot_products(problem, cols.clone(), columns_as_rows, cols.start);
                }
            }
        });
    }
}

/// All rows of C's columns `cols`, a block of 4 x 4 outputs at a time; the
/// 1-3 rows left over below the last full block together, 4 columns at a
/// time, and the columns left over one at a time. Column `j` of op(B) is
/// row `j - first_column` of `b` (`k` values).
///
/// # Safety
/// The CPU supports AVX-512F; `cols` lies inside `0..n`, and no other
/// thread uses C's outputs in those columns.
#[target_feature(enable = "avx512f")]
unsafe fn dot_products(problem: &Problem, cols: Range<usize>, b: &[f32], first_column: usize) {
    let (m, n, k) = (problem.c.rows, problem.c.cols, problem.a.cols());
    let a = problem.a.matrix.as_slice();
    let store = TileStore {
        alpha: problem.alpha,
        beta: problem.beta,
        bias: problem.bias,
        relu: problem.relu,
    };
    let full_cols = cols.start + cols.len() / BLOCK * BLOCK;
    let mut i = 0;
    while i < m {
        let block_rows = (m - i).min(BLOCK);
        let mut j = cols.start;
        while j < cols.end {
            let block_cols = if j < full_cols { BLOCK } else { 1 };
            let a_rows = &a[i * k..(i + block_rows) * k];
            let b_rows = &b[(j - first_column) * k..(j - first_column + block_cols) * k];
            // `i < m` and `j < n`: the block's first output is inside C.
            let corner = problem.c.ptr.wrapping_add(i * n + j);
            if (block_rows, block_cols) == (BLOCK, BLOCK) {
                let sums = sum_lanes(&block::<BLOCK, BLOCK>(a_rows, b_rows, k));
                // SAFETY: the 4 x 4 outputs from `corner` (rows `i..i + 4 <=
                // m`, columns `j..j + 4 <= cols.end <= n`) are inside C and
                // this chunk's: no other thread uses them.
                unsafe { store_block(sums, corner, n, &store, j) };
            } else {
                let mut dots = [[0.0f32; BLOCK]; BLOCK];
                partial_block(block_rows, block_cols, a_rows, b_rows, k, &mut dots);
                for (r, row_dots) in dots.iter().enumerate().take(block_rows) {
                    for (s, &dot) in row_dots.iter().enumerate().take(block_cols) {
                        // SAFETY: row `i + r < m` and column `j + s < cols.end
                        // <= n` of C, this chunk's.
                        unsafe {
                            let slot = corner.add(r * n + s);
                            let old = (store.beta != 0.0).then(|| *slot);
                            *slot = store.apply(dot, old, j + s);
                        }
                    }
                }
            }
            j += block_cols;
        }
        i += block_rows;
    }
}

/// `dots[r][s]` for a block of `rows` x `cols` outputs smaller than 4 x 4:
/// 1-3 rows by 4 columns or by 1, or 4 rows by 1 column. The rows go past
/// B together: one at a time, a batch of 2, 3 or 6 images read a layer's
/// weights once per image, and inferred fewer images per second than a
/// batch of 4 (`cargo xtask bench scaling`, BENCHMARKS.md).
#[target_feature(enable = "avx512f")]
fn partial_block(
    rows: usize,
    cols: usize,
    a_rows: &[f32],
    b_rows: &[f32],
    k: usize,
    dots: &mut [[f32; BLOCK]; BLOCK],
) {
    debug_assert!(
        (1..=BLOCK).contains(&rows)
            && (cols == 1 || cols == BLOCK)
            && (rows, cols) != (BLOCK, BLOCK),
        "a {rows} x {cols} block is not a partial one"
    );
    match (rows, cols) {
        (BLOCK, _) => sum_each(&block::<BLOCK, 1>(a_rows, b_rows, k), dots),
        (3, BLOCK) => sum_each(&block::<3, BLOCK>(a_rows, b_rows, k), dots),
        (2, BLOCK) => sum_each(&block::<2, BLOCK>(a_rows, b_rows, k), dots),
        (1, BLOCK) => sum_each(&block::<1, BLOCK>(a_rows, b_rows, k), dots),
        (3, _) => sum_each(&block::<3, 1>(a_rows, b_rows, k), dots),
        (2, _) => sum_each(&block::<2, 1>(a_rows, b_rows, k), dots),
        _ => sum_each(&block::<1, 1>(a_rows, b_rows, k), dots),
    }
}

/// The 16-lane partial sums of `a_rows[r] . b_rows[s]` for `R` rows of A and
/// `S` of B, each `k` long and stored one after another.
#[target_feature(enable = "avx512f")]
fn block<const R: usize, const S: usize>(
    a_rows: &[f32],
    b_rows: &[f32],
    k: usize,
) -> [[__m512; S]; R] {
    assert!(a_rows.len() >= R * k && b_rows.len() >= S * k);
    // SAFETY: the CPU has AVX-512F (this function's feature).
    let mut acc = [[unsafe { __m512::zero() }; S]; R];
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
                // SAFETY: the CPU has AVX-512F (this function's feature).
                *sum = unsafe { a_lanes.fmadd(b_lanes, *sum) };
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
    acc
}

/// `dots[r][s]` = the sum of the lanes of `acc[r][s]`.
#[target_feature(enable = "avx512f")]
fn sum_each<const R: usize, const S: usize>(
    acc: &[[__m512; S]; R],
    dots: &mut [[f32; BLOCK]; BLOCK],
) {
    for (dots_row, acc_row) in dots.iter_mut().zip(acc) {
        for (dot, &lanes) in dots_row.iter_mut().zip(acc_row) {
            *dot = _mm512_reduce_add_ps(lanes);
        }
    }
}

/// The sums of the lanes of a 4 x 4 block's accumulators, all 16 in one
/// register: 128-bit lane `r` holds row `r`'s four sums, `acc[r][0..4]`.
///
/// A transposing tree: each level adds pairs of lanes for all 16 sums at
/// once (45 instructions, where 16 separate reductions take ~130, on the
/// ports the FMAs need). It pairs lanes as `_mm512_reduce_add_ps` does
/// (lane `l` with `l + 8`, then `l + 4`, then `l + 2`, then the neighbour),
/// so every sum has the same bits as the leftover outputs' `sum_each`.
#[target_feature(enable = "avx512f")]
fn sum_lanes(acc: &[[__m512; BLOCK]; BLOCK]) -> __m512 {
    // Column-major, so that the result's lanes come out row by row.
    let v: [__m512; 16] = std::array::from_fn(|x| acc[x % 4][x / 4]);
    // `(a, b)` -> `[a.0 + a.2, a.1 + a.3, b.0 + b.2, b.1 + b.3]` in 128-bit
    // lanes: lane `l` plus lane `l + 8` for both.
    let halves: [__m512; 8] = std::array::from_fn(|x| {
        let (a, b) = (v[2 * x], v[2 * x + 1]);
        _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x44>(a, b),
            _mm512_shuffle_f32x4::<0xEE>(a, b),
        )
    });
    // Lane `l` plus `l + 4`: one 128-bit lane per accumulator, four
    // accumulators per register (`v[4x..4x + 4]`).
    let quarters: [__m512; 4] = std::array::from_fn(|x| {
        let (a, b) = (halves[2 * x], halves[2 * x + 1]);
        _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x88>(a, b),
            _mm512_shuffle_f32x4::<0xDD>(a, b),
        )
    });
    // Within each 128-bit lane, element `e` plus `e + 2`.
    let pairs: [__m512; 2] = std::array::from_fn(|x| {
        let (a, b) = (quarters[2 * x], quarters[2 * x + 1]);
        _mm512_add_ps(
            _mm512_shuffle_ps::<0x44>(a, b),
            _mm512_shuffle_ps::<0xEE>(a, b),
        )
    });
    // Element 0 plus element 1: 128-bit lane `l`, element `x` is the sum of
    // `v[4x + l]`, which is `acc[l][x]`.
    _mm512_add_ps(
        _mm512_shuffle_ps::<0x88>(pairs[0], pairs[1]),
        _mm512_shuffle_ps::<0xDD>(pairs[0], pairs[1]),
    )
}

/// Writes a 4 x 4 block of sums (128-bit lane `r` = row `r`) to C from
/// `corner`, rows `row_stride` apart, with [`TileStore::apply`]'s operations
/// in its order, four outputs at a time; `first_col` is the block's first
/// column (for the bias).
///
/// # Safety
/// The CPU supports AVX-512F; the 4 x 4 outputs from `corner` are valid
/// to read and write, and no other thread uses them.
#[target_feature(enable = "avx512f")]
unsafe fn store_block(
    sums: __m512,
    corner: *mut f32,
    row_stride: usize,
    store: &TileStore,
    first_col: usize,
) {
    // SAFETY: row `r < 4` of the block, inside C by the caller's contract.
    let row = |r: usize| unsafe { corner.add(r * row_stride) };
    // SAFETY: the CPU has AVX-512F (the caller's contract).
    let value = unsafe {
        apply_to_vector(
            sums,
            store,
            // SAFETY: four valid floats at the start of each row (only read
            // when beta != 0, which allows reading C).
            || {
                let mut old = _mm512_castps128_ps512(_mm_loadu_ps(row(0)));
                old = _mm512_insertf32x4::<1>(old, _mm_loadu_ps(row(1)));
                old = _mm512_insertf32x4::<2>(old, _mm_loadu_ps(row(2)));
                _mm512_insertf32x4::<3>(old, _mm_loadu_ps(row(3)))
            },
            // The block's 4 columns' bias, the same for every row.
            // SAFETY: the slice taken holds 4 floats.
            |bias| _mm512_broadcast_f32x4(_mm_loadu_ps(bias[first_col..][..BLOCK].as_ptr())),
        )
    };
    // SAFETY: four writable floats at the start of each row, ours alone.
    unsafe {
        _mm_storeu_ps(row(0), _mm512_castps512_ps128(value));
        _mm_storeu_ps(row(1), _mm512_extractf32x4_ps::<1>(value));
        _mm_storeu_ps(row(2), _mm512_extractf32x4_ps::<2>(value));
        _mm_storeu_ps(row(3), _mm512_extractf32x4_ps::<3>(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::problem::OutputMatrix;
    use crate::gemm::Operand;
    use crate::MatrixRef;

    /// Whether an `m x k x n` product, zeros, would take this path.
    fn takes_dots(m: usize, k: usize, n: usize, b_transposed: bool) -> bool {
        let (a, b, mut c) = (vec![0.0; m * k], vec![0.0; k * n], vec![0.0; m * n]);
        let stored_b = if b_transposed { (n, k) } else { (k, n) };
        let problem = Problem {
            a: Operand::plain(MatrixRef::new(m, k, &a).unwrap()),
            b: Operand {
                matrix: MatrixRef::new(stored_b.0, stored_b.1, &b).unwrap(),
                transposed: b_transposed,
            },
            c: OutputMatrix {
                ptr: c.as_mut_ptr(),
                rows: m,
                cols: n,
            },
            alpha: 1.0,
            beta: 0.0,
            bias: None,
            relu: false,
            kernel: Kernel::Avx512,
        };
        fits(&problem)
    }

    #[test]
    fn narrow_deep_products_take_this_path_and_the_rest_stay_packed() {
        // A transposed B: deep enough, or narrower than a tile.
        assert!(takes_dots(100, 784, 100, true));
        assert!(takes_dots(32, 10, 25, true));
        // 0.8 and 1.6 MB of B: for a tall A, beyond L2 only where the core
        // has one FMA pipe (Zen 5's 1 MiB L2 holds the first; a 512 KiB one
        // neither); for one of TALL_A - 1 rows, up to 2 MiB on every core.
        for n in [256, 512] {
            let within_l2 = 784 * n * 4 <= crate::cpu::cache_sizes().l2;
            let allowed = !crate::cpu::two_avx512_fma_pipes() || within_l2;
            assert_eq!(takes_dots(128, 784, n, true), allowed, "n = {n}");
            assert!(takes_dots(TALL_A - 1, 784, n, true), "n = {n}");
        }
        // Beyond 2 MiB (3.2 and 12.8 MB) only for an A shorter than SHORT_A.
        assert!(takes_dots(2, 784, 1024, true));
        assert!(takes_dots(SHORT_A - 1, 784, 4096, true));
        assert!(!takes_dots(SHORT_A, 784, 1024, true));
        assert!(!takes_dots(128, 128, 128, true));
        assert!(!takes_dots(128, 1024, 256, true));
        // A plain B: narrower than 128 columns and deep enough (the
        // shallow 32 x 10 x 25 of a tutorial preset's dX stays packed).
        assert!(takes_dots(100, 784, 100, false));
        assert!(takes_dots(512, 784, 127, false));
        assert!(!takes_dots(100, 784, 128, false));
        assert!(!takes_dots(32, 10, 25, false));
        assert!(!takes_dots(100, 1024, 100, false));
    }

    /// The tree gives every sum the bits `_mm512_reduce_add_ps` gives it:
    /// values of mixed signs and magnitudes, where any other pairing of
    /// the lanes would almost surely round differently somewhere.
    #[test]
    fn block_sums_match_one_reduction_per_accumulator_bit_for_bit() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let unit = (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            unit * 10f32.powi((seed % 9) as i32 - 4)
        };
        for _ in 0..200 {
            let values: Vec<f32> = (0..256).map(|_| next()).collect();
            // SAFETY: AVX-512F was detected above; each load reads 16 of
            // the 256 values.
            let (tree, separate) = unsafe { reduce_both(&values) };
            assert_eq!(tree.map(f32::to_bits), separate.map(f32::to_bits));
        }
    }

    /// (the tree's 16 sums in row order, 16 separate reductions).
    #[target_feature(enable = "avx512f")]
    fn reduce_both(values: &[f32]) -> ([f32; 16], [f32; 16]) {
        let acc: [[__m512; BLOCK]; BLOCK] = std::array::from_fn(|r| {
            std::array::from_fn(|s| {
                // SAFETY: 16 values from `16 (4 r + s)`, inside the 256.
                unsafe { _mm512_loadu_ps(values[16 * (4 * r + s)..].as_ptr()) }
            })
        });
        let mut tree = [0.0f32; 16];
        // SAFETY: 16 writable floats.
        unsafe { _mm512_storeu_ps(tree.as_mut_ptr(), sum_lanes(&acc)) };
        let separate = std::array::from_fn(|x| _mm512_reduce_add_ps(acc[x / 4][x % 4]));
        (tree, separate)
    }
}
