//! A split of C handed out in chunks that a thread with nothing left to do
//! can take over from a thread that fell behind.
//!
//! Each part of a split owns one contiguous share of C (its rows or its
//! columns, as before chunks existed), and the thread that runs the part
//! works through its share a chunk at a time, from the front. A thread whose
//! own share is done takes chunks from the back of the shares still open.
//! On a quiet machine the two ends meet near where the shares meet, so
//! each core keeps computing the same part of C from one call to the next
//! (and finds its operands in its own cache). When a core is slowed, by the
//! host or by another program, the other core takes over the rest of its
//! share instead of waiting for it: with parts alone, a worker preempted
//! while computing its half kept the caller waiting, and two threads ran
//! slower than one.
//!
//! Which thread computes a chunk never changes its values: every output of
//! C is summed the same way whoever computes it and whatever the chunks are,
//! so results stay bit-identical for any thread count.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

/// The shares of a split of `0..length` into `parts`, in chunks of whole
/// units (tiles), each part's still unclaimed chunks as one word: the
/// front (next chunk from the front) in the high 32 bits, the back (one past
/// the last) in the low 32, so claims from either end are one
/// compare-and-swap.
pub(crate) struct Chunks {
    length: usize,
    chunk_length: usize,
    parts: usize,
    /// The shares of up to `INLINE_PARTS` parts, so that a GEMM does not
    /// allocate (`shares` holds them for more parts, allocated per call).
    inline: [AtomicU64; INLINE_PARTS],
    shares: Vec<AtomicU64>,
}

const INLINE_PARTS: usize = 16;

/// About how many multiply-adds a chunk holds: ~10 us of one core, small
/// enough that a core left waiting for a slowed one takes over most of its
/// share, large enough that claiming a chunk and starting the loops over
/// costs next to nothing.
const CHUNK_MULTIPLY_ADDS: usize = 1 << 20;

impl Chunks {
    /// `0..length` in `parts` shares of whole units of `unit`, in chunks of
    /// about [`CHUNK_MULTIPLY_ADDS`] (a unit costing `unit_multiply_adds`)
    /// but at least `min_units` units, and never more than an even share.
    pub(crate) fn by_work(
        length: usize,
        unit: usize,
        parts: usize,
        unit_multiply_adds: usize,
        min_units: usize,
    ) -> Self {
        let units = CHUNK_MULTIPLY_ADDS / unit_multiply_adds.max(1);
        let even_share = length.div_ceil(unit).div_ceil(parts);
        Self::new(length, unit, parts, units.max(min_units).min(even_share))
    }

    /// `0..length` in `parts` shares of whole units of `unit`, each share one
    /// chunk (which only a thread that finds the part unclaimed can take).
    pub(crate) fn whole_shares(length: usize, unit: usize, parts: usize) -> Self {
        Self::new(length, unit, parts, length.div_ceil(unit).div_ceil(parts))
    }

    /// `0..length` in `parts` shares of whole chunks, each chunk
    /// `chunk_units` units of `unit` (the last chunk may be shorter).
    fn new(length: usize, unit: usize, parts: usize, chunk_units: usize) -> Self {
        let chunk_length = unit * chunk_units.max(1);
        let chunks = length.div_ceil(chunk_length);
        assert!(chunks <= u32::MAX as usize, "{chunks} chunks do not fit");
        let share = |part| {
            let share = tile_share(chunks, 1, parts, part);
            AtomicU64::new(((share.start as u64) << 32) | share.end as u64)
        };
        let mut inline = [const { AtomicU64::new(0) }; INLINE_PARTS];
        let mut shares = Vec::new();
        if parts <= INLINE_PARTS {
            inline[..parts]
                .iter_mut()
                .enumerate()
                .for_each(|(part, s)| *s = share(part));
        } else {
            shares = (0..parts).map(share).collect();
        }
        Chunks {
            length,
            chunk_length,
            parts,
            inline,
            shares,
        }
    }

    /// The length of the longest chunk.
    pub(crate) fn longest(&self) -> usize {
        self.chunk_length.min(self.length)
    }

    fn shares(&self) -> &[AtomicU64] {
        if self.parts <= INLINE_PARTS {
            &self.inline[..self.parts]
        } else {
            &self.shares
        }
    }

    /// The next range of `0..length` for the thread running `part`: the
    /// front chunk of its own share, or once that is done, the back chunk of
    /// the next share with any left. `None` when every chunk is claimed.
    pub(crate) fn next(&self, part: usize) -> Option<Range<usize>> {
        let shares = self.shares();
        let parts = shares.len();
        let chunk = claim(&shares[part], End::Front).or_else(|| {
            (1..parts).find_map(|offset| claim(&shares[(part + offset) % parts], End::Back))
        })?;
        let start = chunk * self.chunk_length;
        Some(start..(start + self.chunk_length).min(self.length))
    }
}

#[derive(Clone, Copy)]
enum End {
    Front,
    Back,
}

/// Claims one chunk from `end` of `share`, if any is left.
fn claim(share: &AtomicU64, end: End) -> Option<usize> {
    let mut word = share.load(Ordering::Relaxed);
    loop {
        let (front, back) = (word >> 32, word & 0xffff_ffff);
        if front >= back {
            return None;
        }
        let (claimed, next) = match end {
            End::Front => (front, word + (1 << 32)),
            End::Back => (back - 1, word - 1),
        };
        // Relaxed is enough: a chunk's range is all the claim carries, and
        // the pool's hand-over orders the task's data for every thread.
        match share.compare_exchange_weak(word, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Some(claimed as usize),
            Err(now) => word = now,
        }
    }
}

/// Part `part` of `parts` of `0..length`, cut on multiples of `unit` (whole
/// tiles) as evenly as whole tiles allow, the later parts taking the extra
/// tiles.
pub(crate) fn tile_share(length: usize, unit: usize, parts: usize, part: usize) -> Range<usize> {
    let units = length.div_ceil(unit);
    let start = (units * part / parts * unit).min(length);
    let end = (units * (part + 1) / parts * unit).min(length);
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn drain(chunks: &Chunks, part: usize) -> Vec<Range<usize>> {
        std::iter::from_fn(|| chunks.next(part)).collect()
    }

    #[test]
    fn a_part_takes_its_own_share_front_to_back_then_the_others_from_their_back() {
        // 100 in units of 6: 17 units, chunks of 2 units (12): 9 chunks,
        // shares of 4 (part 0) and 5 (part 1).
        let chunks = Chunks::new(100, 6, 2, 2);
        assert_eq!(chunks.next(0), Some(0..12));
        assert_eq!(chunks.next(1), Some(48..60));
        assert_eq!(chunks.next(0), Some(12..24));
        assert_eq!(chunks.next(0), Some(24..36));
        assert_eq!(chunks.next(0), Some(36..48));
        // Part 0's share is done: it takes part 1's last chunk (short, as
        // 100 is not a multiple of 12), then the one before.
        assert_eq!(chunks.next(0), Some(96..100));
        assert_eq!(chunks.next(0), Some(84..96));
        assert_eq!(chunks.next(1), Some(60..72));
        assert_eq!(chunks.next(1), Some(72..84));
        assert_eq!(chunks.next(1), None);
        assert_eq!(chunks.next(0), None);
    }

    #[test]
    fn parts_beyond_the_chunks_get_empty_shares() {
        // One chunk for four parts: only the last has a share, and any part
        // takes it from there.
        let chunks = Chunks::new(10, 4, 4, 4);
        assert_eq!(chunks.next(0), Some(0..10));
        assert!((0..4).all(|part| chunks.next(part).is_none()));
    }

    #[test]
    fn chunks_by_work_are_never_more_than_an_even_share() {
        // 300 rows in tiles of 6 (50 units) at 2^10 multiply-adds a unit
        // would make one chunk of 1024 units: capped at 25, half each.
        let chunks = Chunks::by_work(300, 6, 2, 1 << 10, 1);
        assert_eq!(chunks.next(0), Some(0..150));
        assert_eq!(chunks.next(1), Some(150..300));
        // At 2^18 a unit, 4 units (24 rows) a chunk; with a minimum of 5, 5.
        assert_eq!(Chunks::by_work(300, 6, 2, 1 << 18, 1).next(0), Some(0..24));
        assert_eq!(Chunks::by_work(300, 6, 2, 1 << 18, 5).next(0), Some(0..30));
        // Whole shares: one chunk each.
        let chunks = Chunks::whole_shares(100, 6, 2);
        assert_eq!(drain(&chunks, 0), [0..54, 54..100]);
    }

    #[test]
    fn a_part_alone_takes_every_chunk_and_each_once() {
        for (length, unit, parts, chunk_units) in [
            (1, 1, 1, 1),
            (784, 32, 2, 1),
            (100, 4, 3, 4),
            (999, 1, 40, 7),
        ] {
            let chunks = Chunks::new(length, unit, parts, chunk_units);
            let mut covered = vec![0; length];
            for range in drain(&chunks, parts - 1) {
                assert!(range.start % unit == 0 && !range.is_empty());
                covered[range].iter_mut().for_each(|c| *c += 1);
            }
            assert!(covered.iter().all(|&c| c == 1));
            assert!((0..parts).all(|part| chunks.next(part).is_none()));
        }
    }

    #[test]
    fn threads_racing_for_chunks_cover_the_length_exactly_once() {
        for _ in 0..200 {
            let (length, parts) = (997, 3);
            let chunks = Chunks::new(length, 3, parts, 2);
            let covered: Vec<AtomicUsize> = (0..length).map(|_| AtomicUsize::new(0)).collect();
            std::thread::scope(|scope| {
                for part in 0..parts {
                    let (chunks, covered) = (&chunks, &covered);
                    scope.spawn(move || {
                        while let Some(range) = chunks.next(part) {
                            range.for_each(|i| {
                                covered[i].fetch_add(1, Ordering::Relaxed);
                            });
                        }
                    });
                }
            });
            assert!(covered.iter().all(|c| c.load(Ordering::Relaxed) == 1));
        }
    }
}
