//! Microkernels: one `MR x NR` tile of C from one packed strip of A
//! (`kc x MR`, column after column) and one packed strip of B (`kc x NR`,
//! row after row), as `kc` rank-1 updates held in registers, then written to C
//! with alpha, beta and the fused epilogue.
//!
//! All kernels share the tile shape, so the packing format is the same. The
//! AVX-512 and AVX2 kernels do the same operations in the same order (one
//! FMA per step, then the same store), so they give the same bits; the
//! portable kernel (products rounded before they are added) is a drop-in
//! second path for tests and other CPUs.

/// Runs a SIMD kernel's `rank1!(p)` (one rank-1 update, `p` steps ahead
/// of the pointers) for steps `0..kc`: four per iteration, so loads and
/// pointer updates are amortised, then one at a time. `a` moves by MR
/// values per step and `b` by NR, with `wrapping_add`: after the last step
/// they may point past the strips, where `add` would be undefined; only
/// `rank1!` dereferences them, for steps `< kc`.
#[cfg(target_arch = "x86_64")]
macro_rules! for_each_step {
    ($kc:expr, $a:ident, $b:ident, $rank1:ident) => {{
        let mut remaining = $kc;
        while remaining >= 4 {
            $rank1!(0);
            $rank1!(1);
            $rank1!(2);
            $rank1!(3);
            $a = $a.wrapping_add(4 * MR);
            $b = $b.wrapping_add(4 * NR);
            remaining -= 4;
        }
        while remaining > 0 {
            $rank1!(0);
            $a = $a.wrapping_add(MR);
            $b = $b.wrapping_add(NR);
            remaining -= 1;
        }
    }};
}

/// `act(alpha * products + beta * old + bias)` on one vector, with the
/// operations of [`TileStore::apply`] in its order: `$old` (C's values) is
/// evaluated only when beta != 0, since C may hold NaN otherwise, and
/// `$bias` turns the store's bias slice into this vector's bias. The vector
/// operations are the caller's (`_mm256_*` or `_mm512_*`), so the kernels'
/// store and the dot-product path's share this one piece of code.
#[cfg(target_arch = "x86_64")]
macro_rules! apply_to_vector {
    ($products:expr, $store:expr, old = $old:expr, bias = |$bias:ident| $bias_vector:expr,
     $set1:ident, $zero:ident, $mul:ident, $fmadd:ident, $add:ident, $max:ident) => {{
        let store: &TileStore = $store;
        let mut value = $mul($set1(store.alpha), $products);
        if store.beta != 0.0 {
            value = $fmadd($set1(store.beta), $old, value);
        }
        if let Some($bias) = store.bias {
            value = $add(value, $bias_vector);
        }
        if store.relu {
            // `v > 0 ? v : 0`, as `apply`: max returns its second operand
            // for NaN, and +0.0 for -0.0 vs +0.0.
            value = $max(value, $zero());
        }
        value
    }};
}
#[cfg(target_arch = "x86_64")]
pub(crate) use apply_to_vector;

/// Writes a SIMD kernel's accumulators, `acc[i][v]` = row `i`, columns
/// `LANES v .. LANES (v + 1)` of the tile, to `out`, with the operations of
/// [`TileStore::apply`] in its order. A whole tile of `full_cols` columns is
/// stored a vector at a time (a tile of as many rows as there are
/// accumulator rows); any other goes through `store_tile_scalar`.
/// The vector operations are the kernel's own (`_mm256_*` or `_mm512_*`),
/// passed in, so both kernels store with this one piece of code.
#[cfg(target_arch = "x86_64")]
macro_rules! store_accumulators {
    ($acc:expr, $out:expr, $store:expr, full_cols = $full_cols:expr, lanes = $lanes:expr,
     $set1:ident, $zero:ident, $mul:ident, $fmadd:ident, $add:ident, $max:ident,
     $load:ident, $store_vector:ident) => {{
        let (acc, out, store): (_, TileOut, &TileStore) = ($acc, $out, $store);
        const LANES: usize = $lanes;
        if out.rows == acc.len() && out.cols == $full_cols {
            // A whole tile in straight-line code for its store's options
            // (`beta`, bias, ReLU: eight copies). Decided per vector, their
            // branches kept the accumulators from staying in registers and
            // were most of a call's fixed cost (figures in BENCHMARKS.md,
            // "Measurements behind the code").
            macro_rules! store_whole_tile {
                ($beta:expr, $bias:expr, $relu:expr) => {{
                    let store = &TileStore {
                        alpha: store.alpha,
                        beta: $beta,
                        bias: $bias,
                        relu: $relu,
                    };
                    for (i, row_acc) in acc.iter().enumerate() {
                        // SAFETY: a whole tile: row `i < out.rows` and its
                        // `full_cols` columns are inside C (the caller's
                        // contract on `out`).
                        let row = unsafe { out.ptr.add(i * out.row_stride) };
                        for (v, &products) in row_acc.iter().enumerate() {
                            // SAFETY: `row + LANES v .. + LANES` is inside this tile row.
                            let slot = unsafe { row.add(LANES * v) };
                            let value = apply_to_vector!(
                                products,
                                store,
                                // SAFETY: `slot` is valid to read (only read
                                // when beta != 0, which allows it).
                                old = unsafe { $load(slot) },
                                // `bias` has one entry per column of the
                                // tile; the slice taken holds LANES values.
                                // SAFETY: reading those LANES values.
                                bias = |bias| unsafe {
                                    $load(bias[LANES * v..LANES * (v + 1)].as_ptr())
                                },
                                $set1,
                                $zero,
                                $mul,
                                $fmadd,
                                $add,
                                $max
                            );
                            // SAFETY: `slot .. + LANES` is inside C and exclusively ours.
                            unsafe { $store_vector(slot, value) };
                        }
                    }
                }};
            }
            macro_rules! with_relu {
                ($beta:expr, $bias:expr) => {
                    if store.relu {
                        store_whole_tile!($beta, $bias, true)
                    } else {
                        store_whole_tile!($beta, $bias, false)
                    }
                };
            }
            macro_rules! with_bias {
                ($beta:expr) => {
                    match store.bias {
                        Some(bias) => with_relu!($beta, Some(&bias[..$full_cols])),
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
                    let lanes = &mut ab[i * NR + LANES * v..i * NR + LANES * (v + 1)];
                    // SAFETY: `lanes` is LANES writable floats.
                    unsafe { $store_vector(lanes.as_mut_ptr(), products) };
                }
            }
            // SAFETY: the caller's contract on `out`.
            unsafe { store_tile_scalar(&ab, out, store) };
        }
    }};
}

mod portable;
#[cfg(target_arch = "x86_64")]
mod x86_avx2;
#[cfg(target_arch = "x86_64")]
mod x86_avx512;

use super::KernelChoice;

/// Rows of C one microkernel call produces (the `ir` loop steps by this).
///
/// 6 x 32 is 6 rows x 2 zmm registers = 12 accumulators for AVX-512, plus 2
/// registers for a row of B and 1 for a broadcast element of A: 12 FMAs per
/// step, enough independent work to keep the FMA units busy through their
/// latency. AVX2 has half the register width and file, so its kernel runs
/// the tile as two 6 x 16 halves of the same shape (the classic AVX2 tile).
pub(crate) const MR: usize = 6;
/// Columns of C one microkernel call produces (the `jr` loop steps by this):
/// two zmm registers of 16 `f32`, or two halves of two ymm registers.
pub(crate) const NR: usize = 32;

/// How a finished tile of products `AB` is written into C:
/// `C = act(alpha * AB + beta * C + bias)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TileStore<'a> {
    pub alpha: f32,
    /// When 0, C is not read (it may hold NaN).
    pub beta: f32,
    /// The bias entries of this tile's columns (length = the tile's columns).
    pub bias: Option<&'a [f32]>,
    pub relu: bool,
}

impl TileStore<'_> {
    /// One element, in the same operation order as the SIMD store, so full
    /// and partial tiles agree bit for bit.
    #[inline(always)]
    pub(crate) fn apply(&self, product: f32, old: Option<f32>, column: usize) -> f32 {
        let mut value = self.alpha * product;
        if let Some(old) = old {
            value = self.beta.mul_add(old, value);
        }
        if let Some(bias) = self.bias {
            value += bias[column];
        }
        if self.relu {
            // `v > 0 ? v : 0`, exactly what `_mm256_max_ps(v, 0)` computes
            // (NaN and -0.0 become +0.0).
            value = if value > 0.0 { value } else { 0.0 };
        }
        value
    }
}

/// Where a tile of C lives: `rows x cols` (each at most `MR x NR`) starting
/// at `ptr`, rows `row_stride` elements apart.
///
/// A raw pointer because threads write disjoint column or row ranges of one
/// C, which `&mut` slices of a row-major matrix cannot express for columns.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TileOut {
    pub ptr: *mut f32,
    pub row_stride: usize,
    pub rows: usize,
    pub cols: usize,
}

/// The microkernel chosen for one GEMM call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Microkernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    /// AVX-512F, on a CPU that also has AVX2 and FMA (edge strips of at most
    /// 8 columns use the AVX2 kernel's narrow variant).
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Microkernel {
    /// The kernel for `choice` on this CPU (features detected at run time).
    pub(crate) fn select(choice: KernelChoice) -> Microkernel {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
            match choice {
                KernelChoice::Auto if avx2 && is_x86_feature_detected!("avx512f") => {
                    return Microkernel::Avx512
                }
                KernelChoice::Auto | KernelChoice::Avx2 if avx2 => return Microkernel::Avx2Fma,
                _ => {}
            }
        }
        let _ = choice;
        Microkernel::Portable
    }

    /// Whether this kernel's CPU has AVX2 and FMA (for the code that picks
    /// its own AVX2 path along with the kernel, like gemv and packing).
    pub(crate) fn has_avx2(self) -> bool {
        match self {
            Microkernel::Portable => false,
            #[cfg(target_arch = "x86_64")]
            Microkernel::Avx2Fma | Microkernel::Avx512 => true,
        }
    }

    /// The columns this kernel computes for a tile of `cols` (at most NR):
    /// a narrower variant runs a tile of few columns (see [`Self::run`]).
    pub(crate) fn computed_columns(self, cols: usize) -> usize {
        match self {
            Microkernel::Portable => NR,
            // Halves of 16, the second (or only) one 8 wide if it can be.
            #[cfg(target_arch = "x86_64")]
            Microkernel::Avx2Fma => cols.div_ceil(8) * 8,
            // The AVX2 kernel's 6 x 8 variant, one zmm per row, or two.
            #[cfg(target_arch = "x86_64")]
            Microkernel::Avx512 => match cols {
                0..=8 => 8,
                9..=16 => 16,
                _ => NR,
            },
        }
    }

    /// `tile = act(alpha * A_strip * B_strip + beta * tile + bias)`.
    ///
    /// # Safety
    /// `out` must describe `out.rows x out.cols` elements that are valid to
    /// read and write and that no other thread touches during the call.
    /// (Checked: the tile is at most `MR x NR`, `a_strip` holds at least
    /// `kc * MR` values and `b_strip` at least `kc * NR`.)
    #[inline]
    pub(crate) unsafe fn run(
        self,
        kc: usize,
        a_strip: &[f32],
        b_strip: &[f32],
        out: TileOut,
        store: &TileStore,
    ) {
        assert!(a_strip.len() >= kc * MR && b_strip.len() >= kc * NR);
        assert!(out.rows <= MR && out.cols <= NR);
        match self {
            // SAFETY: the caller's contract on `out` is passed on unchanged.
            Microkernel::Portable => unsafe { portable::kernel(kc, a_strip, b_strip, out, store) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Avx2Fma` is only selected after detecting AVX2 and FMA,
            // and `Avx512` after detecting those and AVX-512F; the strips'
            // lengths were checked above; `out` as the caller promised.
            Microkernel::Avx2Fma => unsafe { x86_avx2::kernel(kc, a_strip, b_strip, out, store) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above; each variant gets a tile of at most its rows and
            // columns (`by_rows!` and `computed_columns`).
            Microkernel::Avx512 => unsafe {
                // The variant with exactly the tile's rows.
                macro_rules! by_rows {
                    ($vectors:literal) => {
                        match out.rows {
                            1 => {
                                x86_avx512::kernel::<1, $vectors>(kc, a_strip, b_strip, out, store)
                            }
                            2 => {
                                x86_avx512::kernel::<2, $vectors>(kc, a_strip, b_strip, out, store)
                            }
                            3 => {
                                x86_avx512::kernel::<3, $vectors>(kc, a_strip, b_strip, out, store)
                            }
                            4 => {
                                x86_avx512::kernel::<4, $vectors>(kc, a_strip, b_strip, out, store)
                            }
                            5 => {
                                x86_avx512::kernel::<5, $vectors>(kc, a_strip, b_strip, out, store)
                            }
                            _ => {
                                x86_avx512::kernel::<MR, $vectors>(kc, a_strip, b_strip, out, store)
                            }
                        }
                    };
                }
                match self.computed_columns(out.cols) {
                    8 => x86_avx2::kernel(kc, a_strip, b_strip, out, store),
                    16 => by_rows!(1),
                    _ => by_rows!(2),
                }
            },
        }
    }
}

/// Starts fetching the tile of C that `out` describes, so its lines arrive
/// during a SIMD kernel's FMA loop rather than stalling the stores at the
/// end. Also when beta = 0 and nothing of C is read: a store to a line not
/// in cache must fetch the line first all the same. In a training step C is
/// rarely in cache (a weight gradient was last touched by the previous
/// step's optimizer), which is where this pays (figures in BENCHMARKS.md,
/// "Measurements behind the code").
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_tile(out: TileOut) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    for i in 0..out.rows {
        // The addresses are inside C (row `i < out.rows`); `wrapping_add`
        // since a prefetch needs no valid pointer.
        let row = out.ptr.wrapping_add(i * out.row_stride);
        let last = row.wrapping_add(out.cols.saturating_sub(1));
        // SAFETY: SSE is part of x86-64's baseline, and a prefetch is
        // only a hint: it never faults and reads into nothing.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(row as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(last as *const i8);
        }
    }
}

/// Writes a tile of products `ab` (row-major `MR x NR`) to `out` element by
/// element; the store path of every partial tile and of the portable kernel.
///
/// # Safety
/// As for [`Microkernel::run`]: `out` is valid and exclusively ours.
#[inline(always)]
pub(crate) unsafe fn store_tile_scalar(ab: &[f32; MR * NR], out: TileOut, store: &TileStore) {
    for i in 0..out.rows {
        // SAFETY: row `i < out.rows` of the tile lies inside C (caller's contract).
        let row = unsafe { out.ptr.add(i * out.row_stride) };
        for j in 0..out.cols {
            // SAFETY: column `j < out.cols` of that row, likewise.
            let slot = unsafe { row.add(j) };
            // SAFETY: `slot` is valid to read; only read when beta != 0.
            let old = (store.beta != 0.0).then(|| unsafe { *slot });
            let value = store.apply(ab[i * NR + j], old, j);
            // SAFETY: `slot` is valid to write and no other thread uses it.
            unsafe { *slot = value };
        }
    }
}

/// Every kernel this CPU can run, the portable one first (for tests).
#[cfg(test)]
pub(crate) fn available_kernels() -> Vec<Microkernel> {
    let mut kernels = vec![Microkernel::Portable];
    for choice in [KernelChoice::Avx2, KernelChoice::Auto] {
        let kernel = Microkernel::select(choice);
        if !kernels.contains(&kernel) {
            kernels.push(kernel);
        }
    }
    kernels
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packs a row-major `m x k` A and `k x n` B into single strips and runs
    /// `kernel` on a tile of `rows x cols`, checking it against the sums.
    fn run_tile(
        kernel: Microkernel,
        kc: usize,
        (rows, cols): (usize, usize),
        beta: f32,
        with_bias: bool,
        relu: bool,
    ) {
        let a = |i: usize, p: usize| ((i * 7 + p * 3) % 11) as f32 - 5.0;
        let b = |p: usize, j: usize| ((p * 5 + j * 2) % 13) as f32 - 6.0;
        // Exactly the strips' lengths, so a read past them is caught.
        let mut a_strip = vec![0.0; kc * MR];
        let mut b_strip = vec![0.0; kc * NR];
        for p in 0..kc {
            for i in 0..rows {
                a_strip[p * MR + i] = a(i, p);
            }
            for j in 0..cols {
                b_strip[p * NR + j] = b(p, j);
            }
        }
        // C has one more column and one more row than the tile, holding
        // sentinels that must survive. The tile holds -1, or NaN when beta
        // = 0, which must then not be read.
        let stride = cols + 1;
        let old = if beta == 0.0 { f32::NAN } else { -1.0 };
        let mut c = vec![-1.0f32; (rows + 1) * stride];
        for i in 0..rows {
            c[i * stride..i * stride + cols].fill(old);
        }
        let bias: Vec<f32> = (0..cols)
            .map(|j| if with_bias { j as f32 * 0.5 } else { 0.0 })
            .collect();
        let store = TileStore {
            alpha: 2.0,
            beta,
            bias: with_bias.then_some(&bias[..]),
            relu,
        };
        let out = TileOut {
            ptr: c.as_mut_ptr(),
            row_stride: stride,
            rows,
            cols,
        };
        // SAFETY: `out` covers `rows x cols` of `c`, which we own exclusively.
        unsafe { kernel.run(kc, &a_strip, &b_strip, out, &store) };
        for i in 0..rows {
            assert_eq!(c[i * stride + cols], -1.0, "kernel wrote past the tile");
            for j in 0..cols {
                let dot: f32 = (0..kc).map(|p| a(i, p) * b(p, j)).sum();
                let sum = 2.0 * dot - beta + bias[j]; // C was -1 unless beta = 0
                let want = if relu { sum.max(0.0) } else { sum };
                assert_eq!(c[i * stride + j], want, "kernel {kernel:?} at ({i}, {j})");
            }
        }
        assert!(
            c[rows * stride..].iter().all(|&x| x == -1.0),
            "kernel wrote below the tile"
        );
    }

    #[test]
    fn kernels_match_hand_computed_tiles_including_partial_ones() {
        // Small integers: every product and sum is exact in f32, so any
        // summation order gives the same answer and equality is the test.
        for kernel in available_kernels() {
            // Every row count (the AVX-512 kernel has a variant for each)
            // with the column counts around each variant's width.
            let tiles = (1..=MR)
                .flat_map(|rows| [1, 7, 8, 9, 15, 16, 17, 24, NR - 1, NR].map(|cols| (rows, cols)));
            for (rows, cols) in tiles {
                for kc in [0, 1, 5, 17] {
                    for beta in [0.0, 1.5] {
                        for relu in [true, false] {
                            for with_bias in [true, false] {
                                run_tile(kernel, kc, (rows, cols), beta, with_bias, relu);
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn relu_turns_nan_and_negative_zero_into_positive_zero() {
        // No steps, so the products are 0 and alpha = -1 makes them -0.0;
        // C adds itself (beta = 1): -0.0 + -0.0 stays -0.0, NaN stays NaN.
        for kernel in available_kernels() {
            for old in [-0.0f32, f32::NAN] {
                for (rows, cols) in [(MR, NR), (MR, 16), (MR, 8), (2, 5)] {
                    let mut c = vec![old; rows * cols];
                    let store = TileStore {
                        alpha: -1.0,
                        beta: 1.0,
                        bias: None,
                        relu: true,
                    };
                    let out = TileOut {
                        ptr: c.as_mut_ptr(),
                        row_stride: cols,
                        rows,
                        cols,
                    };
                    // SAFETY: `out` is all of `c`, which we own exclusively.
                    unsafe { kernel.run(0, &[], &[], out, &store) };
                    assert!(
                        c.iter().all(|x| x.to_bits() == 0),
                        "{kernel:?}, {rows} x {cols} tile of {old}: {c:?}"
                    );
                }
            }
        }
    }
}
