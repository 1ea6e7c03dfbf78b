//! `cargo xtask bench train`: full MNIST epochs of issue 6's two networks,
//! and short epochs (the first images of the set) of issue 18's two CNNs,
//! timed the way users run them, through the trainer binary, at 1 thread and
//! at all threads; with `--compare`, the same workloads in numpy and PyTorch
//! (the MLPs, `xtask/peers/mlp.py`) or PyTorch (the CNNs, `cnn.py`).
//!
//! The trainer is built with `cargo build --release -p trainer` and run as
//! `trainer train ... --val-split 0 --json`; its JSON gives each epoch's
//! training seconds (evaluation excluded). Ours and the peers take turns in
//! rounds (see [`ROUNDS`]), and each side's figure is its median epoch over
//! all rounds. Peak memory is the child's `VmHWM` (peak resident set),
//! polled from `/proc/PID/status`.
//!
//! For reruns, `TRAIN_ONLY=a` limits the networks (`TRAIN_ONLY=pytorch-example,lenet5`
//! runs the CNN rows alone) and `TRAIN_THREADS=2` the thread counts;
//! `BENCH_QUIET_WAIT=15` shortens the wait for a quiet machine before each
//! run (see `quiet::wait_for_quiet`).

use super::networks::{self, Network, PeerResult, CONV_NETWORKS, NETWORKS, PEERS};
use super::quiet;
use crate::report::{self, BenchOptions};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

pub fn run(options: &BenchOptions) -> Result<Vec<Value>, String> {
    let trainer = report::build_trainer()?;
    let mut rows = Vec::new();
    for network in NETWORKS
        .iter()
        .chain(&CONV_NETWORKS)
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
                let peers = if options.compare {
                    network.peer.frameworks()
                } else {
                    &[]
                };
                let rounds = if options.quick { 1 } else { ROUNDS };
                let runs = run_rounds(&trainer, network, threads, epochs, peers, rounds)?;
                let peak = networks::peak_gflops(threads);
                Ok(row_of(network, threads, epochs, peak, &runs))
            })?;
            rows.push(row);
        }
    }
    print_table(&rows);
    Ok(rows)
}

/// What one trainer run measured.
struct TrainerRun {
    /// Each epoch's training seconds, in order.
    epoch_seconds: Vec<f64>,
    samples_per_epoch: f64,
    test_accuracy: f64,
    peak_memory_mb: Option<f64>,
    /// A peer's `framework_version` (`torch.__version__`); `None` for ours.
    framework_version: Option<String>,
    /// Percent of the machine's CPU other processes used during the run.
    others_cpu_percent: Option<f64>,
    /// The machine's 1-minute load average just after the run.
    load_average: Option<f64>,
    /// [`report::core_to_core_round_trip_ns`] just before and just after
    /// the run, averaged (multi-thread runs only).
    core_to_core_ns: Option<f64>,
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
    let mut command = Command::new(trainer);
    command
        .arg("train")
        .args(["--layers", network.layers])
        .args(["--activation", network.activation, "--init", network.init])
        .args(["--optimizer", network.optimizer])
        .args(["--lr", &network.lr.to_string()])
        .args(["--schedule", network.schedule])
        // Every setting the peers do not have is switched off explicitly,
        // so no preset default (weight decay, pixel shifts) slips in.
        // `--dropout 0` adds no dropout and keeps the spec's own (`d0.25`).
        .args(["--weight-decay", "0", "--dropout", "0", "--augment", "0"])
        .args(["--batch-size", &network.batch.to_string()])
        .args(["--epochs", &epochs.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--val-split", "0", "--seed", "1", "--json"])
        // Every round of a row writes to the same folder.
        .args(["--overwrite", "--out"])
        .arg(&out)
        .current_dir(report::workspace_root());
    if let Some(limit) = network.limit {
        command.args(["--limit", &limit.to_string()]);
    }
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
    if epoch_seconds.is_empty() {
        return Err("the trainer's JSON history has no epoch with \"seconds\"".into());
    }
    let samples_per_epoch = samples_per_epoch
        .first()
        .ok_or("the trainer's JSON history has no epoch with samples_per_second")?
        .round();
    Ok(TrainerRun {
        epoch_seconds,
        samples_per_epoch,
        test_accuracy: report["test_accuracy"]
            .as_f64()
            .ok_or("the trainer's JSON has no \"test_accuracy\"")?,
        peak_memory_mb: watched.peak_kib.map(|kib| kib as f64 * 1024.0 / 1e6),
        framework_version: None,
        others_cpu_percent: watched.others_percent,
        load_average: quiet::load_average(),
        core_to_core_ns,
    })
}

/// Every run of a row: ours, and per peer its runs or why it has none.
struct Rounds {
    ours: Vec<TrainerRun>,
    peers: Vec<(&'static str, Result<Vec<TrainerRun>, String>)>,
}

/// Rounds per row. (a)'s two-thread epochs run at ~360k or ~220k samples/s
/// for seconds at a time as the host places the two vCPUs (see
/// BENCHMARKS.md, "Two threads on this VM"), so a single run per side
/// compared whichever state each one happened to meet.
const ROUNDS: usize = 3;

/// Runs ours and every peer in `peers` once per round (all `epochs` epochs
/// each), in an order that reverses from one round to the next, so that no
/// side always follows the same one. A peer is reported only if every round
/// of it succeeded: one that fails keeps the reason, naming the round.
fn run_rounds(
    trainer: &Path,
    network: &Network,
    threads: usize,
    epochs: usize,
    peers: &[&'static str],
    rounds: usize,
) -> Result<Rounds, String> {
    let mut ours = Vec::new();
    let mut peer_runs: Vec<(&'static str, Result<Vec<TrainerRun>, String>)> =
        peers.iter().map(|&peer| (peer, Ok(Vec::new()))).collect();
    for round in 0..rounds {
        // Side 0 is ours, side i + 1 the peer `peers[i]`.
        let mut sides: Vec<usize> = (0..=peers.len()).collect();
        if round % 2 == 1 {
            sides.reverse();
        }
        for side in sides {
            if side == 0 {
                ours.push(run_trainer(trainer, network, threads, epochs)?);
                continue;
            }
            let (framework, runs) = &mut peer_runs[side - 1];
            let Ok(measured) = runs else { continue };
            let run = match networks::run_peer(framework, network, "train", threads, epochs) {
                PeerResult::Measured(peer) => TrainerRun::from_peer(&peer),
                PeerResult::Skipped(reason) => Err(reason),
            };
            match run {
                Ok(run) => measured.push(run),
                Err(reason) => {
                    let reason = if round == 0 {
                        reason
                    } else {
                        format!("round {} of {rounds}: {reason}", round + 1)
                    };
                    eprintln!(
                        "xtask bench train: {framework} skipped for ({}, {threads} threads): {reason}",
                        network.name
                    );
                    *runs = Err(reason);
                }
            }
        }
    }
    Ok(Rounds {
        ours,
        peers: peer_runs,
    })
}

impl TrainerRun {
    /// A run of `mlp.py` or `cnn.py`, from its JSON.
    fn from_peer(json: &Value) -> Result<TrainerRun, String> {
        let number = |key: &str| {
            json[key]
                .as_f64()
                .ok_or_else(|| format!("the peer script printed no number \"{key}\": {json}"))
        };
        let epoch_seconds: Vec<f64> = json["epoch_seconds"]
            .as_array()
            .map(|all| all.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        if epoch_seconds.is_empty() {
            return Err(format!(
                "the peer script printed no \"epoch_seconds\": {json}"
            ));
        }
        Ok(TrainerRun {
            epoch_seconds,
            samples_per_epoch: number("samples_per_epoch")?,
            test_accuracy: number("test_accuracy")?,
            peak_memory_mb: json["peak_memory_mb"].as_f64(),
            framework_version: json["framework_version"].as_str().map(String::from),
            others_cpu_percent: json["others_cpu_percent"].as_f64(),
            load_average: json["load_average"].as_f64(),
            core_to_core_ns: None,
        })
    }
}

/// One side's figures over all its rounds: the median epoch of every round,
/// the first round's test accuracy (each round trains the same epochs from
/// the same seed), the highest peak memory, share of the CPU taken by
/// other processes and load average, and the mean core-to-core round trip.
struct Summary {
    seconds_per_epoch: f64,
    samples_per_second: f64,
    test_accuracy: f64,
    peak_memory_mb: Option<f64>,
    others_cpu_percent: Option<f64>,
    load_average: Option<f64>,
    core_to_core_ns: Option<f64>,
}

impl Summary {
    /// `runs` must not be empty, and each run has at least one epoch.
    fn of(runs: &[TrainerRun]) -> Summary {
        let epoch_seconds: Vec<f64> = runs
            .iter()
            .flat_map(|run| run.epoch_seconds.iter().copied())
            .collect();
        let seconds_per_epoch = networks::median(&epoch_seconds).expect("every run has epochs");
        let highest =
            |value: fn(&TrainerRun) -> Option<f64>| runs.iter().filter_map(value).reduce(f64::max);
        let round_trips: Vec<f64> = runs.iter().filter_map(|run| run.core_to_core_ns).collect();
        Summary {
            seconds_per_epoch,
            samples_per_second: runs[0].samples_per_epoch / seconds_per_epoch,
            test_accuracy: runs[0].test_accuracy,
            peak_memory_mb: highest(|run| run.peak_memory_mb),
            others_cpu_percent: highest(|run| run.others_cpu_percent),
            load_average: highest(|run| run.load_average),
            core_to_core_ns: (!round_trips.is_empty())
                .then(|| round_trips.iter().sum::<f64>() / round_trips.len() as f64),
        }
    }
}

/// The row of one network and thread count; `peak` is the FP32 peak of
/// `threads` threads in GFLOP/s.
fn row_of(network: &Network, threads: usize, epochs: usize, peak: f64, runs: &Rounds) -> Value {
    let ours = Summary::of(&runs.ours);
    let gflops = ours.samples_per_second * network.training_flops_per_sample() / 1e9;
    let mut row = json!({
        "bench": "train",
        "network": network.name,
        "layers": network.shape(),
        "label": network.label(),
        "convolutional": network.is_convolutional(),
        "images_per_epoch": network.images_per_epoch(),
        "activation": network.activation,
        "optimizer": network.optimizer,
        "schedule": network.schedule,
        "batch": network.batch,
        "threads": threads,
        "epochs": epochs,
        "rounds": runs.ours.len(),
        "seconds_per_epoch": ours.seconds_per_epoch,
        "samples_per_second": ours.samples_per_second,
        "gflops": gflops,
        "percent_of_peak": 100.0 * gflops / peak,
        "peak_memory_mb": ours.peak_memory_mb,
        "test_accuracy": ours.test_accuracy,
        "others_cpu_percent": ours.others_cpu_percent,
        "load_average": ours.load_average,
        "core_to_core_ns": ours.core_to_core_ns,
    });
    for (framework, peer_runs) in &runs.peers {
        match peer_runs {
            Ok(peer_runs) if !peer_runs.is_empty() => {
                let theirs = Summary::of(peer_runs);
                row[format!("{framework}_samples_per_second")] = json!(theirs.samples_per_second);
                row[format!("{framework}_seconds_per_epoch")] = json!(theirs.seconds_per_epoch);
                row[format!("{framework}_peak_memory_mb")] = json!(theirs.peak_memory_mb);
                row[format!("{framework}_test_accuracy")] = json!(theirs.test_accuracy);
                row[format!("{framework}_others_cpu_percent")] = json!(theirs.others_cpu_percent);
                row[format!("{framework}_load_average")] = json!(theirs.load_average);
                row[format!("{framework}_version")] = json!(peer_runs[0].framework_version);
                row[format!("ours_over_{framework}")] =
                    json!(ours.samples_per_second / theirs.samples_per_second);
            }
            Ok(_) => {}
            Err(reason) => row[format!("{framework}_skipped")] = json!(reason),
        }
    }
    row
}

fn print_table(rows: &[Value]) {
    println!("## train (`cargo xtask bench train`)\n");
    let (cnns, mlps): (Vec<&Value>, Vec<&Value>) =
        rows.iter().partition(|row| row["convolutional"] == true);
    if !mlps.is_empty() {
        print_mlp_table(&mlps);
    }
    if !cnns.is_empty() {
        print_cnn_table(&cnns);
    }
}

/// The table of issue 6's MLPs: full epochs, numpy and PyTorch beside.
fn print_mlp_table(rows: &[&Value]) {
    println!(
        "Full MNIST epochs (60,000 images) through `target/release/trainer train --json`; \
         the median epoch's training time (evaluation excluded) over all the rounds of a row \
         (each round a full run of every side). GFLOP/s counts the GEMM work \
         of a step (forward, dW, dX but the first layer's); % is of the measured FP32 peak for \
         the threads used. Memory is the process's peak resident set. core-core ns is the \
         round trip of a cache line between the two cores around each run, averaged over \
         the rounds (see the machine \
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
             unset for them), taking turns with ours round by round; the 1-thread runs of all \
             three on the same core."
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
    for &row in rows {
        let number = |key: &str, digits: usize| report::number(row, key, digits);
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
            percent(row, "test_accuracy"),
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
    if let Some(note) = networks::disturbed_note(rows.iter().copied()) {
        println!("\n{note}");
    }
    println!();
}

/// The table of issue 18's CNNs: short epochs, PyTorch beside.
fn print_cnn_table(rows: &[&Value]) {
    println!("### Convolutional networks (issue 18)\n");
    let unloaded: Vec<String> = CONV_NETWORKS
        .iter()
        .filter(|n| rows.iter().any(|row| row["network"] == n.name))
        .map(|n| format!("{:.0} MB to ({})", n.unloaded_image_bytes() / 1e6, n.name))
        .collect();
    println!(
        "The first N training images an epoch, N as each row says, through \
         `target/release/trainer train --limit N --json` (the test accuracy is on the first N \
         test images); the median epoch's training time over all the rounds of a row, as \
         above. GFLOP/s counts a training step as 3x the forward pass, at 2 FLOPs a \
         multiply-add of the convolutions and dense layers \
         (`nn::ModelSpec::forward_multiply_adds`; forward, dW and dX about one forward each); \
         % is of the measured FP32 peak for the threads used. Peak MB is the trainer's peak \
         resident set with N training and N test images loaded; the rest of the 70,000, at \
         a byte a pixel, would add {} (the summary's memory target adds them). load is the \
         highest 1-minute load average read after each of the row's runs: on 2 cores, above 1 \
         at one thread or 2 at two means other processes were running.",
        unloaded.join(", ")
    );
    let compared = rows.iter().any(|row| row.get("ours_over_torch").is_some());
    if compared {
        println!(
            "PyTorch ({}) runs `xtask/peers/cnn.py` in the same session: the same spec built as \
             a `torch.nn.Sequential` (its parameters and multiply-adds checked against `nn`'s), \
             batch, optimizer (PyTorch's, default hyper-parameters), schedule, images and \
             thread count, PyTorch's default initialisation, batches indexed from tensors in \
             memory; taking turns with ours round by round, the 1-thread runs of both on the \
             same core. Its peak MB is the Python process's `ru_maxrss`.",
            rows.iter()
                .find_map(|row| row["torch_version"].as_str())
                .unwrap_or("version unknown")
        );
    }
    println!();
    let mut header = String::from(
        "| net | threads | load | core-core ns | s/epoch | samples/s | GFLOP/s | % peak | peak MB | test acc |",
    );
    let mut rule = String::from("|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    if compared {
        header.push_str(" torch samples/s | torch peak MB | torch load | ours/torch |");
        rule.push_str("--:|--:|--:|--:|");
    }
    println!("{header}\n{rule}");
    for &row in rows {
        let number = |key: &str, digits: usize| report::number(row, key, digits);
        let mut line = format!(
            "| {}{} | {} | {} | {} | {} | {} | {} | {}% | {} | {} |",
            row["label"].as_str().unwrap_or(""),
            if networks::disturbed(row) { " (!)" } else { "" },
            row["threads"],
            number("load_average", 2),
            number("core_to_core_ns", 0),
            number("seconds_per_epoch", 3),
            number("samples_per_second", 0),
            number("gflops", 1),
            number("percent_of_peak", 0),
            number("peak_memory_mb", 0),
            percent(row, "test_accuracy"),
        );
        if compared {
            line.push_str(&format!(
                " {} | {} | {} | {} |",
                number("torch_samples_per_second", 0),
                number("torch_peak_memory_mb", 0),
                number("torch_load_average", 2),
                ratio(row, "torch"),
            ));
        }
        println!("{line}");
    }
    if let Some(note) = networks::disturbed_note(rows.iter().copied()) {
        println!("\n{note}");
    }
    println!();
}

/// `row[key]`, a fraction, as `98.12%`, or `-`.
fn percent(row: &Value, key: &str) -> String {
    row[key]
        .as_f64()
        .map_or("-".into(), |a| format!("{:.2}%", 100.0 * a))
}

/// `2.41x`, or `-` when the peer was skipped.
pub fn ratio(row: &Value, framework: &str) -> String {
    row[format!("ours_over_{framework}")]
        .as_f64()
        .map_or("-".into(), |r| format!("{r:.2}x"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(epoch_seconds: &[f64], accuracy: f64, peak_mb: f64) -> TrainerRun {
        TrainerRun {
            epoch_seconds: epoch_seconds.to_vec(),
            samples_per_epoch: 60_000.0,
            test_accuracy: accuracy,
            peak_memory_mb: Some(peak_mb),
            framework_version: None,
            others_cpu_percent: None,
            load_average: None,
            core_to_core_ns: None,
        }
    }

    #[test]
    fn a_row_takes_the_median_epoch_of_every_round_on_both_sides() {
        let runs = Rounds {
            // A slow round (0.4 s epochs) between two fast ones: the nine
            // epochs sorted are 0.2 0.2 0.21 0.21 0.22 0.22 0.4 0.4 0.4, and
            // the median, a fast one, is 0.22 s.
            ours: vec![
                run(&[0.2, 0.21, 0.22], 0.96, 60.0),
                run(&[0.4, 0.4, 0.4], 0.95, 70.0),
                run(&[0.2, 0.21, 0.22], 0.96, 65.0),
            ],
            peers: vec![
                (
                    "numpy",
                    Ok(vec![
                        run(&[0.3, 0.3], 0.9, 400.0),
                        run(&[0.6, 0.6, 0.5], 0.9, 430.0),
                    ]),
                ),
                ("torch", Err("torch is not installed".into())),
            ],
        };
        let row = row_of(&NETWORKS[0], 2, 3, 100.0, &runs);
        assert_eq!(row["seconds_per_epoch"], 0.22);
        assert_eq!(row["samples_per_second"], 60_000.0 / 0.22);
        // (a) is 319,600 FLOP per sample (networks.rs); the peak is 100 GFLOP/s.
        let gflops = 60_000.0 / 0.22 * 319_600.0 / 1e9;
        assert_eq!(row["gflops"], gflops);
        assert_eq!(row["percent_of_peak"], 100.0 * gflops / 100.0);
        assert_eq!(row["test_accuracy"], 0.96);
        assert_eq!(row["peak_memory_mb"], 70.0);
        assert_eq!(row["rounds"], 3);
        // numpy's five epochs sorted: 0.3 0.3 0.5 0.6 0.6; upper middle 0.5.
        assert_eq!(row["numpy_seconds_per_epoch"], 0.5);
        assert_eq!(row["numpy_samples_per_second"], 120_000.0);
        assert_eq!(row["ours_over_numpy"], (60_000.0 / 0.22) / 120_000.0);
        assert_eq!(row["numpy_peak_memory_mb"], 430.0);
        assert_eq!(row["torch_skipped"], "torch is not installed");
        assert!(row.get("ours_over_torch").is_none());
    }

    #[test]
    fn a_cnn_row_counts_three_forward_passes_and_names_its_images_and_torch() {
        let mut ours = run(&[2.0, 1.0], 0.9, 250.0);
        ours.samples_per_epoch = 6_400.0;
        let mut torch = run(&[4.0, 3.0], 0.9, 1200.0);
        (torch.samples_per_epoch, torch.framework_version) = (6_400.0, Some("2.15.0".into()));
        let runs = Rounds {
            ours: vec![ours],
            peers: vec![("torch", Ok(vec![torch]))],
        };
        let example = &CONV_NETWORKS[0];
        let row = row_of(example, 1, 2, 100.0, &runs);
        assert_eq!(row["convolutional"], true);
        assert_eq!(row["images_per_epoch"], 6_400);
        assert_eq!(row["label"], example.label());
        // Upper middle of [1, 2] is 2 s: 3,200 samples/s at 6 x 11,992,448 FLOPs.
        assert_eq!(row["samples_per_second"], 3_200.0);
        assert_eq!(row["gflops"], 3_200.0 * 6.0 * 11_992_448.0 / 1e9);
        assert_eq!(row["torch_samples_per_second"], 1_600.0);
        assert_eq!(row["ours_over_torch"], 2.0);
        assert_eq!(row["torch_version"], "2.15.0");
        assert_eq!(row["torch_peak_memory_mb"], 1200.0);
        assert!(row.get("numpy_skipped").is_none());
    }

    #[test]
    fn a_peer_run_without_its_epochs_is_a_reason_to_skip_it() {
        let complete = json!({"epoch_seconds": [0.5, 0.4], "samples_per_epoch": 60_000,
                              "test_accuracy": 0.97, "peak_memory_mb": 400.0});
        let parsed = TrainerRun::from_peer(&complete).unwrap();
        assert_eq!(parsed.epoch_seconds, [0.5, 0.4]);
        assert_eq!(parsed.samples_per_epoch, 60_000.0);
        assert_eq!(parsed.peak_memory_mb, Some(400.0));
        // An older mlp.py: one median per run, no epochs.
        let old = json!({"seconds_per_epoch": 0.4, "samples_per_second": 150_000.0,
                         "test_accuracy": 0.97});
        let reason = TrainerRun::from_peer(&old).err().unwrap();
        assert!(reason.contains("epoch_seconds"), "{reason}");
    }
}
