//! The bundled MNIST: checksums of the uncompressed files (independent of
//! our reader), known class counts, and our loader against the raw bytes.

mod common;

use common::sha256::sha256_hex;
use common::{bundled_mnist_dir, gunzip};
use mnist_data::{Batch, BatchOptions, Batches, MnistSet, Pixels, Split};

/// From `shared/data/mnist/SHA256SUMS` (also in `data/README.md`).
const SHA256SUMS: [(&str, &str); 4] = [
    (
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
    (
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    (
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
];

fn raw(name: &str) -> Vec<u8> {
    let path = bundled_mnist_dir().join(format!("{name}.gz"));
    gunzip(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

#[test]
fn bundled_files_match_checksums_and_the_loader_returns_their_bytes() {
    let raw_files: Vec<(&str, Vec<u8>)> = SHA256SUMS
        .iter()
        .map(|&(name, sum)| {
            let bytes = raw(name);
            assert_eq!(sha256_hex(&bytes), sum, "{name}");
            (name, bytes)
        })
        .collect();
    let set = MnistSet::load_dir(bundled_mnist_dir(), None).unwrap();

    // The loader returns exactly the payload after each 16- or 8-byte header.
    assert_eq!(set.test.images(), &raw_files[0].1[16..]);
    assert_eq!(set.test.labels(), &raw_files[1].1[8..]);
    assert_eq!(set.train.images(), &raw_files[2].1[16..]);
    assert_eq!(set.train.labels(), &raw_files[3].1[8..]);

    assert_eq!((set.train.len(), set.test.len()), (60_000, 10_000));
    assert_eq!(set.train.image_shape(), (28, 28));
    assert_eq!((set.train.classes(), set.test.classes()), (10, 10));

    let train_counts = set.train.class_histogram();
    assert_eq!(train_counts[0], 5923);
    assert_eq!(train_counts[1], 6742);
    assert_eq!(train_counts.iter().sum::<usize>(), 60_000);
    assert_eq!(set.test.class_histogram()[0], 980);

    // The tutorials' normalisation constants, 0.1307 and 0.3081.
    let stats = set.train.pixel_stats();
    assert!((stats.mean - 0.1307).abs() < 5e-5, "mean {}", stats.mean);
    assert!((stats.std - 0.3081).abs() < 5e-5, "std {}", stats.std);

    let summary = set.train.summary().to_string();
    assert!(
        summary.starts_with("60000 images of 28x28 pixels, 10 classes"),
        "{summary}"
    );
    assert!(summary.contains(" 0:5923 1:6742 "), "{summary}");

    // The first training image is a 5: ink in the middle rows, blank borders.
    assert_eq!(set.train.label(0), 5);
    let art = set.train.render_ascii(0);
    let lines: Vec<&str> = art.lines().collect();
    assert_eq!(lines.len(), 28);
    // Two characters a pixel: square pixels in a terminal's 1:2 cells.
    assert!(lines.iter().all(|l| l.len() == 56));
    assert_eq!(lines[0].trim(), "");
    assert!(lines[10].contains('@'), "{art}");

    // Hold out the last 5,000 and batch the rest in shuffled order.
    let (train, validation) = set.train.split(Split::Last(5_000)).unwrap();
    assert_eq!((train.len(), validation.len()), (55_000, 5_000));
    assert_eq!(
        validation.image(0),
        &raw_files[2].1[16 + 55_000 * 784..16 + 55_001 * 784]
    );
    let options = BatchOptions {
        batch_size: 1000,
        shuffle_seed: Some(1),
        pixels: Pixels::Scaled,
        ..BatchOptions::default()
    };
    let mut batches = Batches::new(&train, options).unwrap();
    let mut batch = Batch::new();
    let mut seen = vec![false; train.len()];
    while batches.next_batch(&mut batch) {
        for (row, &index) in batch.indices().iter().enumerate() {
            assert!(!std::mem::replace(&mut seen[index], true));
            let expected: Vec<f32> = train
                .image(index)
                .iter()
                .map(|&p| p as f32 / 255.0)
                .collect();
            assert_eq!(batch.images().row(row), &expected[..]);
        }
    }
    assert!(seen.iter().all(|&s| s));
}
