//! The example runs as a user runs it: its work is a function its `main` calls.

#[allow(dead_code)] // its `main` is for `cargo run --example inspect`
#[path = "../examples/inspect.rs"]
mod inspect;

use std::path::Path;

#[test]
fn the_inspect_example_describes_a_folder_an_idx_file_and_a_csv_file() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bundled = inspect::inspect(&here.join("../../data/mnist"), 0).unwrap();
    assert!(
        bundled.contains("60000") && bundled.contains("10000"),
        "{bundled}"
    );
    // The first training image of MNIST is a 5.
    assert!(bundled.contains("training image 0, label 5:"), "{bundled}");
    assert!(
        bundled
            .lines()
            .filter(|l| l.contains('#') || l.contains('@'))
            .count()
            > 5,
        "{bundled}"
    );

    let seeds = here.join("tests/corpus/seeds");
    let idx = inspect::inspect(&seeds.join("labels.idx"), 0).unwrap();
    assert!(idx.contains("IDX u8 array of shape"), "{idx}");
    let csv = inspect::inspect(&seeds.join("plain-28x28.csv"), 0).unwrap();
    assert!(!csv.trim().is_empty());
    let missing = inspect::inspect(&seeds.join("no-such-file.idx"), 0).unwrap_err();
    assert!(
        missing.to_string().contains("no-such-file.idx"),
        "{missing}"
    );
}
