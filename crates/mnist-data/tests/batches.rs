//! Mini-batch behaviour against naive references: coverage, reproducible
//! per-epoch shuffles, resuming, dropping the last batch, pixel conversion
//! and one-hot labels.

use mnist_data::{epoch_order, Batch, BatchOptions, Batches, Dataset, Pixels};

fn small_set(count: usize) -> Dataset {
    let images: Vec<u8> = (0..count * 6).map(|i| (i * 31 % 256) as u8).collect();
    let labels: Vec<u8> = (0..count).map(|i| (i * 7 % 5) as u8).collect();
    Dataset::new(images, labels, (2, 3), None).unwrap()
}

/// Every batch of one epoch, as (indices, labels, images) copies.
fn epoch(batches: &mut Batches<'_>) -> Vec<(Vec<usize>, Vec<usize>, Vec<f32>)> {
    let mut batch = Batch::new();
    let mut out = Vec::new();
    while batches.next_batch(&mut batch) {
        out.push((
            batch.indices().to_vec(),
            batch.labels().to_vec(),
            batch.images().as_slice().to_vec(),
        ));
    }
    out
}

#[test]
fn an_epoch_is_the_seeded_order_cut_into_batches() {
    let set = small_set(23);
    let options = BatchOptions {
        batch_size: 5,
        shuffle_seed: Some(11),
        ..BatchOptions::default()
    };
    let mut batches = Batches::new(&set, options).unwrap();
    assert_eq!(batches.batches_per_epoch(), 5);
    for e in [0u64, 1, 7] {
        batches.start_epoch(e);
        let got = epoch(&mut batches);
        let order = epoch_order(23, 11, e);
        let sizes: Vec<usize> = got.iter().map(|b| b.0.len()).collect();
        assert_eq!(sizes, [5, 5, 5, 5, 3]);
        let flat: Vec<usize> = got.iter().flat_map(|b| b.0.clone()).collect();
        assert_eq!(flat, order, "epoch {e}");
        for (indices, labels, images) in &got {
            for (row, &i) in indices.iter().enumerate() {
                assert_eq!(labels[row], set.label(i) as usize);
                for (c, &p) in set.image(i).iter().enumerate() {
                    assert_eq!(images[row * 6 + c], p as f32 / 255.0);
                }
            }
        }
    }
    assert_ne!(epoch_order(23, 11, 0), epoch_order(23, 11, 1));
    assert_ne!(epoch_order(23, 11, 0), epoch_order(23, 12, 0));
}

#[test]
fn every_byte_converts_to_its_quotient_by_255_in_wide_images_too() {
    // Rows of 37 pixels: the conversion's vector loop (8 or 4 lanes) and its
    // scalar tail both run, and the 8 images hold all 256 byte values, each
    // of which must come out as the correctly rounded p / 255.
    let pixels = 37;
    let images: Vec<u8> = (0..pixels * 8).map(|i| (i * 7 % 256) as u8).collect();
    let set = Dataset::new(images, vec![0; 8], (1, pixels), None).unwrap();
    let options = BatchOptions {
        batch_size: 8,
        shuffle_seed: Some(3),
        ..BatchOptions::default()
    };
    let mut batches = Batches::new(&set, options).unwrap();
    let mut batch = Batch::new();
    assert!(batches.next_batch(&mut batch));
    let mut seen = [false; 256];
    for (row, &i) in batch.indices().iter().enumerate() {
        for (c, &p) in set.image(i).iter().enumerate() {
            let want = (f64::from(p) / 255.0) as f32;
            assert_eq!(batch.images()[(row, c)], want, "pixel {p}");
            seen[p as usize] = true;
        }
    }
    assert!(seen.iter().all(|&s| s));
}

#[test]
fn epoch_k_does_not_depend_on_what_was_drawn_before() {
    let set = small_set(40);
    let options = BatchOptions {
        batch_size: 8,
        shuffle_seed: Some(5),
        ..BatchOptions::default()
    };
    // Run A: epochs 0, 1, 2 in full. Run B: one batch of epoch 0, then 2.
    let mut a = Batches::new(&set, options).unwrap();
    epoch(&mut a);
    a.start_epoch(1);
    epoch(&mut a);
    a.start_epoch(2);
    let from_a = epoch(&mut a);
    let mut b = Batches::new(&set, options).unwrap();
    b.next_batch(&mut Batch::new());
    b.start_epoch(2);
    assert_eq!(epoch(&mut b), from_a);

    // Resume mid-epoch: skipping 2 batches gives the rest of the same epoch.
    let mut c = Batches::new(&set, options).unwrap();
    c.start_epoch(2);
    c.skip_batches(2);
    assert_eq!(epoch(&mut c), from_a[2..]);
}

#[test]
fn without_a_seed_the_order_is_the_sets_and_drop_last_drops_the_short_batch() {
    let set = small_set(10);
    let options = BatchOptions {
        batch_size: 4,
        drop_last: true,
        ..BatchOptions::default()
    };
    let mut batches = Batches::new(&set, options).unwrap();
    assert_eq!(batches.batches_per_epoch(), 2);
    let got = epoch(&mut batches);
    let indices: Vec<Vec<usize>> = got.into_iter().map(|b| b.0).collect();
    assert_eq!(indices, [vec![0, 1, 2, 3], vec![4, 5, 6, 7]]);

    let zero = BatchOptions {
        batch_size: 0,
        ..BatchOptions::default()
    };
    assert!(Batches::new(&set, zero).is_err());
    // Batches larger than the set: one short batch, or none when dropped.
    let big = BatchOptions {
        batch_size: 64,
        ..BatchOptions::default()
    };
    assert_eq!(epoch(&mut Batches::new(&set, big).unwrap()).len(), 1);
    let big_dropped = BatchOptions {
        drop_last: true,
        ..big
    };
    assert_eq!(
        epoch(&mut Batches::new(&set, big_dropped).unwrap()).len(),
        0
    );
}

#[test]
fn standardized_pixels_and_one_hot_match_naive_formulas() {
    let set = small_set(9);
    let stats = set.pixel_stats();
    let options = BatchOptions {
        batch_size: 4,
        shuffle_seed: Some(3),
        pixels: Pixels::Standardized(stats),
        one_hot: true,
        ..BatchOptions::default()
    };
    let mut batches = Batches::new(&set, options).unwrap();
    let mut batch = Batch::new();
    let mut total = 0.0f64;
    while batches.next_batch(&mut batch) {
        let one_hot = batch.one_hot().unwrap();
        assert_eq!(one_hot.shape(), (batch.len(), 5));
        assert_eq!(batch.image_shape(), (2, 3));
        for (row, &i) in batch.indices().iter().enumerate() {
            for class in 0..5 {
                let expected = if class == set.label(i) as usize {
                    1.0
                } else {
                    0.0
                };
                assert_eq!(one_hot[(row, class)], expected);
            }
            for (c, &p) in set.image(i).iter().enumerate() {
                let expected = (p as f64 / 255.0 - stats.mean) / stats.std;
                let got = batch.images().row(row)[c] as f64;
                assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
                total += got;
            }
        }
    }
    // Standardised with its own statistics, the set has mean ~0.
    assert!((total / 54.0).abs() < 1e-5, "mean {}", total / 54.0);
    let scaled = BatchOptions::default();
    let mut batches = Batches::new(&set, scaled).unwrap();
    assert!(batches.next_batch(&mut batch));
    assert!(batch.one_hot().is_none());
}

#[test]
fn big_batches_shared_out_over_threads_are_the_naive_conversion() {
    // 160-row batches are split over the pool's threads (32 rows or more
    // each); the last batch (90 rows) too. Whatever the thread count, every
    // row must be its image's converted pixels, in its shuffled place.
    let set = small_set(410);
    let stats = set.pixel_stats();
    let threads_before = tensor::threads();
    for pixels in [Pixels::Scaled, Pixels::Standardized(stats)] {
        let options = BatchOptions {
            batch_size: 160,
            shuffle_seed: Some(11),
            pixels,
            ..BatchOptions::default()
        };
        let convert = |p: u8| match pixels {
            Pixels::Scaled => p as f64 / 255.0,
            Pixels::Standardized(s) => (p as f64 / 255.0 - s.mean) / s.std,
        };
        let mut one_thread = None;
        for threads in [1, 2, 3, 5] {
            tensor::set_threads(threads);
            let mut batches = Batches::new(&set, options).unwrap();
            let batches = epoch(&mut batches);
            assert_eq!(batches.len(), 3);
            for (indices, _, images) in &batches {
                for (row, &i) in indices.iter().enumerate() {
                    for (c, &p) in set.image(i).iter().enumerate() {
                        let got = images[row * 6 + c] as f64;
                        let close = (got - convert(p)).abs() < 1e-6;
                        assert!(close, "{pixels:?}, {threads} threads: {got} for pixel {p}");
                    }
                }
            }
            match &one_thread {
                None => one_thread = Some(batches),
                Some(first) => assert_eq!(first, &batches, "{pixels:?}, {threads} threads"),
            }
        }
    }
    tensor::set_threads(threads_before);
}
