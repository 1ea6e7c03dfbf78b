//! `cargo xtask bench infer`: how fast issue 6's two networks and issue
//! 18's convolutional networks (the two of `train` and the trainer's
//! default) classify, with `nn` directly (evaluation mode): the latency of
//! one image (batch 1, the median of thousands of timed calls after a
//! warm-up) and the throughput on the 10k test set (`Sequential::predict`),
//! at 1 thread and at all threads. Targets: one image through network (a)
//! in under 20 us; throughput at least 1.5x the best peer (issue 22).
//!
//! For tuning, `INFER_ONLY=a` limits the networks and `INFER_THREADS=1` the
//! thread counts.
//!
//! Weights are freshly initialised: the time of a forward pass does not
//! depend on the values, so training first would only cost time.

use super::networks::{self, Network, PeerResult, CONV_NETWORKS, DEFAULT_CNN, NETWORKS, PEERS};
use super::quiet;
use crate::report::{self, BenchOptions};
use mnist_data::{Dataset, DatasetFiles};
use nn::{Init, ModelSpec, Sequential};
use serde_json::{json, Value};
use std::time::Instant;
use tensor::Matrix;

/// Issue 6's latency target for network (a), in microseconds.
pub const LATENCY_TARGET_US: f64 = 20.0;

pub fn run(options: &BenchOptions) -> Result<Vec<Value>, String> {
    let test = test_images()?;
    let mut rows = Vec::new();
    for network in NETWORKS
        .iter()
        .chain(&CONV_NETWORKS)
        .chain([&DEFAULT_CNN])
        .filter(|n| networks::selected("INFER_ONLY", n.name))
    {
        // A CNN's run over the test set takes seconds, not milliseconds.
        let (latency_calls, throughput_runs) = match (options.quick, network.is_convolutional()) {
            (true, _) => (1_000, 3),
            (false, false) => (20_000, 9),
            (false, true) => (5_000, 5),
        };
        let spec = ModelSpec::parse(&format!(
            "{} hidden={}",
            network.shape(),
            network.activation
        ))
        .map_err(|e| format!("network ({}): {e}", network.name))?;
        let mut model = Sequential::new(&spec, Init::HeNormal, 1).map_err(|e| e.to_string())?;
        model.set_training(false);
        for threads in networks::thread_counts()
            .into_iter()
            .filter(|t| networks::selected("INFER_THREADS", &t.to_string()))
        {
            tensor::set_threads(threads);
            // One-thread runs, ours and the peers', on one core (see
            // `report::on_one_core`).
            let row = report::on_one_core(threads == 1, || -> Result<Value, String> {
                quiet::wait_for_quiet(&format!(
                    "inference ({}) on {threads} thread(s)",
                    network.name
                ));
                let (watch, own_before) = (quiet::CpuWatch::start(), quiet::process_ticks("self"));
                let latency = latency_seconds(&mut model, &test, latency_calls)?;
                let seconds = report::median_seconds(1, throughput_runs, || {
                    model
                        .predict(test.view())
                        .expect("the test set is 784 wide");
                });
                let images_per_second = test.rows() as f64 / seconds;
                let own = quiet::process_ticks("self")
                    .zip(own_before)
                    .map_or(0, |(after, before)| after - before);
                let mut row = json!({
                    "bench": "infer",
                    "network": network.name,
                    "layers": network.shape(),
                    "threads": threads,
                    "latency_us": latency.median * 1e6,
                    "latency_p99_us": latency.p99 * 1e6,
                    "latency_calls": latency_calls,
                    "throughput_images_per_second": images_per_second,
                    "throughput_gflops": images_per_second * network.inference_flops_per_image() / 1e9,
                    "throughput_percent_of_peak": 100.0 * images_per_second
                        * network.inference_flops_per_image() / 1e9 / networks::peak_gflops(threads),
                    "others_cpu_percent": watch.others_percent(own),
                });
                if network.name == "a" {
                    row["latency_target_us"] = json!(LATENCY_TARGET_US);
                    row["meets_latency_target"] = json!(latency.median * 1e6 < LATENCY_TARGET_US);
                }
                if options.compare {
                    for framework in network.peer.frameworks() {
                        attach_peer(&mut row, framework, network, threads);
                    }
                }
                Ok(row)
            })?;
            rows.push(row);
        }
    }
    // Leave the global thread count as a fresh process has it.
    tensor::set_threads(networks::cores());
    print_table(&rows);
    Ok(rows)
}

/// The bundled 10k test images, scaled to [0, 1], as one `[10000, 784]` matrix.
fn test_images() -> Result<Matrix, String> {
    let dir = report::workspace_root().join("data/mnist");
    let files = DatasetFiles::find(&dir).map_err(|e| e.to_string())?;
    let test = Dataset::from_idx_files(&files.test_images, &files.test_labels, None)
        .map_err(|e| e.to_string())?;
    let pixels = test
        .images()
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    Matrix::from_vec(test.len(), test.pixels_per_image(), pixels).map_err(|e| e.to_string())
}

struct Latency {
    median: f64,
    p99: f64,
}

/// Times `calls` single-image forward passes (logits, as the peers return),
/// each on the next test image, after a tenth as many untimed ones.
fn latency_seconds(model: &mut Sequential, test: &Matrix, calls: usize) -> Result<Latency, String> {
    let mut times = Vec::with_capacity(calls);
    for call in 0..calls / 10 + calls {
        let row = call % test.rows();
        let start = Instant::now();
        let logits = model
            .forward(test.rows_range(row..row + 1))
            .map_err(|e| e.to_string())?;
        std::hint::black_box(logits);
        if call >= calls / 10 {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(Latency {
        median: times[times.len() / 2],
        p99: times[times.len() * 99 / 100],
    })
}

/// Runs the peer's inference workload and adds `FRAMEWORK_latency_us`,
/// `FRAMEWORK_images_per_second` and the ratios `ours_over_FRAMEWORK_latency`
/// (their latency / ours: above 1 means we are faster) and
/// `ours_over_FRAMEWORK_throughput`, or `FRAMEWORK_skipped`.
fn attach_peer(row: &mut Value, framework: &str, network: &Network, threads: usize) {
    match networks::run_peer(framework, network, "infer", threads, 0) {
        PeerResult::Measured(peer) => {
            let latency = peer["latency_us"].as_f64();
            let throughput = peer["throughput_images_per_second"].as_f64();
            row[format!("{framework}_latency_us")] = json!(latency);
            row[format!("{framework}_images_per_second")] = json!(throughput);
            row[format!("{framework}_others_cpu_percent")] = peer["others_cpu_percent"].clone();
            if let (Some(theirs), Some(ours)) = (latency, row["latency_us"].as_f64()) {
                row[format!("ours_over_{framework}_latency")] = json!(theirs / ours);
            }
            if let (Some(theirs), Some(ours)) =
                (throughput, row["throughput_images_per_second"].as_f64())
            {
                row[format!("ours_over_{framework}_throughput")] = json!(ours / theirs);
            }
        }
        PeerResult::Skipped(reason) => {
            eprintln!(
                "xtask bench infer: {framework} skipped for ({}, {threads} threads): {reason}",
                network.name
            );
            row[format!("{framework}_skipped")] = json!(reason);
        }
    }
}

fn print_table(rows: &[Value]) {
    println!("## infer (`cargo xtask bench infer`)\n");
    println!(
        "`nn::Sequential` in evaluation mode. Latency: one image (batch 1) to logits, median \
         of individually timed calls after a warm-up. Throughput: `predict` (class indices) \
         over the 10,000 test images, median run. Target: (a) under {LATENCY_TARGET_US} us."
    );
    let compared = rows.iter().any(|row| {
        PEERS
            .iter()
            .any(|p| row.get(format!("{p}_latency_us")).is_some())
    });
    if compared {
        println!(
            "numpy and PyTorch (`torch.inference_mode`, eval mode) run `xtask/peers/mlp.py`, \
             PyTorch alone the CNNs (`xtask/peers/cnn.py`, chunks of 1,000 images); a speed-up \
             above 1x means we are faster (their latency / ours, our throughput / theirs). \
             The 1-thread runs of all three run on the same core."
        );
    }
    println!();
    let mut header = String::from("| net | threads | latency us | p99 us | images/s | GFLOP/s |");
    let mut rule = String::from("|:--|--:|--:|--:|--:|--:|");
    if compared {
        header.push_str(
            " numpy us | torch us | speed-up latency numpy / torch | numpy images/s | torch images/s | speed-up throughput numpy / torch |",
        );
        rule.push_str("--:|--:|--:|--:|--:|--:|");
    }
    println!("{header}\n{rule}");
    for row in rows {
        let number = |key: &str, digits: usize| report::number(row, key, digits);
        let times = |key: String| {
            row[key]
                .as_f64()
                .map_or("-".to_string(), |v| format!("{v:.2}x"))
        };
        let mut line = format!(
            "| ({}) {}{} | {} | {} | {} | {} | {} |",
            row["network"].as_str().unwrap_or(""),
            row["layers"].as_str().unwrap_or(""),
            if networks::disturbed(row) { " (!)" } else { "" },
            row["threads"],
            number("latency_us", 1),
            number("latency_p99_us", 1),
            number("throughput_images_per_second", 0),
            number("throughput_gflops", 1),
        );
        if compared {
            line.push_str(&format!(
                " {} | {} | {} / {} | {} | {} | {} / {} |",
                number("numpy_latency_us", 1),
                number("torch_latency_us", 1),
                times("ours_over_numpy_latency".into()),
                times("ours_over_torch_latency".into()),
                number("numpy_images_per_second", 0),
                number("torch_images_per_second", 0),
                times("ours_over_numpy_throughput".into()),
                times("ours_over_torch_throughput".into()),
            ));
        }
        println!("{line}");
    }
    if let Some(note) = networks::disturbed_note(rows) {
        println!("\n{note}");
    }
    println!();
}
