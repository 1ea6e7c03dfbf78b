//! Running a few pieces of work at once on the GEMM thread pool, for callers
//! outside GEMM (the optimizer's update of a large weight, say).
//!
//! The pool's persistent workers cost a microsecond or two to hand work to,
//! where spawning a thread costs 20 to 50 us; and between the GEMMs of a
//! training step they are idle anyway. This module is the safe face of that
//! pool: [`for_each_part`] gives each thread its own `&mut` element of a
//! slice, and [`part_range`] splits a length into even, aligned shares.

use std::ops::Range;

use crate::thread_pool::run_parts;

/// Runs `task` on every element of `parts`, each on one of the pool's
/// threads or the caller's (whichever claims it first: a busy worker's share
/// is done by the others), and returns when all have finished.
/// A panic in any part is re-raised on the caller once every part is done.
///
/// One element per thread: pass as many as you want threads (usually
/// [`threads()`](crate::threads)), each holding a disjoint share of the work.
///
/// ```
/// let mut halves: Vec<&mut [f32]> = Vec::new();
/// let mut values = vec![1.0_f32; 100];
/// let (left, right) = values.split_at_mut(50);
/// halves.push(left);
/// halves.push(right);
/// tensor::parallel::for_each_part(&mut halves, &|half| {
///     half.iter_mut().for_each(|x| *x *= 2.0)
/// });
/// assert!(values.iter().all(|&x| x == 2.0));
/// ```
pub fn for_each_part<T: Send>(parts: &mut [T], task: &(dyn Fn(&mut T) + Sync)) {
    match parts {
        [] => {}
        [only] => task(only),
        _ => {
            let base = PartsPointer(parts.as_mut_ptr());
            let count = parts.len();
            run_parts(count, &|index| {
                assert!(index < count, "the pool ran part {index} of {count}");
                // SAFETY: `base` points at `count` live elements, borrowed
                // mutably by `parts` for the whole call (`run_parts` returns,
                // or unwinds, only after every part has finished). `run_parts`
                // calls this closure exactly once per index in `0..count`, so
                // each `&mut` made here is the only reference to its element;
                // handing it to another thread is sound because `T: Send`.
                let part = unsafe { &mut *base.get().add(index) };
                task(part)
            });
        }
    }
}

/// The elements of `for_each_part`'s slice, shared with the pool's threads.
/// Through a method, not the field, so closures capture the whole wrapper
/// (and its `Sync`), not the bare pointer.
struct PartsPointer<T>(*mut T);

impl<T> PartsPointer<T> {
    fn get(&self) -> *mut T {
        self.0
    }
}

// SAFETY: the threads sharing this only make `&mut` references to distinct
// elements (see `for_each_part`), which is sound to do across threads for
// `T: Send`.
unsafe impl<T: Send> Sync for PartsPointer<T> {}

/// Part `part` of `0..len` cut into `parts` contiguous ranges whose starts
/// are multiples of `align` (16 f32 values make one 64-byte cache line, so
/// two threads never write the same line). The shares are as even as
/// alignment allows; trailing parts may be empty when `len` is small.
///
/// ```
/// use tensor::parallel::part_range;
/// assert_eq!(part_range(100, 2, 0, 16), 0..64);
/// assert_eq!(part_range(100, 2, 1, 16), 64..100);
/// assert_eq!(part_range(10, 3, 2, 16), 10..10);
/// ```
pub fn part_range(len: usize, parts: usize, part: usize, align: usize) -> Range<usize> {
    let align = align.max(1);
    let share = len.div_ceil(parts.max(1)).div_ceil(align) * align;
    let start = part.saturating_mul(share).min(len);
    let end = start.saturating_add(share).min(len);
    start..end
}

/// The most threads [`for_each_block`] splits work over (its shares live
/// in a fixed array on the stack, so a call allocates nothing).
pub const MAX_BLOCK_THREADS: usize = 16;

/// Runs `task(items, out_share)` over the `out.len() / item_len` items whose
/// results are consecutive runs of `item_len` values of `out`, on up to
/// [`threads()`](crate::threads) threads, each given a contiguous range of
/// items (at least `min_items` of them) and the matching share of `out`.
/// Image kernels (im2col, pooling) split a batch by image this way.
///
/// ```
/// let mut out = vec![0.0_f32; 6 * 4];
/// tensor::parallel::for_each_block(&mut out, 4, 1, &|items, share| {
///     for (item, values) in items.zip(share.chunks_mut(4)) {
///         values.fill(item as f32);
///     }
/// });
/// assert_eq!(out[5 * 4], 5.0);
/// ```
pub fn for_each_block<T: Send>(
    out: &mut [T],
    item_len: usize,
    min_items: usize,
    task: &(dyn Fn(Range<usize>, &mut [T]) + Sync),
) {
    let items = out.len().checked_div(item_len).unwrap_or(0);
    let parts = crate::threads()
        .min(items / min_items.max(1))
        .clamp(1, MAX_BLOCK_THREADS);
    if parts == 1 {
        task(0..items, out);
        return;
    }
    let mut shares: [(Range<usize>, &mut [T]); MAX_BLOCK_THREADS] = Default::default();
    let mut rest = out;
    for (part, share) in shares.iter_mut().take(parts).enumerate() {
        let range = part_range(items, parts, part, 1);
        let (these, later) = std::mem::take(&mut rest).split_at_mut(range.len() * item_len);
        *share = (range, these);
        rest = later;
    }
    for_each_part(&mut shares[..parts], &|(range, share)| {
        task(range.clone(), share)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_part_runs_exactly_once_on_its_own_element() {
        // 0, 1, fewer than, as many as, and more than this machine's cores.
        for count in [0, 1, 2, 3, 5, 17, 1, 3] {
            let mut parts: Vec<(usize, usize)> = (0..count).map(|i| (i, 0)).collect();
            let calls = AtomicUsize::new(0);
            for_each_part(&mut parts, &|(index, runs)| {
                *runs += 1;
                *index *= 10;
                calls.fetch_add(1, Ordering::Relaxed);
            });
            assert_eq!(calls.load(Ordering::Relaxed), count);
            for (i, &(index, runs)) in parts.iter().enumerate() {
                assert_eq!((index, runs), (i * 10, 1), "count {count}, part {i}");
            }
        }
    }

    #[test]
    fn parts_run_at_the_same_time_when_threads_are_free() {
        // Each part waits until the other has started: only two threads
        // running them at once can finish (a lone thread would time out).
        // The pool has no second thread on a one-core machine.
        if crate::thread_pool::machine_parallelism() < 2 {
            return;
        }
        let started = AtomicUsize::new(0);
        let mut met = [false; 2];
        for_each_part(&mut met, &|met| {
            started.fetch_add(1, Ordering::SeqCst);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while started.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < deadline {
                std::thread::yield_now();
            }
            *met = started.load(Ordering::SeqCst) == 2;
        });
        assert_eq!(met, [true, true]);
    }

    #[test]
    fn a_panic_in_any_part_reaches_the_caller() {
        for failing in 0..3 {
            let result = std::panic::catch_unwind(|| {
                let mut parts: Vec<usize> = (0..3).collect();
                for_each_part(&mut parts, &|part| {
                    assert_ne!(*part, failing, "part {failing} fails on purpose")
                });
            });
            assert!(result.is_err(), "part {failing}");
        }
        let result = std::panic::catch_unwind(|| {
            for_each_part(&mut [1], &|_| panic!("a single part fails on purpose"));
        });
        assert!(result.is_err());
        // The pool still works afterwards.
        let mut parts = vec![0; 3];
        for_each_part(&mut parts, &|part| *part += 1);
        assert_eq!(parts, [1, 1, 1]);
    }

    #[test]
    fn part_ranges_tile_the_length_with_aligned_starts() {
        for len in [0_usize, 1, 15, 16, 17, 100, 1000, 131_072, 401_408] {
            for parts in 1..=9 {
                for align in [1, 3, 16] {
                    let mut next = 0;
                    let share = len.div_ceil(parts);
                    for part in 0..parts {
                        let range = part_range(len, parts, part, align);
                        assert_eq!(range.start, next, "{len} {parts} {align} {part}");
                        assert!(range.start == len || range.start.is_multiple_of(align));
                        // No share is more than one alignment step above even.
                        assert!(range.len() < share + align, "{len} {parts} {align}");
                        next = range.end;
                    }
                    assert_eq!(next, len, "{len} {parts} {align}");
                }
            }
        }
        assert_eq!(part_range(401_408, 2, 0, 16), 0..200_704);
        assert_eq!(part_range(10, 0, 0, 0), 0..10);
    }

    #[test]
    fn blocks_cover_every_item_once_with_its_own_share() {
        for items in [0_usize, 1, 2, 3, 17, 64] {
            for min_items in [1, 4, 100] {
                let mut out = vec![-1.0_f32; items * 3];
                for_each_block(&mut out, 3, min_items, &|range, share| {
                    assert_eq!(share.len(), range.len() * 3);
                    for (item, values) in range.zip(share.chunks_mut(3)) {
                        values.fill(item as f32);
                    }
                });
                for (index, &value) in out.iter().enumerate() {
                    assert_eq!(value, (index / 3) as f32, "{items} items, {min_items}");
                }
            }
        }
    }
}
