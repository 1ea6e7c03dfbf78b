//! The `trainer` binary against hostile or absurd input (issue 21): huge
//! numbers, closed pipes, files that never end, signals. Each test failed
//! before the fix it guards.

mod common;

use common::*;
use std::process::Stdio;

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

/// Runs `args` with stdout a pipe whose reader is gone before anything is
/// written: the program must stop quietly with 141, as `cat` does.
fn assert_quiet_on_a_closed_pipe(args: &[&str]) {
    let mut child = trainer()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(141), "{args:?}: {stderr}");
    assert_eq!(stderr, "", "{args:?}");
}

#[test]
fn a_reader_closing_the_pipe_early_ends_the_command_quietly() {
    // println! panicked with "Broken pipe" (exit 101).
    let dir = temp_dir("closed-pipe");
    let out = dir.join("run");
    let model = out.join("model.safetensors");
    let args = ["train", "--limit", "300", "--epochs", "1"];
    assert_success(&run(&[&args[..], &["--out", path_arg(&out)]].concat()));
    assert_quiet_on_a_closed_pipe(&["data", "--limit", "50", "--show", "50"]);
    assert_quiet_on_a_closed_pipe(&["eval", "--model", path_arg(&model), "--limit", "100"]);
    assert_quiet_on_a_closed_pipe(&[
        "eval",
        "--model",
        path_arg(&model),
        "--limit",
        "100",
        "--json",
    ]);
    std::fs::remove_dir_all(dir).unwrap();
}
