//! The packing buffers of a GEMM's parts, kept between calls so that a
//! steady-state GEMM allocates nothing, and the runner that hands each part
//! its own.

use crate::aligned::AlignedVec;
use crate::thread_pool;
use std::cell::RefCell;
use std::sync::{Mutex, TryLockError};

/// Runs `task(0, buffers)`, ..., `task(parts - 1, buffers)` on the pool (see
/// `thread_pool::run_parts`), each part with its own packing buffers.
pub(crate) fn run_parts_with_buffers(
    parts: usize,
    task: &(dyn Fn(usize, &mut PackBuffers) + Sync),
) {
    let by_part = match PART_BUFFERS.try_lock() {
        Ok(by_part) => Some(by_part),
        // A panic in an earlier GEMM cannot have left a buffer half-valid:
        // packing overwrites whatever it reads back.
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    };
    match by_part {
        Some(mut by_part) => {
            if by_part.len() < parts {
                by_part.resize_with(parts, Mutex::default);
            }
            let by_part = &*by_part;
            thread_pool::run_parts(parts, &|part| {
                // Each part is run once, so its lock is never contended.
                let mut buffers = by_part[part].lock().unwrap_or_else(|e| e.into_inner());
                task(part, &mut buffers);
            });
        }
        // Another GEMM is running (tests in parallel, or a GEMM inside a
        // `parallel` task): this one packs into its threads' own buffers.
        None => thread_pool::run_parts(parts, &|part| {
            BUFFERS.with(|buffers| task(part, &mut buffers.borrow_mut()));
        }),
    }
}

/// One part's packing buffers, grow-only: the packed A block and B block
/// (the dot-product path copies its columns of a plain B into `b`).
#[derive(Default)]
pub(crate) struct PackBuffers {
    pub(super) a: AlignedBuffer,
    pub(super) b: AlignedBuffer,
}

/// The packing buffers of part 0, part 1, ... of a GEMM, kept between calls
/// so steady-state GEMMs do not allocate. Owned by the part, not by the
/// thread that happens to claim it (see `thread_pool.rs`): which buffers
/// grow, and when, then depends only on the sequence of GEMMs, never on
/// which thread was quicker, so after one call of each shape nothing
/// allocates again.
static PART_BUFFERS: Mutex<Vec<Mutex<PackBuffers>>> = Mutex::new(Vec::new());

thread_local! {
    /// A thread's own buffers, for a GEMM that runs while another holds
    /// `PART_BUFFERS`.
    static BUFFERS: RefCell<PackBuffers> = RefCell::new(PackBuffers::default());
}

/// A grow-only `f32` buffer whose slices start on a 64-byte cache line, so
/// packed strips never straddle lines needlessly.
#[derive(Default)]
pub(crate) struct AlignedBuffer {
    storage: AlignedVec,
}

impl AlignedBuffer {
    pub(super) fn get(&mut self, len: usize) -> &mut [f32] {
        if self.storage.as_slice().len() < len {
            self.storage = AlignedVec::filled(len, 0.0);
        }
        &mut self.storage.as_mut_slice()[..len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
