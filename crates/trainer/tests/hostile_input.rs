//! The `trainer` binary against hostile or absurd input (issue 21): huge
//! numbers, closed pipes, files that never end, signals. Each test failed
//! before the fix it guards.

mod common;

use common::*;

#[test]
fn the_largest_batch_size_trains_one_batch_per_epoch() {
    // `cursor + batch_size` overflowed in mnist-data's batcher (a panic, exit 101).
    let dir = temp_dir("huge-batch");
    let out = dir.join("run");
    let output = run(&[
        "train",
        "--batch-size",
        "18446744073709551615",
        "--limit",
        "2000",
        "--epochs",
        "1",
        "--out",
        path_arg(&out),
    ]);
    assert_success(&output);
    assert!(out.join("model.safetensors").is_file());
    std::fs::remove_dir_all(dir).unwrap();
}
