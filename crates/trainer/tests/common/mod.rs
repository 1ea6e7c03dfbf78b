//! Helpers for the end-to-end tests that run the `trainer` binary.

#![allow(dead_code)] // each test file uses its own share

pub mod http_client; // requests to `trainer serve` and to chromedriver
pub mod pictures; // what the page sends
pub mod server; // `trainer serve` in the background
pub mod webdriver; // headless Chromium

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn trainer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
}

pub fn run(args: &[&str]) -> Output {
    trainer().args(args).output().expect("trainer runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh, empty folder for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trainer-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn path_arg(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Asserts a clean failure: the given exit code, one line on stderr
/// starting with "error:" and containing each of `expected`, no panic.
pub fn assert_clean_failure(output: &Output, code: i32, expected: &[&str]) -> String {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    for part in expected {
        assert!(stderr.contains(part), "{part:?} missing from: {stderr}");
    }
    stderr
}

/// Asserts success and returns stdout.
pub fn assert_success(output: &Output) -> String {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    text(&output.stdout)
}

/// Runs `args`, killing the program if it takes longer than `seconds`
/// (then the test fails: the program hung or read without end).
pub fn run_with_timeout(args: &[&str], seconds: u64) -> Output {
    let mut child = trainer()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("trainer runs");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(seconds) {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "{args:?} still running after {seconds} s; stderr: {}",
                text(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Makes a FIFO at `path` (with `mkfifo`, as a person would).
pub fn make_fifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// A small trained model, for the tests that need one: `dir/run/model.safetensors`.
pub fn small_model(dir: &Path) -> PathBuf {
    train_one_epoch(&dir.join("run"), 300, &[])
}

/// Trains one epoch on the first `limit` images into the run folder `out`,
/// with `extra` flags; its `model.safetensors`.
pub fn train_one_epoch(out: &Path, limit: usize, extra: &[&str]) -> PathBuf {
    let limit = limit.to_string();
    let mut args = vec![
        "train",
        "--limit",
        &limit,
        "--epochs",
        "1",
        "--out",
        path_arg(out),
    ];
    args.extend_from_slice(extra);
    assert_success(&run(&args));
    out.join("model.safetensors")
}

/// An uncompressed u8 IDX file: magic, big-endian sizes, data.
pub fn write_idx(path: &Path, dims: &[u32], data: &[u8]) {
    let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

/// An IDX folder of `train` and `test` made-up 28x28 images (pixel and
/// label patterns, not digits: for tests of the plumbing).
pub fn idx_dir(dir: &Path, train: usize, test: usize) -> PathBuf {
    let dir = dir.join("idx");
    std::fs::create_dir_all(&dir).unwrap();
    for (prefix, count) in [("train", train), ("t10k", test)] {
        let pixels: Vec<u8> = (0..count * 784).map(|i| (i * 31 % 256) as u8).collect();
        let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
        let n = count as u32;
        write_idx(
            &dir.join(format!("{prefix}-images-idx3-ubyte")),
            &[n, 28, 28],
            &pixels,
        );
        write_idx(
            &dir.join(format!("{prefix}-labels-idx1-ubyte")),
            &[n],
            &labels,
        );
    }
    dir
}
