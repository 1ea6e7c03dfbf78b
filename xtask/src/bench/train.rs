//! `cargo xtask bench train`: full MNIST epochs of issue 6's two networks,
//! timed the way users run them, through the trainer binary, at 1 thread and
//! at all threads; with `--compare`, the same workloads in numpy and PyTorch.
//!
//! The trainer is built with `cargo build --release -p trainer` and run as
//! `trainer train ... --val-split 0 --json`; its JSON gives each epoch's
//! training seconds (evaluation excluded), from which the median epoch is
//! taken, as `mlp.py` does for the peers. Peak memory is the child's
//! `VmHWM` (peak resident set), polled from `/proc/PID/status`.
//!
//! For reruns, `TRAIN_ONLY=a` limits the networks and `TRAIN_THREADS=2` the
//! thread counts.

use super::networks::{self, Network, PeerResult, NETWORKS, PEERS};
use super::quiet;
use crate::report::{self, BenchOptions};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn run(options: &BenchOptions) -> Result<Vec<Value>, String> {
    let trainer = build_trainer()?;
    let mut rows = Vec::new();
    for network in NETWORKS
        .iter()
        .filter(|n| networks::selected("TRAIN_ONLY", n.name))
    {
        let epochs = if options.quick { 1 } else { network.epochs };
        for threads in networks::thread_counts()
            .into_iter()
            .filter(|t| networks::selected("TRAIN_THREADS", &t.to_string()))
        {
            // One-thread runs, ours and the peers', on one core (see
            // `report::on_one_core`).
            let row = report::on_one_core(threads == 1, || -> Result<Value, String> {
                let ours = run_trainer(&trainer, network, threads, epochs)?;
                let mut row = json!({
                    "bench": "train",
                    "network": network.name,
                    "layers": network.shape(),
                    "optimizer": network.optimizer,
                    "batch": network.batch,
                    "threads": threads,
                    "epochs": epochs,
                    "seconds_per_epoch": ours.seconds_per_epoch,
                    "samples_per_second": ours.samples_per_second,
                    "gflops": ours.samples_per_second * network.training_flops_per_sample() / 1e9,
                    "percent_of_peak": 100.0 * ours.samples_per_second
                        * network.training_flops_per_sample() / 1e9 / networks::peak_gflops(threads),
                    "peak_memory_mb": ours.peak_memory_mb,
                    "test_accuracy": ours.test_accuracy,
                    "others_cpu_percent": ours.others_cpu_percent,
                    "core_to_core_ns": ours.core_to_core_ns,
                });
                if options.compare {
                    for framework in PEERS {
                        attach_peer(&mut row, framework, network, threads, epochs);
                    }
                }
                Ok(row)
            })?;
            rows.push(row);
        }
    }
    print_table(&rows);
    Ok(rows)
}

/// What one trainer run measured.
struct TrainerRun {
    seconds_per_epoch: f64,
    samples_per_second: f64,
    test_accuracy: f64,
    peak_memory_mb: Option<f64>,
    /// Percent of the machine's CPU other processes used during the run.
    others_cpu_percent: Option<f64>,
    /// [`report::core_to_core_round_trip_ns`] just before and just after
    /// the run, averaged (multi-thread runs only).
    core_to_core_ns: Option<f64>,
}

/// Builds the trainer in release mode and returns the binary's path.
fn build_trainer() -> Result<PathBuf, String> {
    let root = report::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--release", "--quiet", "-p", "trainer"])
        .current_dir(&root)
        .status()
        .map_err(|e| format!("could not run {cargo} build -p trainer: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build --release -p trainer failed: {status}"));
    }
    let binary = root
        .join("target/release/trainer")
        .with_extension(std::env::consts::EXE_EXTENSION);
    if binary.exists() {
        Ok(binary)
    } else {
        Err(format!("{} was not built", binary.display()))
    }
}

/// Trains `network` for `epochs` epochs on `threads` threads with the
/// trainer binary and reads back its JSON report.
fn run_trainer(
    trainer: &Path,
    network: &Network,
    threads: usize,
    epochs: usize,
) -> Result<TrainerRun, String> {
    let out = report::workspace_root().join(format!(
        "target/bench/runs/train-{}-{threads}t",
        network.name
    ));
    let layers: Vec<String> = network.sizes.iter().map(usize::to_string).collect();
    let mut command = Command::new(trainer);
    command
        .arg("train")
        .args(["--layers", &layers.join(",")])
        .args(["--activation", "relu", "--init", "he"])
        .args(["--optimizer", network.optimizer])
        .args(["--lr", &network.lr.to_string()])
        // Every setting the peers do not have is switched off explicitly,
        // so no preset default (a cosine schedule, pixel shifts) slips in.
        .args(["--schedule", "constant", "--weight-decay", "0"])
        .args(["--dropout", "0", "--augment", "0"])
        .args(["--batch-size", &network.batch.to_string()])
        .args(["--epochs", &epochs.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--val-split", "0", "--seed", "1", "--json"])
        .arg("--out")
        .arg(&out)
        .current_dir(report::workspace_root());
    let shown = format!("{command:?}");
    quiet::wait_for_quiet(&format!(
        "training ({}) on {threads} thread(s)",
        network.name
    ));
    let round_trip = || {
        (threads > 1)
            .then(report::core_to_core_round_trip_ns)
            .flatten()
    };
    let round_trip_before = round_trip();
    let watched = quiet::run_watched(&mut command)
        .map_err(|e| format!("running the trainer ({shown}): {e}"))?;
    let core_to_core_ns = round_trip_before
        .zip(round_trip())
        .map(|(before, after)| (before + after) / 2.0);
    let (stdout, stderr) = (&watched.stdout, &watched.stderr);
    if !watched.status.success() {
        return Err(format!(
            "the trainer ({shown}) exited with {}: {}",
            watched.status,
            stderr.lines().last().unwrap_or("")
        ));
    }
    let report: Value = serde_json::from_str(stdout.trim()).map_err(|e| {
        format!(
            "the trainer printed something other than one JSON object ({e}); its stderr ends: {}",
            stderr.lines().last().unwrap_or("")
        )
    })?;
    let history = report["history"]
        .as_array()
        .ok_or("the trainer's JSON has no \"history\" array")?;
    let epoch_seconds: Vec<f64> = history
        .iter()
        .filter_map(|epoch| epoch["seconds"].as_f64())
        .collect();
    let samples_per_epoch: Vec<f64> = history
        .iter()
        .filter_map(|epoch| {
            Some(epoch["seconds"].as_f64()? * epoch["samples_per_second"].as_f64()?)
        })
        .collect();
    let seconds_per_epoch = networks::median(&epoch_seconds)
        .ok_or("the trainer's JSON history has no epoch with \"seconds\"")?;
    let samples = samples_per_epoch
        .first()
        .ok_or("the trainer's JSON history has no epoch with samples_per_second")?
        .round();
    Ok(TrainerRun {
        seconds_per_epoch,
        samples_per_second: samples / seconds_per_epoch,
        test_accuracy: report["test_accuracy"]
            .as_f64()
            .ok_or("the trainer's JSON has no \"test_accuracy\"")?,
        peak_memory_mb: watched.peak_kib.map(|kib| kib as f64 * 1024.0 / 1e6),
        others_cpu_percent: watched.others_percent,
        core_to_core_ns,
    })
}

/// Runs the peer's training workload and adds `FRAMEWORK_samples_per_second`,
/// `FRAMEWORK_peak_memory_mb`, `FRAMEWORK_test_accuracy` and
/// `ours_over_FRAMEWORK` to `row`, or `FRAMEWORK_skipped` with the reason.
fn attach_peer(row: &mut Value, framework: &str, network: &Network, threads: usize, epochs: usize) {
    match networks::run_peer(framework, network, "train", threads, epochs) {
        PeerResult::Measured(peer) => {
            let theirs = peer["samples_per_second"].as_f64();
            let ours = row["samples_per_second"].as_f64();
            row[format!("{framework}_samples_per_second")] = json!(theirs);
            row[format!("{framework}_seconds_per_epoch")] = peer["seconds_per_epoch"].clone();
            row[format!("{framework}_peak_memory_mb")] = peer["peak_memory_mb"].clone();
            row[format!("{framework}_test_accuracy")] = peer["test_accuracy"].clone();
            row[format!("{framework}_others_cpu_percent")] = peer["others_cpu_percent"].clone();
            if let (Some(ours), Some(theirs)) = (ours, theirs) {
                row[format!("ours_over_{framework}")] = json!(ours / theirs);
            }
        }
        PeerResult::Skipped(reason) => {
            eprintln!(
                "xtask bench train: {framework} skipped for ({}, {threads} threads): {reason}",
                network.name
            );
            row[format!("{framework}_skipped")] = json!(reason);
        }
    }
}

fn print_table(rows: &[Value]) {
    println!("## train (`cargo xtask bench train`)\n");
    println!(
        "Full MNIST epochs (60,000 images) through `target/release/trainer train --json`; \
         the median epoch's training time (evaluation excluded). GFLOP/s counts the GEMM work \
         of a step (forward, dW, dX but the first layer's); % is of the measured FP32 peak for \
         the threads used. Memory is the process's peak resident set. core-core ns is the \
         round trip of a cache line between the two cores around the run (see the machine \
         header): multi-thread figures drop as it rises."
    );
    let compared = rows.iter().any(|row| {
        PEERS
            .iter()
            .any(|p| row.get(format!("ours_over_{p}")).is_some())
    });
    if compared {
        println!(
            "numpy and PyTorch run `xtask/peers/mlp.py` in the same session with the same \
             network, batch, optimizer and thread count (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE \
             unset for them); the 1-thread runs of all three on the same core."
        );
    }
    println!();
    let mut header = String::from(
        "| net | threads | core-core ns | s/epoch | samples/s | GFLOP/s | % peak | peak MB | test acc |",
    );
    let mut rule = String::from("|:--|--:|--:|--:|--:|--:|--:|--:|--:|");
    if compared {
        header.push_str(" numpy samples/s | torch samples/s | ours/numpy | ours/torch |");
        rule.push_str("--:|--:|--:|--:|");
    }
    println!("{header}\n{rule}");
    for row in rows {
        let number = |key: &str, digits: usize| {
            row[key]
                .as_f64()
                .map_or("-".to_string(), |v| format!("{v:.digits$}"))
        };
        let mut line = format!(
            "| ({}) {} {} B={}{} | {} | {} | {} | {} | {} | {}% | {} | {} |",
            row["network"].as_str().unwrap_or(""),
            row["layers"].as_str().unwrap_or(""),
            row["optimizer"].as_str().unwrap_or(""),
            row["batch"],
            if networks::disturbed(row) { " (!)" } else { "" },
            row["threads"],
            number("core_to_core_ns", 0),
            number("seconds_per_epoch", 3),
            number("samples_per_second", 0),
            number("gflops", 1),
            number("percent_of_peak", 0),
            number("peak_memory_mb", 0),
            row["test_accuracy"]
                .as_f64()
                .map_or("-".into(), |a| format!("{:.2}%", 100.0 * a)),
        );
        if compared {
            line.push_str(&format!(
                " {} | {} | {} | {} |",
                number("numpy_samples_per_second", 0),
                number("torch_samples_per_second", 0),
                ratio(row, "numpy"),
                ratio(row, "torch"),
            ));
        }
        println!("{line}");
    }
    if let Some(note) = networks::disturbed_note(rows) {
        println!("\n{note}");
    }
    println!();
}

/// `2.41x`, or `-` when the peer was skipped.
pub fn ratio(row: &Value, framework: &str) -> String {
    row[format!("ours_over_{framework}")]
        .as_f64()
        .map_or("-".into(), |r| format!("{r:.2}x"))
}
