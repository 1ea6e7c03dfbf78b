//! What `train` and `infer` share: the benchmark networks (issue 6's two
//! MLPs, issue 18's two CNNs), the work one training sample costs, the peak
//! a figure is measured against, and running the same workload in numpy or
//! PyTorch through `xtask/peers/mlp.py` or `xtask/peers/cnn.py`.

use super::quiet;
use crate::report;
use nn::ModelSpec;
use serde_json::{json, Value};

/// One benchmark network, with its training settings.
#[derive(Clone, Copy, Debug)]
pub struct Network {
    /// `a` or `b` (issue 6, as `mlp.py --net` names them), or the name of
    /// the trainer's preset a CNN row measures (issue 18).
    pub name: &'static str,
    /// The network in `nn`'s spec language (`784-100-10`,
    /// `1x28x28 c32k3 p2 f128 10`), as `trainer --layers` and `cnn.py
    /// --layers` take it.
    pub layers: &'static str,
    /// The hidden activation and the initialisation, as the trainer's
    /// `--activation` and `--init` name them.
    pub activation: &'static str,
    pub init: &'static str,
    /// The trainer's `--optimizer` value.
    pub optimizer: &'static str,
    pub lr: f32,
    /// The trainer's `--schedule` (`cnn.py` knows `constant` and `step:E:G`).
    pub schedule: &'static str,
    pub batch: usize,
    /// Epochs per training run; the reported epoch time is the median of
    /// all epochs of all of a row's runs (see `train::ROUNDS`).
    pub epochs: usize,
    /// Train on the first `limit` training images and test on the first
    /// `limit` test images (`trainer --limit`, `cnn.py --limit`), for
    /// networks whose full epoch would take minutes; `None`: all 60,000.
    pub limit: Option<usize>,
    /// The script that runs the same workload in the peer frameworks.
    pub peer: PeerScript,
}

/// Which script runs a network in the peers, and so which peers run it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerScript {
    /// `mlp.py --net NAME`, in numpy and PyTorch: issue 6's networks, from
    /// the script's own table `NETS` (the same as [`NETWORKS`]).
    Mlp,
    /// `cnn.py`, in PyTorch only, told the whole network on its command line
    /// (spec, activation, optimizer, lr, schedule, batch, images).
    Cnn,
}

impl PeerScript {
    /// The frameworks that run this script's networks.
    pub fn frameworks(self) -> &'static [&'static str] {
        match self {
            PeerScript::Mlp => &PEERS,
            PeerScript::Cnn => &["torch"],
        }
    }
}

/// (a) 784-100-10 ReLU, SGD lr 0.1, batch 100; (b) 784-512-256-10 ReLU,
/// Adam lr 1e-3, batch 128 (the same table as `NETS` in `mlp.py`).
pub const NETWORKS: [Network; 2] = [
    Network {
        name: "a",
        layers: "784-100-10",
        activation: "relu",
        init: "he",
        optimizer: "sgd",
        lr: 0.1,
        schedule: "constant",
        batch: 100,
        epochs: 5,
        limit: None,
        peer: PeerScript::Mlp,
    },
    Network {
        name: "b",
        layers: "784-512-256-10",
        activation: "relu",
        init: "he",
        optimizer: "adam",
        lr: 1e-3,
        schedule: "constant",
        batch: 128,
        epochs: 3,
        limit: None,
        peer: PeerScript::Mlp,
    },
];

/// Issue 18's convolutional networks, as the trainer's presets of the same
/// names define them (`crates/trainer/src/presets.rs`), but for the epochs
/// and images:
///
/// - `pytorch-example`: PyTorch's examples/mnist, Conv2d(1,32,3), ReLU,
///   Conv2d(32,64,3), ReLU, MaxPool2d(2), Dropout(0.25), Flatten,
///   Linear(9216,128), ReLU, Dropout(0.5), Linear(128,10); Adadelta lr 1.0,
///   StepLR gamma 0.7 per epoch, batch 64. 72 MFLOP a training sample: a
///   full epoch takes 2-4 minutes a side at one thread (ours ~500 samples/s,
///   PyTorch 250-400 on this VM), so 6,400 images (100 full batches).
/// - `lenet5`: Conv2d(1,6,5,padding=2), Tanh, AvgPool2d(2), Conv2d(6,16,5),
///   Tanh, AvgPool2d(2), Flatten, Linear(400,120), Tanh, Linear(120,84),
///   Tanh, Linear(84,10); Adam lr 1e-3 (constant: the preset's cosine
///   schedule is not what the issue compares), batch 128. A full epoch takes
///   15-40 s a side; 12,800 images (100 full batches) keep a row's twelve
///   runs to a couple of minutes.
///
/// Two epochs a run: the first one's warm-up (buffers, thread pool) is then
/// at most half of the epochs the median is taken over.
pub const CONV_NETWORKS: [Network; 2] = [
    Network {
        name: "pytorch-example",
        layers: "1x28x28 c32k3 c64k3 p2 d0.25 f128 d0.5 10",
        activation: "relu",
        init: "auto",
        optimizer: "adadelta",
        lr: 1.0,
        schedule: "step:1:0.7",
        batch: 64,
        epochs: 2,
        limit: Some(6_400),
        peer: PeerScript::Cnn,
    },
    Network {
        name: "lenet5",
        layers: "1x28x28 c6k5p2 a2 c16k5 a2 f120 f84 10",
        activation: "tanh",
        init: "auto",
        optimizer: "adam",
        lr: 1e-3,
        schedule: "constant",
        batch: 128,
        epochs: 2,
        limit: Some(12_800),
        peer: PeerScript::Cnn,
    },
];

/// The trainer's default network (`crates/trainer/src/presets.rs`), for
/// `infer` only: its training rows would repeat the two above.
pub const DEFAULT_CNN: Network = Network {
    name: "default",
    layers: "1x28x28 c16k3bn p2 c32k3bn p2 10",
    activation: "relu",
    init: "auto",
    optimizer: "adam",
    lr: 1e-3,
    schedule: "constant",
    batch: 128,
    epochs: 1,
    limit: None,
    peer: PeerScript::Cnn,
};

impl Network {
    /// The parsed spec; every network of the tables parses (tested).
    pub fn spec(&self) -> ModelSpec {
        ModelSpec::parse(self.layers).expect("the benchmark networks' specs parse")
    }

    /// `784-100-10`, for tables.
    pub fn shape(&self) -> &'static str {
        self.layers
    }

    /// Whether the network has convolutions (anything but a plain MLP).
    pub fn is_convolutional(&self) -> bool {
        self.spec().sizes().is_none()
    }

    /// Training images per epoch.
    pub fn images_per_epoch(&self) -> usize {
        self.limit.unwrap_or(60_000)
    }

    /// `(a) 784-100-10 sgd B=100`, and for a CNN its images per epoch
    /// (`(lenet5) 1x28x28 ... adam B=128, 20,000 images`).
    pub fn label(&self) -> String {
        let mut label = format!(
            "({}) {} {} B={}",
            self.name, self.layers, self.optimizer, self.batch
        );
        if let Some(limit) = self.limit {
            label.push_str(&format!(", first {} images", thousands(limit)));
        }
        label
    }

    /// Training FLOPs per sample (see [`training_flops`]).
    pub fn training_flops_per_sample(&self) -> f64 {
        training_flops(&self.spec())
    }

    /// Inference FLOPs per image (see [`inference_flops`]).
    pub fn inference_flops_per_image(&self) -> f64 {
        inference_flops(&self.spec())
    }

    /// Bytes of the images a full run would load besides the `limit` a row
    /// loads (`limit` of the 60,000 training and of the 10,000 test images),
    /// at one byte a pixel, as the trainer holds them (it scales each batch
    /// as it makes it): what a row's peak memory leaves out.
    pub fn unloaded_image_bytes(&self) -> f64 {
        let Some(limit) = self.limit else { return 0.0 };
        let unloaded = 60_000usize.saturating_sub(limit) + 10_000usize.saturating_sub(limit);
        (unloaded * 784) as f64
    }

    /// The number of weights and biases, as `torch.nn.Module.parameters()`
    /// counts them: batch norm's running statistics, which `tensor_shapes`
    /// lists too, are buffers, not parameters.
    pub fn parameter_count(&self) -> u64 {
        const BUFFERS: [&str; 3] = ["running_mean", "running_var", "num_batches_tracked"];
        self.spec()
            .tensor_shapes()
            .iter()
            .filter(|(name, _)| !BUFFERS.iter().any(|buffer| name.ends_with(buffer)))
            .map(|(_, shape)| shape.iter().product::<usize>() as u64)
            .sum()
    }
}

/// Training FLOPs per sample of the network `spec`.
///
/// A plain MLP (issue 6): its GEMM work exactly, forward `2*I*O` per
/// layer; backward `2*I*O` for dW of every layer plus `2*I*O` for dX of
/// every layer but the first (nobody needs the gradient of the data).
/// The same formula as `flops_per_sample` in `mlp.py`.
///
/// A convolutional network (issue 18): the usual convention, 3x the
/// forward pass (forward, dW, dX each about one forward), at 2 FLOPs a
/// multiply-add of `nn::ModelSpec::forward_multiply_adds` (convolutions
/// and dense layers); `cnn.py` counts the same.
///
/// Bias, activation, pooling and optimizer work is left out in both, as
/// it is linear in the parameters or activations, not in their products.
pub fn training_flops(spec: &ModelSpec) -> f64 {
    let Some(sizes) = spec.sizes() else {
        return 3.0 * inference_flops(spec);
    };
    let products: Vec<f64> = sizes
        .windows(2)
        .map(|pair| 2.0 * (pair[0] * pair[1]) as f64)
        .collect();
    let all: f64 = products.iter().sum();
    2.0 * all + (all - products[0])
}

/// Inference FLOPs per image of the network `spec`: the forward pass, 2
/// per multiply-add.
pub fn inference_flops(spec: &ModelSpec) -> f64 {
    2.0 * spec.forward_multiply_adds() as f64
}

/// `60000` as `60,000`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
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

/// The peer frameworks `--compare` runs for the MLPs, as `mlp.py
/// --framework` names them.
pub const PEERS: [&str; 2] = ["numpy", "torch"];

/// How a peer run went: its JSON object, or why there is none. Neither a
/// missing package nor a crashing script fails the benchmark.
pub enum PeerResult {
    Measured(Value),
    Skipped(String),
}

/// Runs the network's peer script (`mlp.py` or `cnn.py`, see
/// [`PeerScript`]) for one framework, mode and thread count (see
/// `report::peer_command`; `--threads` also sets `torch.set_num_threads`).
/// `cnn.py` must report the parameters and forward multiply-adds `nn`
/// counts for the spec, or its run is skipped: it built another network.
pub fn run_peer(
    framework: &str,
    network: &Network,
    mode: &str,
    threads: usize,
    epochs: usize,
) -> PeerResult {
    let script_name = match network.peer {
        PeerScript::Mlp => "mlp.py",
        PeerScript::Cnn => "cnn.py",
    };
    let script = report::workspace_root()
        .join("xtask/peers")
        .join(script_name);
    let data = report::workspace_root().join("data/mnist");
    let python = report::peer_python();
    let mut command = report::peer_command(script_name, threads);
    match network.peer {
        PeerScript::Mlp => command.args([
            "--framework",
            framework,
            "--net",
            network.name,
            "--mode",
            mode,
        ]),
        PeerScript::Cnn => command
            .args(["--layers", network.layers])
            .args(["--mode", mode])
            .args(["--activation", network.activation])
            .args(["--optimizer", network.optimizer])
            .args(["--lr", &network.lr.to_string()])
            .args(["--schedule", network.schedule])
            .args(["--batch", &network.batch.to_string()])
            .args(["--limit", &network.images_per_epoch().to_string()]),
    };
    command
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
    let mut value = match serde_json::from_str::<Value>(output.stdout.trim()) {
        Ok(value) => value,
        Err(e) => {
            return PeerResult::Skipped(format!(
                "{} printed something other than one JSON object ({e})",
                script.display()
            ))
        }
    };
    if let Some(reason) = value.get("skipped").and_then(Value::as_str) {
        return PeerResult::Skipped(reason.to_string());
    }
    if let Err(reason) = same_network(network, &value) {
        return PeerResult::Skipped(format!("{}: {reason}", script.display()));
    }
    value["others_cpu_percent"] = json!(output.others_percent);
    value["load_average"] = json!(quiet::load_average());
    PeerResult::Measured(value)
}

/// For `cnn.py`, which builds its network from the spec: whether its
/// parameter count and forward multiply-adds are `nn`'s for that spec.
fn same_network(network: &Network, peer: &Value) -> Result<(), String> {
    if network.peer != PeerScript::Cnn {
        return Ok(());
    }
    let expected = [
        ("parameters", network.parameter_count()),
        (
            "forward_multiply_adds",
            network.spec().forward_multiply_adds(),
        ),
    ];
    for (key, ours) in expected {
        let theirs = peer[key].as_u64();
        if theirs != Some(ours) {
            return Err(format!(
                "built another network than {:?}: {key} {} where nn counts {ours}",
                network.layers,
                theirs.map_or("missing".into(), |n| n.to_string())
            ));
        }
    }
    Ok(())
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
pub fn disturbed_note<'a>(rows: impl IntoIterator<Item = &'a Value>) -> Option<String> {
    rows.into_iter().any(disturbed).then(|| {
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
    fn cnn_flops_are_three_forward_passes_of_the_hand_counted_multiply_adds() {
        // pytorch-example: conv1 26*26*32 outputs of 1*3*3, conv2 24*24*64
        // of 32*3*3, then 9216*128 and 128*10.
        let forward = 26 * 26 * 32 * 9 + 24 * 24 * 64 * 32 * 9 + 9216 * 128 + 128 * 10;
        assert_eq!(forward, 11_992_448);
        let example = &CONV_NETWORKS[0];
        assert_eq!(example.training_flops_per_sample(), 6.0 * forward as f64);
        // torch: 32*9+32, 64*32*9+64, 9216*128+128, 128*10+10.
        assert_eq!(example.parameter_count(), 1_199_882);
        // lenet5: 28*28*6 outputs of 25, 10*10*16 of 6*25, 400*120, 120*84, 84*10.
        let forward = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10;
        let lenet = &CONV_NETWORKS[1];
        assert_eq!(lenet.training_flops_per_sample(), 6.0 * forward as f64);
        assert_eq!(lenet.parameter_count(), 61_706);
        for network in CONV_NETWORKS {
            assert!(network.is_convolutional(), "{}", network.name);
            assert_eq!(network.peer, PeerScript::Cnn);
        }
        assert!(NETWORKS.iter().all(|n| !n.is_convolutional()));
    }

    #[test]
    fn a_cnn_row_says_how_many_images_it_trains_on() {
        assert_eq!(
            CONV_NETWORKS[0].label(),
            "(pytorch-example) 1x28x28 c32k3 c64k3 p2 d0.25 f128 d0.5 10 adadelta B=64, \
             first 6,400 images"
        );
        assert_eq!(NETWORKS[0].label(), "(a) 784-100-10 sgd B=100");
        assert_eq!(thousands(60_000), "60,000");
        // 53,600 training and 3,600 test images left out, 784 bytes each.
        assert_eq!(CONV_NETWORKS[0].unloaded_image_bytes(), 57_200.0 * 784.0);
        assert_eq!(NETWORKS[0].unloaded_image_bytes(), 0.0);
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn a_cnn_peer_that_built_another_network_is_refused() {
        let example = &CONV_NETWORKS[0];
        let same = json!({"parameters": 1_199_882, "forward_multiply_adds": 11_992_448});
        assert_eq!(same_network(example, &same), Ok(()));
        // Other multiply-adds (a padded convolution, say): another network.
        let other = json!({"parameters": 1_199_882, "forward_multiply_adds": 12_000_000});
        let reason = same_network(example, &other).unwrap_err();
        assert!(
            reason.contains("forward_multiply_adds 12000000"),
            "{reason}"
        );
        let silent = json!({"forward_multiply_adds": 11_992_448});
        assert!(same_network(example, &silent)
            .unwrap_err()
            .contains("parameters missing"));
        // mlp.py builds from its own table and reports neither.
        assert_eq!(same_network(&NETWORKS[0], &json!({})), Ok(()));
    }

    #[test]
    fn median_takes_the_upper_middle_like_the_peer_script() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[1.0, 4.0]), Some(4.0));
        assert_eq!(median(&[]), None);
    }
}
