//! What `train` and `infer` share: issue 6's two networks, the work one
//! training sample costs, the peak a figure is measured against, and running
//! the same workload in numpy or PyTorch through `xtask/peers/mlp.py`.

use super::quiet;
use crate::report;
use serde_json::{json, Value};

/// One of issue 6's benchmark networks, with its training settings.
#[derive(Clone, Copy, Debug)]
pub struct Network {
    /// `a` or `b`, as `mlp.py --net` names it.
    pub name: &'static str,
    /// Layer sizes, input first.
    pub sizes: &'static [usize],
    /// The trainer's `--optimizer` value.
    pub optimizer: &'static str,
    pub lr: f32,
    pub batch: usize,
    /// Epochs per training run; the reported epoch time is the median of
    /// all epochs of all of a row's runs (see `train::ROUNDS`).
    pub epochs: usize,
}

/// (a) 784-100-10 ReLU, SGD lr 0.1, batch 100; (b) 784-512-256-10 ReLU,
/// Adam lr 1e-3, batch 128 (the same table as `NETS` in `mlp.py`).
pub const NETWORKS: [Network; 2] = [
    Network {
        name: "a",
        sizes: &[784, 100, 10],
        optimizer: "sgd",
        lr: 0.1,
        batch: 100,
        epochs: 5,
    },
    Network {
        name: "b",
        sizes: &[784, 512, 256, 10],
        optimizer: "adam",
        lr: 1e-3,
        batch: 128,
        epochs: 3,
    },
];

impl Network {
    /// `784-100-10`, for tables.
    pub fn shape(&self) -> String {
        let sizes: Vec<String> = self.sizes.iter().map(usize::to_string).collect();
        sizes.join("-")
    }

    /// Training FLOPs per sample: forward `2*I*O` per layer; backward `2*I*O`
    /// for dW of every layer plus `2*I*O` for dX of every layer but the first
    /// (nobody needs the gradient of the data). The same formula as
    /// `flops_per_sample` in `mlp.py`; bias, activation and optimizer work
    /// is left out, as it is linear in the parameters, not in `I*O*B`.
    pub fn training_flops_per_sample(&self) -> f64 {
        let products: Vec<f64> = self
            .sizes
            .windows(2)
            .map(|pair| 2.0 * (pair[0] * pair[1]) as f64)
            .collect();
        let all: f64 = products.iter().sum();
        2.0 * all + (all - products[0])
    }

    /// Inference FLOPs per image: the forward pass, `2*I*O` per layer.
    pub fn inference_flops_per_image(&self) -> f64 {
        self.sizes
            .windows(2)
            .map(|pair| 2.0 * (pair[0] * pair[1]) as f64)
            .sum()
    }
}

/// The thread counts every row is measured at: 1 and all cores.
pub fn thread_counts() -> Vec<usize> {
    let cores = cores();
    if cores > 1 {
        vec![1, cores]
    } else {
        vec![1]
    }
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// False when the environment variable `variable` holds a comma-separated
/// list without `value` (for reruns of a few rows); true when it is unset.
pub fn selected(variable: &str, value: &str) -> bool {
    std::env::var(variable).map_or(true, |list| list.split(',').any(|v| v.trim() == value))
}

/// The measured FP32 peak for `threads` threads, as `matmul` counts it: one
/// core's peak for one thread, a share of the all-core peak otherwise.
pub fn peak_gflops(threads: usize) -> f64 {
    let cores = cores();
    if threads == 1 {
        report::peak_gflops_per_core()
    } else {
        report::peak_gflops_all_cores() * threads.min(cores) as f64 / cores as f64
    }
}

/// The peer frameworks `--compare` runs, as `mlp.py --framework` names them.
pub const PEERS: [&str; 2] = ["numpy", "torch"];

/// How a peer run went: its JSON object, or why there is none. Neither a
/// missing package nor a crashing script fails the benchmark.
pub enum PeerResult {
    Measured(Value),
    Skipped(String),
}

/// Runs `mlp.py` for one framework, network, mode and thread count (see
/// `report::peer_command`; `--threads` also sets `torch.set_num_threads`).
pub fn run_peer(
    framework: &str,
    network: &Network,
    mode: &str,
    threads: usize,
    epochs: usize,
) -> PeerResult {
    let script = report::workspace_root().join("xtask/peers/mlp.py");
    let data = report::workspace_root().join("data/mnist");
    let python = report::peer_python();
    let mut command = report::peer_command("mlp.py", threads);
    command
        .args([
            "--framework",
            framework,
            "--net",
            network.name,
            "--mode",
            mode,
        ])
        .args([
            "--threads",
            &threads.to_string(),
            "--epochs",
            &epochs.to_string(),
        ])
        .arg("--data")
        .arg(&data);
    quiet::wait_for_quiet(&format!(
        "{framework} {mode} ({}) on {threads} thread(s)",
        network.name
    ));
    let output = match quiet::run_watched(&mut command) {
        Ok(output) => output,
        Err(e) => return PeerResult::Skipped(format!("could not run {}: {e}", python.display())),
    };
    if !output.status.success() {
        let last_line = output
            .stderr
            .lines()
            .last()
            .unwrap_or("")
            .trim()
            .to_string();
        return PeerResult::Skipped(format!(
            "{} exited with {}: {last_line}",
            script.display(),
            output.status
        ));
    }
    match serde_json::from_str::<Value>(output.stdout.trim()) {
        Ok(mut value) => match value.get("skipped").and_then(Value::as_str) {
            Some(reason) => PeerResult::Skipped(reason.to_string()),
            None => {
                value["others_cpu_percent"] = json!(output.others_percent);
                PeerResult::Measured(value)
            }
        },
        Err(e) => PeerResult::Skipped(format!(
            "{} printed something other than one JSON object ({e})",
            script.display()
        )),
    }
}

/// True when some process besides the one measured took more than
/// [`quiet::BUSY_PERCENT`] of the CPU during any run that fed `row` (ours or
/// a peer's): its figures are suspect.
pub fn disturbed(row: &Value) -> bool {
    row.as_object().is_some_and(|fields| {
        fields.iter().any(|(key, value)| {
            key.ends_with("others_cpu_percent")
                && value.as_f64().is_some_and(|p| p > quiet::BUSY_PERCENT)
        })
    })
}

/// The note printed under a table with [`disturbed`] rows.
pub fn disturbed_note(rows: &[Value]) -> Option<String> {
    rows.iter().any(disturbed).then(|| {
        format!(
            "(!) other processes used more than {}% of the CPU during this row's runs \
             (`*others_cpu_percent` in the JSON): rerun before trusting it.",
            quiet::BUSY_PERCENT
        )
    })
}

/// Median of `values` as `mlp.py` takes it (`sorted[len / 2]`, the upper
/// middle for an even count), so both sides summarise runs the same way.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_per_sample_match_the_issue_hand_counts() {
        // (a): forward 2*784*100 + 2*100*10 = 158_800; backward dW the same,
        // dX only for the second layer: 2*100*10 = 2_000. Total 319_600.
        assert_eq!(NETWORKS[0].training_flops_per_sample(), 319_600.0);
        // (b): products 2*(401_408 + 131_072 + 2_560) = 1_070_080 each way,
        // dX without the first layer: 2*(131_072 + 2_560) = 267_264.
        assert_eq!(
            NETWORKS[1].training_flops_per_sample(),
            2.0 * 1_070_080.0 + 267_264.0
        );
        assert_eq!(NETWORKS[0].inference_flops_per_image(), 158_800.0);
    }

    #[test]
    fn median_takes_the_upper_middle_like_the_peer_script() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[1.0, 4.0]), Some(4.0));
        assert_eq!(median(&[]), None);
    }
}
