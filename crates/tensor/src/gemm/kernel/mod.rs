//! Microkernels: one `MR x NR` tile of C from one packed strip of A
//! (`kc x MR`, column after column) and one packed strip of B (`kc x NR`,
//! row after row), as `kc` rank-1 updates held in registers, then written to C
//! with alpha, beta and the fused epilogue.
//!
//! - [`Microkernel`]: what the loop nest needs of a kernel (its tile, the
//!   columns it computes, the call itself); [`Avx512`], [`Avx2Fma`] and
//!   [`Portable`] implement it. [`Kernel::select`] picks one for the CPU
//!   once per GEMM call, and [`Kernel::dispatch`] runs a loop nest compiled
//!   for that kernel, which then calls it directly, tile after tile.
//! - `simd.rs`: [`SimdVector`](simd::SimdVector), the register operations of
//!   the SIMD kernels for 256- and 512-bit registers; `simd_tile.rs`: the
//!   SIMD kernel and its store written once over them; `x86_avx512.rs`,
//!   `x86_avx2.rs`: that kernel compiled for each register, inside its
//!   `#[target_feature]` entry point; `portable.rs`: plain Rust.
//!
//! All kernels share the tile shape, so the packing format is the same. The
//! AVX-512 and AVX2 kernels do the same operations in the same order (one
//! FMA per step, then the same store), so they give the same bits; the
//! portable kernel (products rounded before they are added) is a drop-in
//! second path for tests and other CPUs.

mod portable;
#[cfg(target_arch = "x86_64")]
pub(crate) mod simd;
#[cfg(target_arch = "x86_64")]
pub(crate) mod simd_tile;
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

/// What the loop nest needs of a microkernel. The nest is generic over it
/// (see [`Kernel::dispatch`]), so each kernel gets its own copy of the
/// loops, calling [`Microkernel::tile`] directly.
///
/// Every kernel computes `MR x NR` tiles from the strips `pack.rs` lays out
/// for `MR` and `NR`: a kernel with another tile would also need packing
/// generic over it (const generic expressions), hence the assertion below.
pub(crate) trait Microkernel {
    /// Rows of C one call produces (the `ir` loop steps by this).
    const MR: usize;
    /// Columns of C one call produces (the `jr` loop steps by this).
    const NR: usize;

    /// The columns this kernel computes for a tile of `cols` (at most
    /// `NR`): a narrower variant runs a tile of few columns.
    fn computed_columns(cols: usize) -> usize;

    /// The kernel proper; callers use [`Microkernel::tile`].
    ///
    /// # Safety
    /// As for [`Microkernel::tile`], with the strips' lengths and the tile's
    /// size checked.
    unsafe fn compute_tile(
        kc: usize,
        a_strip: &[f32],
        b_strip: &[f32],
        out: TileOut,
        store: &TileStore,
    );

    /// `tile = act(alpha * A_strip * B_strip + beta * tile + bias)`.
    ///
    /// # Safety
    /// The CPU has this kernel's features (a [`Kernel`] of it was selected
    /// on this CPU); `out` must describe `out.rows x out.cols` elements that
    /// are valid to read and write and that no other thread touches during
    /// the call. (Checked: the tile is at most `MR x NR`, `a_strip` holds at
    /// least `kc * MR` values and `b_strip` at least `kc * NR`.)
    #[inline(always)]
    unsafe fn tile(kc: usize, a_strip: &[f32], b_strip: &[f32], out: TileOut, store: &TileStore) {
        const { assert!(Self::MR == MR && Self::NR == NR) };
        assert!(a_strip.len() >= kc * MR && b_strip.len() >= kc * NR);
        assert!(out.rows <= MR && out.cols <= NR);
        // SAFETY: checked above; the rest is the caller's contract.
        unsafe { Self::compute_tile(kc, a_strip, b_strip, out, store) }
    }
}

/// Plain Rust the compiler vectorises for the target's baseline.
pub(crate) struct Portable;

impl Microkernel for Portable {
    const MR: usize = MR;
    const NR: usize = NR;
    fn computed_columns(_cols: usize) -> usize {
        NR
    }
    unsafe fn compute_tile(
        kc: usize,
        a_strip: &[f32],
        b_strip: &[f32],
        out: TileOut,
        store: &TileStore,
    ) {
        // SAFETY: the caller's contract on `out` is passed on unchanged.
        unsafe { portable::kernel(kc, a_strip, b_strip, out, store) }
    }
}

/// AVX2+FMA: the tile as two 6 x 16 halves of 12 ymm accumulators.
#[cfg(target_arch = "x86_64")]
pub(crate) struct Avx2Fma;

#[cfg(target_arch = "x86_64")]
impl Microkernel for Avx2Fma {
    const MR: usize = MR;
    const NR: usize = NR;
    fn computed_columns(cols: usize) -> usize {
        // Halves of 16, the second (or only) one 8 wide if it can be.
        cols.div_ceil(8) * 8
    }
    unsafe fn compute_tile(
        kc: usize,
        a_strip: &[f32],
        b_strip: &[f32],
        out: TileOut,
        store: &TileStore,
    ) {
        // SAFETY: the caller's contract (AVX2 and FMA, strips, `out`).
        unsafe { x86_avx2::kernel(kc, a_strip, b_strip, out, store) }
    }
}

/// AVX-512F, on a CPU that also has AVX2 and FMA: 12 zmm accumulators, with
/// variants for a tile's exact rows and for edge strips of at most 16
/// columns (at most 8 use the AVX2 kernel's narrow variant).
#[cfg(target_arch = "x86_64")]
pub(crate) struct Avx512;

#[cfg(target_arch = "x86_64")]
impl Microkernel for Avx512 {
    const MR: usize = MR;
    const NR: usize = NR;
    fn computed_columns(cols: usize) -> usize {
        // The AVX2 kernel's 6 x 8 variant, one zmm per row, or two.
        match cols {
            0..=8 => 8,
            9..=16 => 16,
            _ => NR,
        }
    }
    unsafe fn compute_tile(
        kc: usize,
        a_strip: &[f32],
        b_strip: &[f32],
        out: TileOut,
        store: &TileStore,
    ) {
        // The variant with exactly the tile's rows.
        macro_rules! by_rows {
            ($vectors:literal) => {
                match out.rows {
                    1 => x86_avx512::kernel::<1, $vectors>(kc, a_strip, b_strip, out, store),
                    2 => x86_avx512::kernel::<2, $vectors>(kc, a_strip, b_strip, out, store),
                    3 => x86_avx512::kernel::<3, $vectors>(kc, a_strip, b_strip, out, store),
                    4 => x86_avx512::kernel::<4, $vectors>(kc, a_strip, b_strip, out, store),
                    5 => x86_avx512::kernel::<5, $vectors>(kc, a_strip, b_strip, out, store),
                    _ => x86_avx512::kernel::<MR, $vectors>(kc, a_strip, b_strip, out, store),
                }
            };
        }
        // SAFETY: the caller's contract (AVX-512F, AVX2 and FMA, strips,
        // `out`); each variant gets a tile of at most its rows and columns
        // (`by_rows!` and `computed_columns`).
        unsafe {
            match Self::computed_columns(out.cols) {
                8 => x86_avx2::kernel(kc, a_strip, b_strip, out, store),
                16 => by_rows!(1),
                _ => by_rows!(2),
            }
        }
    }
}

/// The microkernel chosen for one GEMM call: which implementation of
/// [`Microkernel`] its loops are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    /// AVX-512F, on a CPU that also has AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

/// Work compiled for one [`Microkernel`], run by [`Kernel::dispatch`]: the
/// generic method is what a closure cannot be.
pub(crate) trait WithMicrokernel {
    type Output;
    fn run<K: Microkernel>(self) -> Self::Output;
}

impl Kernel {
    /// The kernel for `choice` on this CPU (features detected at run time).
    pub(crate) fn select(choice: KernelChoice) -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
            match choice {
                KernelChoice::Auto if avx2 && is_x86_feature_detected!("avx512f") => {
                    return Kernel::Avx512
                }
                KernelChoice::Auto | KernelChoice::Avx2 if avx2 => return Kernel::Avx2Fma,
                _ => {}
            }
        }
        let _ = choice;
        Kernel::Portable
    }

    /// Runs `work` compiled for this kernel: the one match on the kernel in
    /// a GEMM call.
    #[inline]
    pub(crate) fn dispatch<W: WithMicrokernel>(self, work: W) -> W::Output {
        match self {
            Kernel::Portable => work.run::<Portable>(),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => work.run::<Avx2Fma>(),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => work.run::<Avx512>(),
        }
    }

    /// A short name and the tile, for reports: "avx512 6x32".
    pub(crate) fn describe(self) -> String {
        let name = match self {
            Kernel::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => "avx2+fma",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => "avx512",
        };
        format!("{name} {MR}x{NR}")
    }

    /// Whether this kernel's CPU has AVX2 and FMA (for the code that picks
    /// its own AVX2 path along with the kernel, like gemv and packing).
    pub(crate) fn has_avx2(self) -> bool {
        match self {
            Kernel::Portable => false,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma | Kernel::Avx512 => true,
        }
    }

    /// [`Microkernel::computed_columns`] of this kernel.
    pub(crate) fn computed_columns(self, cols: usize) -> usize {
        struct ComputedColumns(usize);
        impl WithMicrokernel for ComputedColumns {
            type Output = usize;
            fn run<K: Microkernel>(self) -> usize {
                K::computed_columns(self.0)
            }
        }
        self.dispatch(ComputedColumns(cols))
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
/// As for [`Microkernel::tile`]: `out` is valid and exclusively ours.
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
pub(crate) fn available_kernels() -> Vec<Kernel> {
    let mut kernels = vec![Kernel::Portable];
    for choice in [KernelChoice::Avx2, KernelChoice::Auto] {
        let kernel = Kernel::select(choice);
        if !kernels.contains(&kernel) {
            kernels.push(kernel);
        }
    }
    kernels
}

/// [`Microkernel::tile`] of `kernel`, for tests of single tiles.
///
/// # Safety
/// As for [`Microkernel::tile`], `kernel` having been selected on this CPU.
#[cfg(test)]
pub(crate) unsafe fn run_kernel_tile(
    kernel: Kernel,
    kc: usize,
    a_strip: &[f32],
    b_strip: &[f32],
    out: TileOut,
    store: &TileStore,
) {
    struct Tile<'a>(usize, &'a [f32], &'a [f32], TileOut, &'a TileStore<'a>);
    impl WithMicrokernel for Tile<'_> {
        type Output = ();
        fn run<K: Microkernel>(self) {
            let Tile(kc, a_strip, b_strip, out, store) = self;
            // SAFETY: the contract of `run_kernel_tile`, passed on.
            unsafe { K::tile(kc, a_strip, b_strip, out, store) }
        }
    }
    kernel.dispatch(Tile(kc, a_strip, b_strip, out, store))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packs a row-major `m x k` A and `k x n` B into single strips and runs
    /// `kernel` on a tile of `rows x cols`, checking it against the sums.
    fn run_tile(
        kernel: Kernel,
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
        unsafe { run_kernel_tile(kernel, kc, &a_strip, &b_strip, out, &store) };
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

    /// The SIMD kernels give, bit for bit, one fused multiply-add per step
    /// in step order, then the store's operations: a scalar loop of
    /// `mul_add` is their reference, on values whose sums round (so another
    /// order or an unfused product would show). Every tile shape, depths
    /// around the unrolling by 4 and the balanced blocks of k = 784.
    #[test]
    fn simd_kernels_are_one_fma_per_step_in_step_order_bit_for_bit() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        };
        let simd_kernels: Vec<Kernel> = available_kernels()
            .into_iter()
            .filter(|&kernel| kernel != Kernel::Portable)
            .collect();
        for kc in [0, 1, 3, 4, 5, 17, 262] {
            let a_strip: Vec<f32> = (0..kc * MR).map(|_| next()).collect();
            let b_strip: Vec<f32> = (0..kc * NR).map(|_| next()).collect();
            let bias: Vec<f32> = (0..NR).map(|_| next()).collect();
            let old: Vec<f32> = (0..MR * NR).map(|_| next()).collect();
            for rows in 1..=MR {
                for cols in [1, 4, 8, 9, 13, 16, 17, 24, 31, NR] {
                    for (beta, with_bias, relu) in [(0.0, false, false), (0.5, true, true)] {
                        let store = TileStore {
                            alpha: 1.25,
                            beta,
                            bias: with_bias.then_some(&bias[..cols]),
                            relu,
                        };
                        let want: Vec<u32> = (0..rows * cols)
                            .map(|x| {
                                let (i, j) = (x / cols, x % cols);
                                let product = (0..kc).fold(0.0f32, |sum, p| {
                                    a_strip[p * MR + i].mul_add(b_strip[p * NR + j], sum)
                                });
                                let old = (beta != 0.0).then_some(old[i * NR + j]);
                                store.apply(product, old, j).to_bits()
                            })
                            .collect();
                        for &kernel in &simd_kernels {
                            let mut c = old.clone();
                            let out = TileOut {
                                ptr: c.as_mut_ptr(),
                                row_stride: NR,
                                rows,
                                cols,
                            };
                            // SAFETY: `out` is inside `c`, which we own
                            // exclusively; the strips have their lengths.
                            unsafe { run_kernel_tile(kernel, kc, &a_strip, &b_strip, out, &store) };
                            let got: Vec<u32> = (0..rows * cols)
                                .map(|x| c[x / cols * NR + x % cols].to_bits())
                                .collect();
                            assert_eq!(got, want, "{kernel:?}, kc {kc}, {rows} x {cols}");
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
                    unsafe { run_kernel_tile(kernel, 0, &[], &[], out, &store) };
                    assert!(
                        c.iter().all(|x| x.to_bits() == 0),
                        "{kernel:?}, {rows} x {cols} tile of {old}: {c:?}"
                    );
                }
            }
        }
    }
}
