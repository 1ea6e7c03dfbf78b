//! The packed, cache-blocked GEMM: the five loops of BLIS/GotoBLAS.
//!
//! ```text
//! for jc in cols step nc            B block (kc x nc) lives in L3
//!   for pc in 0..k step kc          pack op(B)[pc.., jc..] into NR-column strips
//!     for ic in rows step mc        pack op(A)[ic.., pc..] into MR-row strips (L2)
//!       for jr in nc step NR        one B strip (kc x NR), L1 and L2
//!         for ir in mc step MR      microkernel: MR x NR tile of C in registers
//! ```
//!
//! With several threads, C is cut into one part per thread, a disjoint range
//! of its columns or rows (see `split_by_columns`). The thread that claims a
//! part (see `thread_pool.rs`) runs the whole nest over it with the part's own
//! packing buffers. Where the operand every part shares fits in L2 (see
//! [`Keep`]), a part is worked through in chunks, packing that operand once
//! for all of them, and a thread done early takes chunks that a slowed one
//! has not reached (see `chunks.rs`); otherwise a part is one chunk. Chunk
//! boundaries are multiples of NR (MR), so every tile and every sum is the
//! same whatever the thread count: results are bit-identical. `k` is never
//! split.
//!
//! The nest is compiled once per microkernel ([`Microkernel`]): the kernel
//! chosen for the call is matched once, in [`gemm_blocked`], and the nest
//! calls it directly, tile after tile. The block sizes come from the CPU's
//! caches ([`Blocking`]).

use super::buffers::{run_parts_with_buffers, PackBuffers};
use super::chunks::{tile_share, Chunks};
use super::kernel::{Kernel, Microkernel, TileOut, TileStore, WithMicrokernel, MR, NR};
use super::pack::{pack_a_panel, pack_b_panel, Packer};
use super::problem::{threads_for, Problem};
use std::ops::Range;

/// The blocking of the nest, from the sizes of the caches the CPU reports
/// ([`crate::cpu::cache_sizes`]), worked out once per process.
///
/// Today's rules, and the Zen 4 of the measurements (32 KiB L1d, 1 MiB L2,
/// 32 MiB L3), where they give KC = 372, MC = 348, NC = 5632:
/// - `kc` (the `pc` loop): an A strip (`kc x MR`) and 16 columns of a B
///   strip (`kc x 16`) fill L1d. Every A strip of the `ir` loop streams
///   past the same B strip; the AVX2 kernel reads it one 16-column half at
///   a time, which then stays in L1; the AVX-512 kernel reads all 32
///   columns, half of them from L2, which measured no slower than an
///   L1-resident strip (KC = 192) while deeper blocks mean fewer passes
///   over C and fewer kernel calls per multiply-add: 384 and 512 measured
///   faster than 256 (BENCHMARKS.md, "Measurements behind the code"). A multiple of 4, the
///   kernels' unrolling. Blocks are balanced, so k = 784 runs as 3 x 262.
/// - `mc` (the `ic` loop): the packed `mc x kc` block of A fills about half
///   of L2, where it stays while every B strip of the `jr` loop streams
///   past it, leaving the rest to the B strip and C. A multiple of MR.
/// - `nc` (the `jc` loop): the packed `kc x nc` block of B, shared by every
///   `ic` step, fills a quarter of L3, leaving room for the other cores'
///   blocks. A multiple of NR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Blocking {
    pub kc: usize,
    pub mc: usize,
    pub nc: usize,
}

impl Blocking {
    /// The blocking for caches of these sizes (the rules above).
    pub(crate) fn for_caches(caches: crate::cpu::CacheSizes) -> Blocking {
        const FLOAT: usize = std::mem::size_of::<f32>();
        // `value` within bounds (multiples of `unit`), rounded down to one.
        let whole = |value: usize, unit: usize, (min, max): (usize, usize)| {
            value.clamp(min, max) / unit * unit
        };
        let kc = whole(caches.l1d / ((MR + 16) * FLOAT), 4, (64, 1024));
        let mc = whole(caches.l2 / 2 / (kc * FLOAT), MR, (MR, 1020));
        let nc = whole(caches.l3 / 4 / (kc * FLOAT), NR, (NR, 16384));
        Blocking { kc, mc, nc }
    }

    /// This CPU's blocking, worked out on first use.
    pub(crate) fn of_this_cpu() -> Blocking {
        static BLOCKING: std::sync::OnceLock<Blocking> = std::sync::OnceLock::new();
        *BLOCKING.get_or_init(|| Blocking::for_caches(crate::cpu::cache_sizes()))
    }
}

/// Runs `problem` on up to `threads` threads. Requires `k > 0`.
pub(crate) fn gemm_blocked(problem: &Problem, threads: usize) {
    struct Nest<'p, 'a> {
        problem: &'p Problem<'a>,
        threads: usize,
    }
    impl WithMicrokernel for Nest<'_, '_> {
        type Output = ();
        fn run<K: Microkernel>(self) {
            gemm_blocked_with::<K>(self.problem, self.threads, Blocking::of_this_cpu());
        }
    }
    problem.kernel.dispatch(Nest { problem, threads });
}

/// [`gemm_blocked`] with the kernel `K` (the one `problem.kernel` names).
fn gemm_blocked_with<K: Microkernel>(problem: &Problem, threads: usize, blocking: Blocking) {
    let (m, n, k) = (problem.c.rows, problem.c.cols, problem.a.cols());
    debug_assert!(k > 0 && m > 0 && n > 0);
    let threads = threads_for(problem, threads);
    let weight_gradient = problem.a.transposed && !problem.b.transposed;
    let split_columns =
        threads > 1 && split_by_columns(m, n, k, threads, problem.kernel, weight_gradient);
    let (length, unit) = if split_columns { (n, NR) } else { (m, MR) };
    let parts = threads.clamp(1, length.div_ceil(unit));
    let keep = match (parts > 1, split_columns) {
        (false, _) => Keep::Nothing,
        (true, true) if fits_kept(kept_floats(problem, Keep::A)) => Keep::A,
        (true, false) if n <= blocking.nc && fits_kept(kept_floats(problem, Keep::B)) => Keep::B,
        _ => Keep::Nothing,
    };
    // Without a kept operand every chunk would pack the shared one again,
    // so the chunks are whole shares.
    let chunks = match keep {
        Keep::Nothing => Chunks::whole_shares(length, unit, parts),
        Keep::A => Chunks::by_work(n, NR, parts, m * NR * k, 1),
        Keep::B => Chunks::by_work(m, MR, parts, MR * n * k, 1),
    };
    run_parts_with_buffers(parts, &|part, buffers| {
        let (a_space, b_space) = packing_spaces(problem, blocking, keep, buffers);
        let mut kept_is_packed = false;
        while let Some(chunk) = chunks.next(part) {
            let (rows, cols) = if split_columns {
                (0..m, chunk)
            } else {
                (chunk, 0..n)
            };
            let spaces = (&mut *a_space, &mut *b_space);
            multiply_range::<K>(problem, blocking, rows, cols, spaces, keep, kept_is_packed);
            kept_is_packed = true;
        }
    });
}

/// The operand every part of a split needs all of (op(A) when C is split by
/// columns, op(B) when by rows), if a part keeps it packed from one chunk to
/// the next instead of packing it for each chunk.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Keep {
    Nothing,
    A,
    B,
}

/// Whether a whole packed operand of `floats` values is small enough to
/// keep: half the 1 MiB per-core L2, leaving the rest to the chunks' own
/// blocks and C.
fn fits_kept(floats: usize) -> bool {
    floats * std::mem::size_of::<f32>() <= 512 * 1024
}

/// The values of the operand `keep` names, packed whole (0 for nothing).
fn kept_floats(problem: &Problem, keep: Keep) -> usize {
    let k = problem.a.cols();
    match keep {
        Keep::Nothing => 0,
        Keep::A => padded(problem.c.rows, MR) * k,
        Keep::B => padded(problem.c.cols, NR) * k,
    }
}

/// `length` rounded up to whole tiles of `tile`.
fn padded(length: usize, tile: usize) -> usize {
    length.div_ceil(tile) * tile
}

/// Whether to give each thread a range of C's columns rather than rows:
/// whichever finishes sooner (see [`split_costs`]), except for `A^T * B`
/// (`weight_gradient`) with at least a tile of rows per thread, which takes
/// rows unless columns cost a quarter less.
///
/// `A^T * B` is how a layer computes its weight gradient, `dW = dY^T * X`,
/// and the optimizer then updates W with `dW` in contiguous shares, that is
/// by rows, on the same threads (the caller always runs part 0). Split by
/// columns, each thread wrote half of every row of `dW`, which the other
/// core then had to read, and which this core had to take back before
/// writing it at the next step: where a core-to-core round trip is slow,
/// as on this project's VM, rows trained faster although columns cost
/// fewer multiply-adds (figures in BENCHMARKS.md, "Measurements behind the
/// code").
fn split_by_columns(
    m: usize,
    n: usize,
    k: usize,
    threads: usize,
    kernel: Kernel,
    weight_gradient: bool,
) -> bool {
    let (by_columns, by_rows) = split_costs(m, n, k, threads, kernel);
    if weight_gradient && m.div_ceil(MR) >= threads {
        4 * by_columns < 3 * by_rows
    } else {
        by_columns <= by_rows
    }
}

/// What the slowest thread costs with C split by columns, and by rows: the
/// rows x columns it computes (whole tiles, but a ragged last strip may run
/// a narrower kernel), plus its packing of all of the operand the threads
/// share and of its share of the other. Packing a value costs about as much
/// as `PACK_COST` multiply-adds.
fn split_costs(m: usize, n: usize, k: usize, threads: usize, kernel: Kernel) -> (usize, usize) {
    const PACK_COST: usize = 8;
    let computed_rows = |rows: usize| padded(rows, MR);
    let computed_columns = |cols: usize| match cols % NR {
        0 => cols,
        ragged => cols - ragged + kernel.computed_columns(ragged),
    };
    let slowest = |length: usize, unit: usize, cost: &dyn Fn(usize) -> usize| {
        let parts = threads.clamp(1, length.div_ceil(unit));
        (0..parts)
            .map(|part| cost(tile_share(length, unit, parts, part).len()))
            .max()
            .unwrap_or(0)
    };
    let by_columns = slowest(n, NR, &|cols| {
        computed_rows(m) * computed_columns(cols) * k + (m + cols) * k * PACK_COST
    });
    let by_rows = slowest(m, MR, &|rows| {
        computed_rows(rows) * computed_columns(n) * k + (n + rows) * k * PACK_COST
    });
    (by_columns, by_rows)
}

/// The five loops over `rows x cols` of C, packing into the spaces that
/// [`packing_spaces`] gave.
///
/// With `keep` set, the shared operand is packed whole (every block of it,
/// one after another) into its space, by this call if `kept_is_packed` is
/// false, and otherwise read from there as an earlier call of the same part
/// left it: then `rows` (for `Keep::A`) or `cols` (for `Keep::B`) is the
/// whole of C's, as every chunk's is.
fn multiply_range<K: Microkernel>(
    problem: &Problem,
    Blocking {
        kc: max_kc,
        mc,
        nc: max_nc,
    }: Blocking,
    rows: Range<usize>,
    cols: Range<usize>,
    (a_space, b_space): (&mut [f32], &mut [f32]),
    keep: Keep,
    kept_is_packed: bool,
) {
    let k = problem.a.cols();
    let packer = match problem.kernel {
        Kernel::Portable => Packer::Portable,
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2Fma | Kernel::Avx512 => Packer::Avx2,
    };
    let (pc_step, pc_blocks) = balanced_step(k, max_kc, 1);
    let mc_step = balanced_step(rows.len(), mc, MR).0;
    let (padded_rows, padded_cols) = (padded(rows.len(), MR), padded(cols.len(), NR));
    debug_assert!(keep != Keep::A || rows == (0..problem.c.rows));
    debug_assert!(keep != Keep::B || (cols == (0..problem.c.cols) && cols.len() <= max_nc));
    let pack_b_blocks = keep != Keep::B || !kept_is_packed;
    for jc in cols.clone().step_by(max_nc) {
        // A kept A is the same for every column block: packed with the first.
        let pack_a_blocks = keep != Keep::A || (!kept_is_packed && jc == cols.start);
        let nc = max_nc.min(cols.end - jc);
        for block in 0..pc_blocks {
            let pc = block * pc_step;
            let kc = pc_step.min(k - pc);
            // Kept, the blocks are laid out one after another: for
            // `Keep::B` all columns `pc` deep come before block `pc`, for
            // `Keep::A` all rows `pc` deep and then the rows above `ic`
            // (whole strips) `kc` deep come before block (`pc`, `ic`).
            let b_offset = if keep == Keep::B { pc * padded_cols } else { 0 };
            let b_block = &mut b_space[b_offset..][..padded(nc, NR) * kc];
            if pack_b_blocks {
                pack_b_panel(packer, &problem.b, pc..pc + kc, jc..jc + nc, b_block);
            }
            let b_block = &*b_block;
            // C = alpha * AB_0 + beta * C, then C += alpha * AB_p for later
            // blocks; bias and ReLU once the sum is complete.
            let first = block == 0;
            let last = block + 1 == pc_blocks;
            for ic in rows.clone().step_by(mc_step) {
                let mc = mc_step.min(rows.end - ic);
                let a_offset = match keep {
                    Keep::A => pc * padded_rows + (ic - rows.start) * kc,
                    _ => 0,
                };
                let a_block = &mut a_space[a_offset..][..padded(mc, MR) * kc];
                if pack_a_blocks {
                    pack_a_panel(packer, &problem.a, ic..ic + mc, pc..pc + kc, a_block);
                }
                let a_block = &*a_block;
                for (jr, b_strip) in b_block.chunks_exact(kc * NR).enumerate() {
                    let j = jc + jr * NR;
                    let tile_cols = NR.min(jc + nc - j);
                    let store = TileStore {
                        alpha: problem.alpha,
                        beta: if first { problem.beta } else { 1.0 },
                        bias: problem
                            .bias
                            .filter(|_| last)
                            .map(|bias| &bias[j..j + tile_cols]),
                        relu: problem.relu && last,
                    };
                    for (ir, a_strip) in a_block.chunks_exact(kc * MR).enumerate() {
                        let i = ic + ir * MR;
                        let out = TileOut {
                            // `i < m` and `j < n`, so the offset is inside C.
                            ptr: problem.c.ptr.wrapping_add(i * problem.c.cols + j),
                            row_stride: problem.c.cols,
                            rows: MR.min(ic + mc - i),
                            cols: tile_cols,
                        };
                        // SAFETY: the tile `out` lies inside C (rows `i..i +
                        // out.rows <= ic + mc <= m`, likewise columns), and it
                        // is inside this call's `rows x cols`, a chunk that
                        // `Chunks::next` handed to this thread alone.
                        // `K` is the kernel `problem.kernel` names, which
                        // was selected on this CPU.
                        unsafe { K::tile(kc, a_strip, b_strip, out, &store) };
                    }
                }
            }
        }
    }
}

/// The space `multiply_range` packs op(A) and op(B) into, in `buffers`: one
/// block at a time, each packed over the last, or, kept, the whole operand.
/// Sized for any chunk of C, not one in particular, and taken by a part
/// before it claims any, so that after one call its buffers do not grow
/// again whichever chunks it gets.
fn packing_spaces<'b>(
    problem: &Problem,
    blocking: Blocking,
    keep: Keep,
    buffers: &'b mut PackBuffers,
) -> (&'b mut [f32], &'b mut [f32]) {
    let pc_step = balanced_step(problem.a.cols(), blocking.kc, 1).0;
    let a_space = buffers.a.get(match keep {
        Keep::A => kept_floats(problem, keep),
        _ => blocking.mc.min(padded(problem.c.rows, MR)) * pc_step,
    });
    let b_space = buffers.b.get(match keep {
        Keep::B => kept_floats(problem, keep),
        _ => blocking.nc.min(padded(problem.c.cols, NR)) * pc_step,
    });
    (a_space, b_space)
}

/// Splits `length` into equal blocks of at most `max` (rounded up to a
/// multiple of `multiple`), returning (block size, number of blocks), so
/// that 784 = 3 x 262 rather than 3 x 256 + 16: no thin last block.
fn balanced_step(length: usize, max: usize, multiple: usize) -> (usize, usize) {
    let blocks = length.div_ceil(max).max(1);
    let step = length.div_ceil(blocks).div_ceil(multiple) * multiple;
    (step.max(multiple), blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::CacheSizes;

    #[test]
    fn blocking_follows_the_caches_by_its_rules() {
        let caches = |l1d_kib: usize, l2_kib: usize, l3_mib: usize| CacheSizes {
            l1d: l1d_kib << 10,
            l2: l2_kib << 10,
            l3: l3_mib << 20,
            reported: true,
        };
        // Zen 4: kc = 32768 / (22 * 4) = 372.4 -> 372; mc = 524288 / (372 *
        // 4) = 352.3 -> 348 (whole strips of 6); nc = 8 MiB / (372 * 4) =
        // 5637.5 -> 5632 (whole strips of 32).
        let zen4 = Blocking {
            kc: 372,
            mc: 348,
            nc: 5632,
        };
        assert_eq!(Blocking::for_caches(caches(32, 1024, 32)), zen4);
        // Sapphire Rapids (48 KiB L1d, 2 MiB L2, 105 MiB L3): kc = 49152 /
        // 88 = 558.5 -> 556, mc = 1 MiB / 2224 = 471.5 -> 468, nc = 26.25
        // MiB / 2224 = 12376.4 -> 12352.
        let sapphire_rapids = Blocking {
            kc: 556,
            mc: 468,
            nc: 12352,
        };
        assert_eq!(Blocking::for_caches(caches(48, 2048, 105)), sapphire_rapids);
        // Tiny or absurd caches stay within sane bounds, whole strips.
        let tiny = Blocking::for_caches(caches(4, 8, 1));
        assert_eq!((tiny.kc, tiny.mc), (64, 12));
        assert_eq!(tiny.nc, 1024); // 256 KiB / (64 * 4)
        let huge = Blocking::for_caches(caches(1 << 20, 1 << 20, 1 << 10));
        assert_eq!((huge.kc, huge.mc, huge.nc), (1024, 1020, 16384));
        // The fallback (32 KiB, 512 KiB, 8 MiB): mc = 262144 / 1488 = 176.2
        // -> 174, nc = 2 MiB / 1488 = 1409.4 -> 1408.
        let fallback = Blocking {
            kc: 372,
            mc: 174,
            nc: 1408,
        };
        assert_eq!(Blocking::for_caches(CacheSizes::FALLBACK), fallback);
    }

    /// Blocks far smaller than any CPU's, so a modest product crosses every
    /// loop's blocks with ragged last ones (k = 150 is 3 x 50 deep, 61 rows
    /// are 4 blocks of 18 or less, 203 columns 4 of 64 or less), with each
    /// kernel, against the reference; and the same bits with any blocking
    /// of the same depth split, since only `kc` decides how sums are cut.
    #[test]
    fn any_blocking_matches_the_reference() {
        let (m, k, n) = (61, 150, 203);
        let value = |x: usize| ((x * 37 % 101) as f32 - 50.0) / 25.0;
        let a: Vec<f32> = (0..k * m).map(value).collect();
        let b: Vec<f32> = (0..n * k).map(|x| value(x + 7)).collect();
        let bias: Vec<f32> = (0..n).map(|x| value(x + 3)).collect();
        let a = crate::MatrixRef::new(k, m, &a).unwrap();
        let b = crate::MatrixRef::new(n, k, &b).unwrap();
        let (a, b) = (
            super::super::Operand::transposed(a),
            super::super::Operand::transposed(b),
        );
        let mut want = vec![0.5f32; m * n];
        let c = crate::MatrixMut::new(m, n, &mut want).unwrap();
        let epilogue = super::super::Epilogue::BiasRelu(&bias);
        crate::reference_gemm(0.75, a, b, 0.25, c, epilogue).unwrap();
        let run = |kernel: Kernel, blocking: Blocking, threads: usize| {
            let mut c = vec![0.5f32; m * n];
            let problem = Problem {
                a,
                b,
                c: super::super::problem::OutputMatrix {
                    ptr: c.as_mut_ptr(),
                    rows: m,
                    cols: n,
                },
                alpha: 0.75,
                beta: 0.25,
                bias: Some(&bias),
                relu: true,
                kernel,
            };
            struct Nest<'p, 'a>(&'p Problem<'a>, Blocking, usize);
            impl WithMicrokernel for Nest<'_, '_> {
                type Output = ();
                fn run<K: Microkernel>(self) {
                    gemm_blocked_with::<K>(self.0, self.2, self.1);
                }
            }
            kernel.dispatch(Nest(&problem, blocking, threads));
            c
        };
        let small = Blocking {
            kc: 50,
            mc: 18,
            nc: 64,
        };
        for kernel in super::super::kernel::available_kernels() {
            let got = run(kernel, small, 1);
            for (x, (&got, &want)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                    "{kernel:?} at {x}"
                );
            }
            let other = Blocking {
                kc: 50,
                mc: 6,
                nc: 32,
            };
            for threads in [1, 2, 3] {
                let again = run(kernel, other, threads);
                assert!(
                    got.iter()
                        .zip(&again)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{kernel:?}, {threads} threads"
                );
            }
        }
    }

    #[test]
    fn balanced_steps_cover_the_length_without_a_thin_tail() {
        assert_eq!(balanced_step(784, 256, 1), (196, 4));
        assert_eq!(balanced_step(784, 384, 1), (262, 3));
        assert_eq!(balanced_step(512, 256, 1), (256, 2));
        assert_eq!(balanced_step(100, 144, MR), (102, 1));
        assert_eq!(balanced_step(300, 144, MR), (102, 3));
        assert_eq!(balanced_step(1, 256, 1), (1, 1));
        for (length, max, multiple) in [(1000, 144, MR), (17, 4, 1), (4097, 4096, NR)] {
            let (step, blocks) = balanced_step(length, max, multiple);
            assert!(step * blocks >= length && step * (blocks - 1) < length);
            assert!(step <= max.div_ceil(multiple) * multiple && step % multiple == 0);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn threads_split_the_side_that_costs_less_or_keeps_dw_rows_together() {
        let by_columns =
            |m, n, k, gradient| split_by_columns(m, n, k, 2, Kernel::Avx2Fma, gradient);
        // 100 rows are 17 tiles of 6 (8 + 9 between two threads: 54 rows
        // at most), 100 columns are 3 tiles of 32 and 4 more (64 + 36: 64
        // columns at most): rows balance better.
        assert!(!by_columns(100, 100, 784, false));
        // Wide C: columns, which also leaves the small A to be packed twice.
        assert!(by_columns(128, 784, 256, false));
        assert!(by_columns(1024, 1024, 1024, false));
        assert!(!by_columns(784, 128, 256, false));
        // dW = dY^T * X of 784-100-10: columns would cost less (400 of 784
        // columns vs 54 of 100 rows), but not a quarter less, so rows, which
        // the optimizer's update then finds on the same core.
        assert!(by_columns(100, 784, 100, false));
        assert!(!by_columns(100, 784, 100, true));
        // Columns a quarter cheaper win anyway: 137.6k vs 184.0k
        // multiply-adds (0.748) takes columns, 112.8k vs 148.0k (0.762)
        // keeps rows.
        assert!(by_columns(12, 128, 100, true));
        assert!(by_columns(18, 65, 100, false));
        assert!(!by_columns(18, 65, 100, true));
        // A dW of 6 rows is one tile of rows: only columns split it, even
        // where they cost about as much as one thread doing it all.
        assert!(by_columns(6, 784, 100, true));
        assert!(by_columns(6, 40, 5000, true));
    }
}
