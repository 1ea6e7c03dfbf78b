//! Batches allocate nothing in steady state: after the first batch has sized
//! the caller's buffers, whole epochs (shuffled, standardised, one-hot, with
//! a short last batch) run without a single allocation on this thread.

mod common;

use common::counting_alloc::{allocations, CountingAlloc};
use mnist_data::{Batch, BatchOptions, Batches, Dataset, Pixels};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
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

    // The counter is live: an allocation on this thread is seen.
    let v = std::hint::black_box(vec![1u8; 10]);
    assert_eq!(allocations() - after, 1);
    drop(v);
}
