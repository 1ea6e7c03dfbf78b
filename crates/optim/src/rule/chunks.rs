//! Sharing one large parameter's update between threads: matching
//! contiguous chunks of its value, gradient, scratch and buffers, one per
//! thread, each moved by the rule on its own.

use super::{UpdateRule, MAX_BUFFERS};
use tensor::parallel::part_range;

/// Parameters with fewer values than this are updated on the calling thread
/// alone; longer ones are cut into one chunk per thread ([`tensor::threads`]).
/// Handing chunks to the pool has a fixed cost, which a small update does
/// not repay; this is where splitting starts to pay for Adam and plain SGD
/// (`examples/split_threshold.rs`; figures in BENCHMARKS.md, "Measurements
/// behind the code"). Biases and the last layer of an MLP stay on the
/// calling thread.
pub(super) const SPLIT_MIN_VALUES: usize = 32 * 1024;

/// At most this many threads share one parameter: the chunks' views live in
/// a stack array of this length. More threads than this just use 16.
pub(super) const MAX_PARTS: usize = 16;

/// Chunk boundaries fall on multiples of 16 values, one 64-byte cache line,
/// so two threads never write the same line.
pub(super) const CHUNK_ALIGN: usize = 16;

/// One thread's share of one parameter's update: matching ranges of the
/// value, the gradient, the scratch gradient and each buffer.
#[derive(Default)]
pub(super) struct Chunk<'a> {
    value: &'a mut [f32],
    grad: &'a [f32],
    /// Where the clipped, decayed gradient goes when it differs from `grad`.
    grad_scratch: &'a mut [f32],
    buffers: [&'a mut [f32]; MAX_BUFFERS],
    buffer_count: usize,
}

impl Chunk<'_> {
    /// Feeds the rule `grad_scale * grad + l2 * value` (written to the
    /// scratch unless it is `grad` itself) and lets it move the chunk.
    pub(super) fn update(&mut self, rule: &impl UpdateRule, step: u64, grad_scale: f32, l2: f32) {
        let grad: &[f32] = if grad_scale == 1.0 && l2 == 0.0 {
            self.grad
        } else {
            let scratch = (self.grad_scratch.iter_mut())
                .zip(self.grad)
                .zip(self.value.iter());
            for ((g, &raw), &p) in scratch {
                *g = grad_scale * raw + l2 * p;
            }
            self.grad_scratch
        };
        rule.update(
            step,
            self.value,
            grad,
            &mut self.buffers[..self.buffer_count],
        );
    }
}

/// Cuts one parameter into `chunks.len()` contiguous chunks, evenly and
/// aligned to [`CHUNK_ALIGN`]. `buffers` holds `buffer_count` buffers of
/// `value.len()` back to back, as a [`Slot`] keeps them.
pub(super) fn split_into_chunks<'a>(
    mut value: &'a mut [f32],
    mut grad: &'a [f32],
    mut grad_scratch: &'a mut [f32],
    mut buffers: &'a mut [f32],
    buffer_count: usize,
    chunks: &mut [Chunk<'a>],
) {
    let (len, parts) = (value.len(), chunks.len());
    let mut buffer_rests: [&mut [f32]; MAX_BUFFERS] = Default::default();
    for rest in &mut buffer_rests[..buffer_count] {
        (*rest, buffers) = std::mem::take(&mut buffers).split_at_mut(len);
    }
    for (part, chunk) in chunks.iter_mut().enumerate() {
        let n = part_range(len, parts, part, CHUNK_ALIGN).len();
        (chunk.value, value) = std::mem::take(&mut value).split_at_mut(n);
        (chunk.grad, grad) = grad.split_at(n);
        (chunk.grad_scratch, grad_scratch) = std::mem::take(&mut grad_scratch).split_at_mut(n);
        for (buffer, rest) in chunk
            .buffers
            .iter_mut()
            .zip(&mut buffer_rests[..buffer_count])
        {
            (*buffer, *rest) = std::mem::take(rest).split_at_mut(n);
        }
        chunk.buffer_count = buffer_count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each chunk gets matching ranges of the value, gradient, scratch and
    /// every buffer, and the chunks tile the parameter in order.
    #[test]
    fn chunks_hold_matching_ranges_that_tile_the_parameter() {
        for (len, parts, buffer_count) in [(1000, 3, 2), (17, 2, 1), (0, 2, 2), (100, 1, 0)] {
            // Every array holds its element's index, offset per array.
            let mut value: Vec<f32> = (0..len).map(|i| i as f32).collect();
            let grad: Vec<f32> = (0..len).map(|i| (10_000 + i) as f32).collect();
            let mut scratch: Vec<f32> = (0..len).map(|i| (20_000 + i) as f32).collect();
            let mut buffers: Vec<f32> = (0..buffer_count)
                .flat_map(|b| (0..len).map(move |i| (30_000 + 10_000 * b + i) as f32))
                .collect();
            let mut chunks: [Chunk<'_>; MAX_PARTS] = Default::default();
            let chunks = &mut chunks[..parts];
            split_into_chunks(
                &mut value,
                &grad,
                &mut scratch,
                &mut buffers,
                buffer_count,
                chunks,
            );
            let mut next = 0;
            for (part, chunk) in chunks.iter().enumerate() {
                assert_eq!(chunk.value.len(), part_range(len, parts, part, 16).len());
                assert_eq!(chunk.buffer_count, buffer_count);
                for (i, &v) in chunk.value.iter().enumerate() {
                    let index = next + i;
                    assert_eq!(v, index as f32);
                    assert_eq!(chunk.grad[i], (10_000 + index) as f32);
                    assert_eq!(chunk.grad_scratch[i], (20_000 + index) as f32);
                    for b in 0..buffer_count {
                        assert_eq!(chunk.buffers[b][i], (30_000 + 10_000 * b + index) as f32);
                    }
                }
                next += chunk.value.len();
            }
            assert_eq!(next, len);
        }
    }
}
