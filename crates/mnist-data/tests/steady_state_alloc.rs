//! Batches allocate nothing in steady state: after the first batch has sized
//! the caller's buffers, whole epochs (shuffled, standardised, one-hot, with
//! a short last batch) run without a single allocation on any thread (a
//! batch of 64 rows is gathered on two threads where there are two cores).
//! This file is one program without libtest (see `main`), so nothing else
//! allocates meanwhile.

// Only the allocator from `common`: its other modules bring tests of their
// own, which would allocate while this one counts.
#[path = "common/counting_alloc.rs"]
#[allow(dead_code)] // `peak_bytes_during` serves fuzz.rs
mod counting_alloc;

use counting_alloc::{allocations, CountingAlloc};
use mnist_data::{Batch, BatchOptions, Batches, Dataset, Pixels};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Run without libtest (`harness = false` in Cargo.toml): its main thread
/// allocates when it gets round to it (seen under load, inside the counting
/// window), and the counter sees every thread.
fn main() {
    epochs_after_the_first_batch_allocate_nothing();
    println!("test epochs_after_the_first_batch_allocate_nothing ... ok");
}

fn epochs_after_the_first_batch_allocate_nothing() {
    // 1,000 images of 7x5 so the last batch (of 64) is short: 1000 = 15*64 + 40.
    let images: Vec<u8> = (0..1000 * 35).map(|i| (i * 7 % 256) as u8).collect();
    let labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
    let set = Dataset::new(images, labels, (7, 5), None).unwrap();
    let options = BatchOptions {
        batch_size: 64,
        shuffle_seed: Some(99),
        drop_last: false,
        pixels: Pixels::Standardized(set.pixel_stats()),
        one_hot: true,
    };
    tensor::set_threads(2);
    // A pool worker allocates once, early in its life: make every worker
    // run a part before counting (at most one per core beyond the first).
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
    let all_started = std::sync::Barrier::new(threads);
    tensor::parallel::for_each_part(&mut vec![(); threads], &|_| {
        all_started.wait();
    });
    let mut batches = Batches::new(&set, options).unwrap();
    let mut batch = Batch::new();
    assert!(batches.next_batch(&mut batch)); // sizes the buffers

    let before = allocations();
    let mut rows = 0;
    for epoch in 0..3 {
        batches.start_epoch(epoch);
        while batches.next_batch(&mut batch) {
            rows += batch.len();
            // Touch the results so nothing is optimised away.
            assert_eq!(batch.one_hot().unwrap().shape(), (batch.len(), 10));
        }
    }
    let after = allocations();
    assert_eq!(rows, 3000);
    assert_eq!(batch.len(), 40, "the last batch is the short one");
    assert_eq!(after - before, 0, "batches allocated in steady state");

    // The counter is live: an allocation on another thread is seen.
    std::thread::scope(|scope| {
        scope.spawn(|| drop(std::hint::black_box(vec![1u8; 10])));
    });
    assert!(allocations() > after);
}
