//! The packed, cache-blocked GEMM: the five loops of BLIS/GotoBLAS.
//!
//! ```text
//! for jc in cols step NC            B block (kc x nc) lives in L3
//!   for pc in 0..k step KC          pack op(B)[pc.., jc..] into NR-column strips
//!     for ic in rows step MC        pack op(A)[ic.., pc..] into MR-row strips (L2)
//!       for jr in nc step NR        one B strip (kc x NR) stays in L1
//!         for ir in mc step MR      microkernel: MR x NR tile of C in registers
//! ```
//!
//! With several threads, one operand is split and the other shared: each
//! thread takes a range of C's columns (or rows, whichever balances better),
//! packs its own strips of the split operand, and packs only its share of
//! the shared operand's block into a buffer the team reads after a barrier,
//! so no value is packed twice. Ranges are whole NR (MR) tiles and the
//! blocking of `k` does not depend on the split, so every tile and every sum
//! is the same whatever the thread count: results are bit-identical.

use super::kernel::{Microkernel, TileOut, TileStore, MR, NR};
use super::pack::{pack_a_panel, pack_b_panel, Packer};
use super::{pool, Operand};
use crate::parallel::part_range;
use std::cell::RefCell;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Rows of op(A) packed at once (the `ic` loop). The packed `MC x KC` block
/// (144 x 384 x 4 B = 216 KiB) stays in the 1 MiB per-core L2 while every B
/// strip of the `jr` loop streams past it, with room left for the B block's
/// strips and C. A multiple of MR. (288 measured no better.)
pub(crate) const MC: usize = 144;
/// Depth of one packed block (the `pc` loop). One B strip (`KC x NR` =
/// 384 x 16 x 4 B = 24 KiB) stays in the 32 KiB L1d while the `ir` loop runs
/// A strips (9 KiB each, streamed from L2) past it. Deeper blocks mean fewer
/// passes over C and fewer kernel calls per multiply-add: 384 and 512 beat
/// 256 by ~2% at 1024^3; blocks are balanced, so k = 784 runs as 3 x 262.
pub(crate) const KC: usize = 384;
/// Columns of op(B) packed at once (the `jc` loop). The packed `KC x NC`
/// block (384 x 4080 x 4 B = 6 MiB) is shared by every `ic` step and sits in
/// the 32 MiB L3 with room for the other core's block. A multiple of NR.
/// (512, which keeps the B block in L2, measured no better at 1024^3.)
pub(crate) const NC: usize = 4080;

/// Below this many multiply-adds (`m * n * k`) a GEMM stays on the calling
/// thread: handing half of it to the pool costs a microsecond or two of
/// hand-over (tens if the worker has parked) plus duplicated packing, which
/// would eat most of the gain. 2^20 is about 10 us of one core.
const PARALLEL_MIN_MULTIPLY_ADDS: usize = 1 << 20;

/// Everything one GEMM call needs, shared read-only by its threads.
pub(crate) struct Problem<'a> {
    pub a: Operand<'a>,
    pub b: Operand<'a>,
    pub c: OutputMatrix,
    pub alpha: f32,
    pub beta: f32,
    pub bias: Option<&'a [f32]>,
    pub relu: bool,
    pub kernel: Microkernel,
}

/// C as a raw pointer and row stride, so threads can write disjoint column
/// ranges of it (which `&mut` slices of a row-major matrix cannot express).
#[derive(Clone, Copy)]
pub(crate) struct OutputMatrix {
    pub ptr: *mut f32,
    pub rows: usize,
    pub cols: usize,
}

// SAFETY: threads only ever write disjoint tiles of C (their own ranges), and
// the `&mut` borrow C came from outlives the call, so sharing the pointer is
// sound.
unsafe impl Sync for OutputMatrix {}

/// Runs `problem` on up to `threads` threads. Requires `k > 0`.
pub(crate) fn gemm_blocked(problem: &Problem, threads: usize) {
    let (m, n, k) = (problem.c.rows, problem.c.cols, problem.a.cols());
    debug_assert!(k > 0 && m > 0 && n > 0);
    let threads = if m * n * k < PARALLEL_MIN_MULTIPLY_ADDS {
        1
    } else {
        threads
    };
    let split_columns = threads > 1 && split_columns_costs_less(m, n, k, threads);
    let units = if split_columns {
        n.div_ceil(NR)
    } else {
        m.div_ceil(MR)
    };
    let parts = threads.clamp(1, units);
    let (pc_step, _) = balanced_step(k, KC, 1);
    // The shared operand's block: A's (all rows of one `ic` step) when the
    // columns are split, else B's (all columns of one `jc` step).
    let shared_len = if split_columns {
        balanced_step(m, MC, MR).0 * pc_step
    } else {
        NC.min(n).div_ceil(NR) * NR * pc_step
    };
    TEAM_BUFFERS.with(|team_buffers| {
        let mut team_buffers = team_buffers.borrow_mut();
        let [first, second] = &mut *team_buffers;
        let team = Team {
            parts,
            split_columns,
            blocks: [
                SharedBlock::new(first.get(shared_len)),
                SharedBlock::new(second.get(shared_len)),
            ],
            barrier: SpinBarrier::new(parts),
        };
        pool::run_parts(parts, &|part| {
            let _poison_on_panic = team.barrier.poison_on_panic();
            BUFFERS.with(|buffers| multiply_part(problem, &team, part, &mut buffers.borrow_mut()));
        });
    });
}

/// Whether giving each thread a range of C's columns (rather than rows)
/// finishes sooner. The slowest thread decides: it has the most whole tiles
/// (tiles are computed full even at the edges) and it packs its share of
/// the shared operand plus its own part of the split one. Packing a value
/// costs about as much as `PACK_COST` multiply-adds.
fn split_columns_costs_less(m: usize, n: usize, k: usize, threads: usize) -> bool {
    const PACK_COST: usize = 8;
    let (row_tiles, column_tiles) = (m.div_ceil(MR), n.div_ceil(NR));
    let by_columns = column_tiles.div_ceil(threads) * NR * row_tiles * MR * k
        + (m.div_ceil(threads) + column_tiles.div_ceil(threads) * NR) * k * PACK_COST;
    let by_rows = row_tiles.div_ceil(threads) * MR * column_tiles * NR * k
        + (n.div_ceil(threads) + row_tiles.div_ceil(threads) * MR) * k * PACK_COST;
    by_columns <= by_rows
}

/// What the threads of one GEMM share: how the work is split, two buffers
/// for the shared operand's packed block, and the barrier between packing
/// it and reading it.
struct Team {
    parts: usize,
    split_columns: bool,
    /// Used alternately, so packing the next block only has to wait for the
    /// barrier after this one (everyone has finished the block before it).
    blocks: [SharedBlock; 2],
    barrier: SpinBarrier,
}

/// Part `part`'s five loops: C's columns `part` owns (all rows), or its rows
/// (all columns).
fn multiply_part(problem: &Problem, team: &Team, part: usize, buffers: &mut PackBuffers) {
    let (m, n, k) = (problem.c.rows, problem.c.cols, problem.a.cols());
    let packer = match problem.kernel {
        Microkernel::Portable => Packer::Portable,
        #[cfg(target_arch = "x86_64")]
        Microkernel::Avx2Fma => Packer::Avx2,
    };
    let share = |units: usize| part_range(units, team.parts, part, 1);
    let (pc_step, pc_blocks) = balanced_step(k, KC, 1);
    // The rows this part multiplies, blocked by `ic`: all of them, blocked
    // the same in every part (they step through the shared A blocks
    // together), or its own range.
    let rows = if team.split_columns {
        0..m
    } else {
        tile_span(share(m.div_ceil(MR)), MR, 0, m)
    };
    let mc_step = balanced_step(rows.len(), MC, MR).0;
    let mut blocks_used = 0;
    let mut next_shared_block = || {
        blocks_used += 1;
        &team.blocks[blocks_used % 2]
    };
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for block in 0..pc_blocks {
            let pc = block * pc_step;
            let kc = pc_step.min(k - pc);
            let epilogue = DepthBlock {
                first: block == 0,
                last: block + 1 == pc_blocks,
            };
            if team.split_columns {
                // B: this part's own strips of the block.
                let strips = share(nc.div_ceil(NR));
                let cols = tile_span(strips.clone(), NR, jc, nc);
                let b_block = buffers.b.get(strips.len() * NR * kc);
                pack_b_panel(packer, &problem.b, pc..pc + kc, cols.clone(), b_block);
                // A: each `ic` block packed by the whole team, a share each.
                for ic in rows.clone().step_by(mc_step) {
                    let mc = mc_step.min(m - ic);
                    let shared = next_shared_block();
                    let a_strips = share(mc.div_ceil(MR));
                    let a_rows = tile_span(a_strips.clone(), MR, ic, mc);
                    // SAFETY: parts pack disjoint strip ranges, and the block
                    // was last read before the previous barrier (see `Team`).
                    let mine =
                        unsafe { shared.part(a_strips.start * MR * kc, a_strips.len() * MR * kc) };
                    pack_a_panel(packer, &problem.a, a_rows, pc..pc + kc, mine);
                    team.barrier.wait();
                    // SAFETY: after the barrier every strip is packed and
                    // nobody writes this block until the next barrier.
                    let a_block = unsafe { shared.whole(mc.div_ceil(MR) * MR * kc) };
                    multiply_block(
                        problem,
                        a_block,
                        b_block,
                        ic..ic + mc,
                        cols.clone(),
                        kc,
                        epilogue,
                    );
                }
            } else {
                // B: the block packed by the whole team, a share each.
                let shared = next_shared_block();
                let b_strips = share(nc.div_ceil(NR));
                let b_cols = tile_span(b_strips.clone(), NR, jc, nc);
                // SAFETY: as for A above.
                let mine =
                    unsafe { shared.part(b_strips.start * NR * kc, b_strips.len() * NR * kc) };
                pack_b_panel(packer, &problem.b, pc..pc + kc, b_cols, mine);
                team.barrier.wait();
                // SAFETY: as for A above.
                let b_block = unsafe { shared.whole(nc.div_ceil(NR) * NR * kc) };
                // A: this part's own rows.
                for ic in rows.clone().step_by(mc_step) {
                    let mc = mc_step.min(rows.end - ic);
                    let a_block = buffers.a.get(mc.div_ceil(MR) * MR * kc);
                    pack_a_panel(packer, &problem.a, ic..ic + mc, pc..pc + kc, a_block);
                    multiply_block(
                        problem,
                        a_block,
                        b_block,
                        ic..ic + mc,
                        jc..jc + nc,
                        kc,
                        epilogue,
                    );
                }
            }
        }
    }
}

/// What tiles `tiles` (each `width` wide) of a block of `len` starting at
/// `start` cover: the last tile stops at the block's edge, and tiles past
/// the edge (an empty share) cover nothing.
fn tile_span(tiles: Range<usize>, width: usize, start: usize, len: usize) -> Range<usize> {
    let end = start + len;
    (start + tiles.start * width).min(end)..(start + tiles.end * width).min(end)
}

/// Where a `pc` block sits in the sum over `k`: the first one applies beta
/// to the old C, the last one the bias and ReLU, once the sum is complete.
#[derive(Clone, Copy)]
struct DepthBlock {
    first: bool,
    last: bool,
}

/// The `jr` and `ir` loops: C[rows, cols] (+)= packed A block * packed B
/// block, one microkernel call per tile.
fn multiply_block(
    problem: &Problem,
    a_block: &[f32],
    b_block: &[f32],
    rows: Range<usize>,
    cols: Range<usize>,
    kc: usize,
    epilogue: DepthBlock,
) {
    for (jr, b_strip) in b_block.chunks_exact(kc * NR).enumerate() {
        let j = cols.start + jr * NR;
        let tile_cols = NR.min(cols.end - j);
        let store = TileStore {
            alpha: problem.alpha,
            beta: if epilogue.first { problem.beta } else { 1.0 },
            bias: problem
                .bias
                .filter(|_| epilogue.last)
                .map(|bias| &bias[j..j + tile_cols]),
            relu: problem.relu && epilogue.last,
        };
        for (ir, a_strip) in a_block.chunks_exact(kc * MR).enumerate() {
            let i = rows.start + ir * MR;
            let out = TileOut {
                // `i < m` and `j < n`, so the offset is inside C.
                ptr: problem.c.ptr.wrapping_add(i * problem.c.cols + j),
                row_stride: problem.c.cols,
                rows: MR.min(rows.end - i),
                cols: tile_cols,
            };
            // SAFETY: the tile `out` lies inside C (rows `i..i + out.rows
            // <= rows.end <= m`, likewise columns), and inside this part's
            // own rows or columns, which no other thread writes.
            unsafe { problem.kernel.run(kc, a_strip, b_strip, out, &store) };
        }
    }
}

/// Splits `length` into equal blocks of at most `max` (rounded up to a
/// multiple of `multiple`), returning (block size, number of blocks), so
/// that 784 = 3 x 262 rather than 3 x 256 + 16: no thin last block.
fn balanced_step(length: usize, max: usize, multiple: usize) -> (usize, usize) {
    let blocks = length.div_ceil(max).max(1);
    let step = length.div_ceil(blocks).div_ceil(multiple) * multiple;
    (step.max(multiple), blocks)
}

/// Each thread's packing buffers, kept between calls so steady-state GEMMs
/// do not allocate (the pool's workers live as long as the process).
#[derive(Default)]
struct PackBuffers {
    a: AlignedBuffer,
    b: AlignedBuffer,
}

thread_local! {
    static BUFFERS: RefCell<PackBuffers> = RefCell::new(PackBuffers::default());
    /// The calling thread's buffers for the shared operand's blocks, which
    /// the whole team of a GEMM fills and reads.
    static TEAM_BUFFERS: RefCell<[AlignedBuffer; 2]> = RefCell::default();
}

/// One of `TEAM_BUFFERS` while a GEMM runs: every part writes its share of
/// strips into it, waits at the team's barrier, then reads all of it.
/// Through raw parts because those phases hand one buffer back and forth
/// between `&mut` pieces and a shared whole, which borrows cannot express;
/// the barrier is what keeps them apart.
struct SharedBlock {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: the pointer is to the caller's buffer, which outlives the GEMM
// (its thread waits for every part), and the barrier protocol in
// `multiply_part` keeps writes and reads of it apart.
unsafe impl Sync for SharedBlock {}

impl SharedBlock {
    fn new(buffer: &mut [f32]) -> SharedBlock {
        SharedBlock {
            ptr: buffer.as_mut_ptr(),
            len: buffer.len(),
        }
    }

    /// Values `start..start + len`, to pack into.
    ///
    /// # Safety
    /// Until the next barrier no other thread touches these values, and no
    /// `&[f32]` from [`SharedBlock::whole`] is alive.
    #[allow(clippy::mut_from_ref)] // the barrier, not `&mut self`, gives exclusivity
    unsafe fn part(&self, start: usize, len: usize) -> &mut [f32] {
        assert!(start + len <= self.len);
        // SAFETY: in bounds (just checked) of a live buffer; exclusive by
        // this function's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }

    /// The first `len` values, to multiply from.
    ///
    /// # Safety
    /// Every part has packed its share and passed the barrier since, and no
    /// thread writes until the next barrier.
    unsafe fn whole(&self, len: usize) -> &[f32] {
        assert!(len <= self.len);
        // SAFETY: in bounds of a live buffer; not written while read, by
        // this function's contract.
        unsafe { std::slice::from_raw_parts(self.ptr, len) }
    }
}

/// Makes the parts of one GEMM wait for each other between packing a shared
/// block and reading it. It spins (the others are microseconds away) and
/// then yields. A part that panics poisons it, so the others panic too
/// instead of waiting for ever, and the pool reports the panic.
struct SpinBarrier {
    parts: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    poisoned: AtomicBool,
}

impl SpinBarrier {
    /// Spins before yielding: about 0.3 ms, more than any imbalance between
    /// the parts of a GEMM that is worth splitting.
    const SPINS_BEFORE_YIELDING: u32 = 1 << 14;

    fn new(parts: usize) -> SpinBarrier {
        SpinBarrier {
            parts,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            poisoned: AtomicBool::new(false),
        }
    }

    /// Returns once all `parts` have called `wait` (the `n`-th time each).
    fn wait(&self) {
        if self.parts == 1 {
            return;
        }
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.parts {
            // The last to arrive: reset for the next barrier, then release
            // the others (who see the reset through the generation).
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            assert!(
                !self.poisoned.load(Ordering::Relaxed),
                "another thread of this GEMM panicked"
            );
            if spins < Self::SPINS_BEFORE_YIELDING {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// A guard that poisons the barrier if its thread unwinds.
    fn poison_on_panic(&self) -> PoisonOnPanic<'_> {
        PoisonOnPanic(self)
    }
}

struct PoisonOnPanic<'a>(&'a SpinBarrier);

impl Drop for PoisonOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poisoned.store(true, Ordering::Relaxed);
        }
    }
}

/// A grow-only `f32` buffer whose slices start on a 64-byte cache line, so
/// packed strips never straddle lines needlessly.
#[derive(Default)]
struct AlignedBuffer {
    storage: Vec<f32>,
}

impl AlignedBuffer {
    const LINE_FLOATS: usize = 64 / std::mem::size_of::<f32>();

    fn get(&mut self, len: usize) -> &mut [f32] {
        if self.storage.len() < len + Self::LINE_FLOATS {
            self.storage = vec![0.0; len + Self::LINE_FLOATS];
        }
        let offset = self
            .storage
            .as_ptr()
            .align_offset(64)
            .min(Self::LINE_FLOATS - 1);
        &mut self.storage[offset..offset + len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_steps_cover_the_length_without_a_thin_tail() {
        assert_eq!(balanced_step(784, 256, 1), (196, 4));
        assert_eq!(balanced_step(784, KC, 1), (262, 3));
        assert_eq!(balanced_step(512, 256, 1), (256, 2));
        assert_eq!(balanced_step(100, 144, MR), (102, 1));
        assert_eq!(balanced_step(300, 144, MR), (102, 3));
        assert_eq!(balanced_step(1, 256, 1), (1, 1));
        for (length, max, multiple) in [(1000, 144, MR), (17, 4, 1), (4081, 4080, NR)] {
            let (step, blocks) = balanced_step(length, max, multiple);
            assert!(step * blocks >= length && step * (blocks - 1) < length);
            assert!(step <= max.div_ceil(multiple) * multiple && step % multiple == 0);
        }
    }

    #[test]
    fn threads_split_the_side_that_balances_better() {
        // 100 columns are 7 tiles (3 + 4 between two threads), 100 rows are
        // 17 (8 + 9): rows balance better.
        assert!(!split_columns_costs_less(100, 100, 784, 2));
        // The other way round: 256 columns are 16 tiles (8 + 8).
        assert!(split_columns_costs_less(100, 256, 784, 2));
        // 784 columns are 49 tiles (24 + 25), 128 rows 22 (11 + 11).
        assert!(!split_columns_costs_less(128, 784, 256, 2));
        // Even both ways: a tie, which goes to columns.
        assert!(split_columns_costs_less(1024, 1024, 1024, 2));
    }

    #[test]
    fn the_barrier_holds_every_thread_until_all_arrive_each_round() {
        const PARTS: usize = 3;
        let barrier = SpinBarrier::new(PARTS);
        let arrivals = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..PARTS {
                scope.spawn(|| {
                    for round in 1..=200 {
                        arrivals.fetch_add(1, Ordering::Relaxed);
                        barrier.wait();
                        // Nobody has started the next round yet.
                        assert!(arrivals.load(Ordering::Relaxed) >= round * PARTS);
                        barrier.wait();
                        assert!(arrivals.load(Ordering::Relaxed) <= (round + 1) * PARTS);
                    }
                });
            }
        });
        assert_eq!(arrivals.into_inner(), 200 * PARTS);
    }

    #[test]
    fn a_panicking_part_releases_the_others_with_a_panic() {
        let barrier = SpinBarrier::new(2);
        let waiter = std::thread::scope(|scope| {
            let waiter = scope.spawn(|| barrier.wait());
            let failing = scope.spawn(|| {
                let _guard = barrier.poison_on_panic();
                panic!("this part fails on purpose");
            });
            assert!(failing.join().is_err());
            waiter.join()
        });
        assert!(
            waiter.is_err(),
            "the waiting part panics instead of hanging"
        );
    }

    #[test]
    fn aligned_buffer_slices_start_on_a_cache_line() {
        let mut buffer = AlignedBuffer::default();
        for len in [1, 100, 5000, 10] {
            let slice = buffer.get(len);
            assert_eq!(slice.len(), len);
            assert_eq!(slice.as_ptr() as usize % 64, 0);
        }
    }
}
