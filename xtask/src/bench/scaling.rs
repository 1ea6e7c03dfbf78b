//! `cargo xtask bench scaling` (issue 22): how throughput grows with the
//! work. Training steps and forward passes of the MLP `784-W-W-10` (ReLU,
//! Adam as network (b) of `train`) as the hidden width `W` grows at batch
//! 128, and as the batch grows at width 512, at 1 thread and at all
//! threads, ours (`nn` and `optim` in this process) and PyTorch's
//! (`xtask/peers/scaling.py`, one long-lived process per thread count)
//! taking turns at every point. Each side's figure at a point is the median
//! of samples of ~10 ms, as many as fit in a short budget after warm-up
//! calls.
//!
//! The results are drawn as two SVG charts, `docs/scaling-width.svg` and
//! `docs/scaling-batch.svg` (with `--quick`, into `target/bench/` instead,
//! so a smoke test does not overwrite the charts BENCHMARKS.md links to).
//!
//! Not part of `cargo xtask bench` with no name: it takes a few minutes and
//! rewrites files under `docs/`. `SCALING_THREADS=1` limits the thread
//! counts; PyTorch runs whenever it is installed (`--compare` is not needed,
//! the comparison is the point). `SCALING_CLOCK=cpu` times both sides by
//! their thread's CPU time, at 1 thread only, into
//! `docs/scaling-SWEEP-cpu-time.svg`: on a machine shared with builds, the
//! 1-thread curves without the time the scheduler gave to others.

use super::networks::{self, NETWORKS};
use super::peer_process::PeerProcess;
use super::quiet;
use crate::chart::{self, Chart, LogAxis, Marker, Panel, Reference, SecondaryAxis, Series, Style};
use crate::report::{self, BenchOptions, Clock};
use nn::{softmax_cross_entropy, Init, ModelSpec, Sequential, Targets};
use optim::{optimizer_by_name, CommonSettings, Optimizer, Param};
use serde_json::{json, Value};
use tensor::Matrix;

/// The network's inputs (MNIST's pixels) and classes.
const INPUTS: usize = 784;
const CLASSES: usize = 10;

/// The width sweep: powers of two from 64 to 4096 and the points half way
/// between (x1.5), at [`WIDTH_SWEEP_BATCH`].
const WIDTHS: [usize; 13] = [
    64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096,
];
const WIDTH_SWEEP_BATCH: usize = 128;

/// The batch sweep: powers of two from 1 to 1024 and the points half way
/// between, at [`BATCH_SWEEP_WIDTH`].
const BATCHES: [usize; 20] = [
    1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024,
];
const BATCH_SWEEP_WIDTH: usize = 512;

/// Seconds of timed samples per point, side and mode (after warm-up and
/// sizing calls), and the length of one sample.
const BUDGET_SECONDS: f64 = 0.3;
const SAMPLE_SECONDS: f64 = 0.01;
/// At least this many samples, even when one call outlasts the budget
/// (a training step at width 4096 takes ~0.2 s).
const MIN_SAMPLES: usize = 3;

/// How every point is sampled in this run.
#[derive(Clone, Copy, Debug)]
struct Sampling {
    budget_seconds: f64,
    min_samples: usize,
    clock: Clock,
}

impl Sampling {
    /// [`BUDGET_SECONDS`] and [`MIN_SAMPLES`], or a token budget with
    /// `--quick`; the clock `SCALING_CLOCK` names (`wall`, the default, or
    /// `cpu`: see [`Clock::ThreadCpu`]).
    fn of(options: &BenchOptions) -> Result<Sampling, String> {
        let clock = match std::env::var("SCALING_CLOCK").as_deref() {
            Err(_) | Ok("wall") => Clock::Wall,
            Ok("cpu") => Clock::ThreadCpu,
            Ok(other) => {
                return Err(format!(
                    "SCALING_CLOCK={other:?}: expected \"wall\" or \"cpu\""
                ))
            }
        };
        let (budget_seconds, min_samples) = if options.quick {
            (0.02, 1)
        } else {
            (BUDGET_SECONDS, MIN_SAMPLES)
        };
        Ok(Sampling {
            budget_seconds,
            min_samples,
            clock,
        })
    }

    /// The clock's name in the JSON rows and in requests to `scaling.py`.
    fn clock_name(self) -> &'static str {
        match self.clock {
            Clock::Wall => "wall",
            Clock::ThreadCpu => "thread_cpu",
        }
    }
}

/// Which quantity a sweep varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sweep {
    Width,
    Batch,
}

impl Sweep {
    const ALL: [Sweep; 2] = [Sweep::Width, Sweep::Batch];

    fn name(self) -> &'static str {
        match self {
            Sweep::Width => "width",
            Sweep::Batch => "batch",
        }
    }

    /// The (width, batch) of every point; with `--quick`, three of them.
    fn points(self, quick: bool) -> Vec<(usize, usize)> {
        match (self, quick) {
            (Sweep::Width, false) => WIDTHS.map(|w| (w, WIDTH_SWEEP_BATCH)).to_vec(),
            (Sweep::Width, true) => vec![(64, WIDTH_SWEEP_BATCH), (256, WIDTH_SWEEP_BATCH)],
            (Sweep::Batch, false) => BATCHES.map(|b| (BATCH_SWEEP_WIDTH, b)).to_vec(),
            (Sweep::Batch, true) => vec![(BATCH_SWEEP_WIDTH, 1), (BATCH_SWEEP_WIDTH, 32)],
        }
    }

    /// The swept value of `row`.
    fn x(self, row: &Value) -> Option<f64> {
        row[self.name()].as_f64()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Forward, loss, backward and an optimizer step.
    Train,
    /// The forward pass alone, in evaluation mode, to logits.
    Infer,
}

impl Mode {
    const ALL: [Mode; 2] = [Mode::Train, Mode::Infer];

    fn name(self) -> &'static str {
        match self {
            Mode::Train => "train",
            Mode::Infer => "infer",
        }
    }

    /// FLOPs per sample, as `train` and `infer` count them.
    fn flops(self, spec: &ModelSpec) -> f64 {
        match self {
            Mode::Train => networks::training_flops(spec),
            Mode::Infer => networks::inference_flops(spec),
        }
    }
}

/// The layers `784-W-W-10`.
fn layers(width: usize) -> String {
    format!("{INPUTS}-{width}-{width}-{CLASSES}")
}

/// The optimizer and learning rate: network (b)'s, the `train` benchmark's
/// MLP with two hidden layers.
fn optimizer_settings() -> (&'static str, f32) {
    let b = &NETWORKS[1];
    (b.optimizer, b.lr)
}

/// Our side of a point: the model, its optimizer and one fixed batch.
struct OurMlp {
    model: Sequential,
    optimizer: Box<dyn Optimizer>,
    images: Matrix,
    classes: Vec<usize>,
    dlogits: Matrix,
}

impl OurMlp {
    fn new(width: usize) -> Result<OurMlp, String> {
        let spec = ModelSpec::parse(&format!("{} hidden=relu", layers(width)))
            .map_err(|e| e.to_string())?;
        let (optimizer, lr) = optimizer_settings();
        let settings = CommonSettings {
            lr: Some(lr),
            ..CommonSettings::default()
        };
        Ok(OurMlp {
            model: Sequential::new(&spec, Init::HeNormal, 1).map_err(|e| e.to_string())?,
            optimizer: optimizer_by_name(optimizer, &settings).map_err(|e| e.to_string())?,
            images: Matrix::zeros(0, INPUTS),
            classes: Vec::new(),
            dlogits: Matrix::zeros(0, CLASSES),
        })
    }

    /// A batch of `batch` images of pixels in [0, 1) and classes 0-9 in
    /// turn, as `scaling.py` makes its own (a dense layer's time does not
    /// depend on the values).
    fn set_batch(&mut self, batch: usize) {
        self.images = Matrix::from_fn(batch, INPUTS, |r, c| ((r * 31 + c * 17) % 23) as f32 / 23.0);
        self.classes = (0..batch).map(|r| r % CLASSES).collect();
    }

    /// One training step or forward pass on the batch, as the trainer's
    /// step runs them (`crates/trainer/src/train.rs`, `train_step`), without
    /// its bookkeeping.
    fn call(&mut self, mode: Mode) -> Result<(), String> {
        let logits = self
            .model
            .forward(self.images.view())
            .map_err(|e| e.to_string())?;
        if mode == Mode::Infer {
            std::hint::black_box(logits);
            return Ok(());
        }
        softmax_cross_entropy(
            logits.view(),
            Targets::Classes(&self.classes),
            &mut self.dlogits,
        )
        .map_err(|e| e.to_string())?;
        self.model
            .backward(self.images.view(), self.dlogits.view())
            .map_err(|e| e.to_string())?;
        self.optimizer
            .step_iter(&mut self.model.params_mut().map(Param::from))
            .map_err(|e| e.to_string())
    }

    /// Seconds per call of each sample at `mode` (see [`BUDGET_SECONDS`]).
    fn seconds_per_call(&mut self, mode: Mode, sampling: Sampling) -> Vec<f64> {
        self.model.set_training(mode == Mode::Train);
        let mut call = || self.call(mode).expect("the batch fits the network");
        let calls = report::calls_per_sample(SAMPLE_SECONDS, sampling.clock, &mut call);
        report::samples_within(
            sampling.budget_seconds,
            sampling.min_samples,
            calls,
            sampling.clock,
            call,
        )
    }
}

pub fn run(options: &BenchOptions) -> Result<Vec<Value>, String> {
    let sampling = Sampling::of(options)?;
    if sampling.clock == Clock::ThreadCpu {
        println!("SCALING_CLOCK=cpu: 1 thread only, each side timed by its thread's CPU time.\n");
    }
    let mut rows = Vec::new();
    for threads in networks::thread_counts()
        .into_iter()
        .filter(|t| networks::selected("SCALING_THREADS", &t.to_string()))
        // Another thread's time is not on the calling thread's clock.
        .filter(|t| sampling.clock == Clock::Wall || *t == 1)
    {
        tensor::set_threads(threads);
        // One-thread runs, ours and PyTorch's, on one core (see
        // `report::on_one_core`).
        let measured = report::on_one_core(threads == 1, || -> Result<Vec<Value>, String> {
            let mut torch = match PeerProcess::start("scaling.py", "torch", threads) {
                Ok(peer) => Some(peer),
                Err(why) => {
                    println!("PyTorch comparison skipped: {why}\n");
                    None
                }
            };
            let mut rows = Vec::new();
            for sweep in Sweep::ALL {
                quiet::wait_for_quiet(&format!(
                    "the {} sweep on {threads} thread(s)",
                    sweep.name()
                ));
                let mut ours: Option<(usize, OurMlp)> = None;
                for (index, (width, batch)) in sweep.points(options.quick).into_iter().enumerate() {
                    if ours.as_ref().is_none_or(|(w, _)| *w != width) {
                        // The old model goes first: at width 4096 one holds ~270 MB.
                        drop(ours.take());
                        ours = Some((width, OurMlp::new(width)?));
                    }
                    let (_, mlp) = ours.as_mut().expect("made just above");
                    mlp.set_batch(batch);
                    let point = Point {
                        sweep,
                        width,
                        batch,
                        threads,
                    };
                    rows.extend(point.measure(mlp, &mut torch, index % 2 == 1, sampling));
                }
            }
            Ok(rows)
        })?;
        rows.extend(measured);
    }
    tensor::set_threads(networks::cores());
    print_table(&rows);
    write_charts(&rows, options.quick, sampling.clock)?;
    Ok(rows)
}

/// One point of a sweep at one thread count.
struct Point {
    sweep: Sweep,
    width: usize,
    batch: usize,
    threads: usize,
}

impl Point {
    /// The rows of both modes at this point: ours, and PyTorch's while
    /// `torch` runs (a peer that fails is reported and dropped). Who goes
    /// first is `torch_first`, alternated by the caller from point to point.
    fn measure(
        &self,
        ours: &mut OurMlp,
        torch: &mut Option<PeerProcess>,
        torch_first: bool,
        sampling: Sampling,
    ) -> Vec<Value> {
        let watch = quiet::CpuWatch::start();
        let peer_pid = torch.as_ref().map(|peer| peer.pid().to_string());
        let ticks = || {
            quiet::process_ticks("self").unwrap_or(0)
                + peer_pid
                    .as_deref()
                    .and_then(quiet::process_ticks)
                    .unwrap_or(0)
        };
        let ticks_before = ticks();
        let mut measured = Vec::new();
        for mode in Mode::ALL {
            let mut theirs = None;
            if torch_first {
                theirs = self.torch_seconds(torch, mode, sampling);
            }
            let ours = ours.seconds_per_call(mode, sampling);
            if !torch_first {
                theirs = self.torch_seconds(torch, mode, sampling);
            }
            measured.push((mode, ours, theirs));
        }
        let others = watch.others_percent(ticks().saturating_sub(ticks_before));
        let version = torch.as_ref().map(|peer| peer.version.clone());
        measured
            .into_iter()
            .map(|(mode, ours, theirs)| {
                let mut row = self.row(mode, &ours, theirs.as_deref(), version.as_deref());
                row["others_cpu_percent"] = json!(others);
                row["clock"] = json!(sampling.clock_name());
                row
            })
            .collect()
    }

    /// PyTorch's seconds per call of each sample, or none once it has failed.
    fn torch_seconds(
        &self,
        torch: &mut Option<PeerProcess>,
        mode: Mode,
        sampling: Sampling,
    ) -> Option<Vec<f64>> {
        let peer = torch.as_mut()?;
        let (optimizer, lr) = optimizer_settings();
        let request = json!({
            "sizes": [INPUTS, self.width, self.width, CLASSES],
            "batch": self.batch,
            "mode": mode.name(),
            "optimizer": optimizer,
            "lr": lr,
            "sample_seconds": SAMPLE_SECONDS,
            "budget_seconds": sampling.budget_seconds,
            "min_samples": sampling.min_samples,
            "clock": sampling.clock_name(),
        });
        peer.seconds_per_call(&request, None)
            .map_err(|why| {
                println!("PyTorch comparison stopped: {why}\n");
                *torch = None;
            })
            .ok()
    }

    /// The row of `mode` from both sides' samples (seconds per call).
    fn row(
        &self,
        mode: Mode,
        ours: &[f64],
        torch: Option<&[f64]>,
        torch_version: Option<&str>,
    ) -> Value {
        let spec = ModelSpec::parse(&layers(self.width)).expect("784-W-W-10 parses");
        let flops = mode.flops(&spec);
        let peak = networks::peak_gflops(self.threads);
        let samples_per_second =
            |seconds: &[f64]| networks::median(seconds).map(|s| self.batch as f64 / s);
        let ours_rate = samples_per_second(ours).expect("every point takes samples");
        let gflops = ours_rate * flops / 1e9;
        let mut row = json!({
            "bench": "scaling",
            "sweep": self.sweep.name(),
            "mode": mode.name(),
            "layers": layers(self.width),
            "width": self.width,
            "batch": self.batch,
            "threads": self.threads,
            "flops_per_sample": flops,
            "samples": ours.len(),
            "samples_per_second": ours_rate,
            "gflops": gflops,
            "percent_of_peak": 100.0 * gflops / peak,
        });
        if let Some(theirs) = torch.and_then(samples_per_second) {
            row["torch_samples_per_second"] = json!(theirs);
            row["torch_gflops"] = json!(theirs * flops / 1e9);
            row["torch_percent_of_peak"] = json!(100.0 * theirs * flops / 1e9 / peak);
            row["ours_over_torch"] = json!(ours_rate / theirs);
            row["torch_version"] = json!(torch_version);
        }
        row
    }
}

fn print_table(rows: &[Value]) {
    let (optimizer, _) = optimizer_settings();
    println!("## scaling (`cargo xtask bench scaling`)\n");
    println!(
        "784-W-W-10 ReLU; train: a step of forward, cross-entropy, backward and {optimizer}; \
         infer: the forward pass to logits. GFLOP/s count the GEMM work as `train` and `infer` \
         do; % is of the measured peak for the threads used. PyTorch \
         (`xtask/peers/scaling.py`) takes turns with ours at every point; each figure is the \
         median of ~{:.0} ms samples over {BUDGET_SECONDS} s.\n",
        SAMPLE_SECONDS * 1e3
    );
    for sweep in Sweep::ALL {
        let of_sweep: Vec<&Value> = rows.iter().filter(|r| r["sweep"] == sweep.name()).collect();
        if of_sweep.is_empty() {
            continue;
        }
        let fixed = match sweep {
            Sweep::Width => format!("batch {WIDTH_SWEEP_BATCH}"),
            Sweep::Batch => format!("width {BATCH_SWEEP_WIDTH}"),
        };
        println!("### {} sweep ({fixed})\n", sweep.name());
        println!(
            "| {} | threads | mode | samples/s | GFLOP/s | % peak | torch GFLOP/s | ours / torch |",
            sweep.name()
        );
        println!("|--:|--:|:--|--:|--:|--:|--:|--:|");
        for row in of_sweep {
            let number = |key: &str, digits: usize| report::number(row, key, digits);
            println!(
                "| {}{} | {} | {} | {} | {} | {} | {} | {} |",
                row[sweep.name()],
                if networks::disturbed(row) { " (!)" } else { "" },
                row["threads"],
                row["mode"].as_str().unwrap_or(""),
                number("samples_per_second", 0),
                number("gflops", 1),
                number("percent_of_peak", 0),
                number("torch_gflops", 1),
                row["ours_over_torch"]
                    .as_f64()
                    .map_or("-".into(), |r| format!("{r:.2}x")),
            );
        }
        println!();
    }
    if let Some(note) = networks::disturbed_note(rows) {
        println!("{note}\n");
    }
}

/// The two charts, one per sweep: into `docs/`, or `target/bench/` when
/// `quick`; `scaling-SWEEP.svg`, or `scaling-SWEEP-cpu-time.svg` when timed
/// on the thread's CPU time.
fn write_charts(rows: &[Value], quick: bool, clock: Clock) -> Result<(), String> {
    let dir = if quick { "target/bench" } else { "docs" };
    let suffix = match clock {
        Clock::Wall => "",
        Clock::ThreadCpu => "-cpu-time",
    };
    let mut notes = run_notes(rows);
    if clock == Clock::ThreadCpu {
        notes.push(
            "Timed by each side's thread CPU time (SCALING_CLOCK=cpu), which leaves out \
             the time the scheduler gave other processes."
                .into(),
        );
    }
    for sweep in Sweep::ALL {
        let of_sweep: Vec<&Value> = rows.iter().filter(|r| r["sweep"] == sweep.name()).collect();
        if of_sweep.is_empty() {
            continue;
        }
        let chart = sweep_chart(sweep, &of_sweep, notes.clone());
        let path =
            report::workspace_root().join(format!("{dir}/scaling-{}{suffix}.svg", sweep.name()));
        report::write_atomically(&path, &chart.to_svg())?;
    }
    Ok(())
}

/// The lines under each chart's title: what ran where, and when.
fn run_notes(rows: &[Value]) -> Vec<String> {
    let torch = rows
        .iter()
        .find_map(|row| row["torch_version"].as_str())
        .map_or("PyTorch not run".to_string(), |v| format!("PyTorch {v}"));
    let disturbed = rows.iter().filter(|row| networks::disturbed(row)).count();
    let mut notes = vec![
        format!(
            "{}; FP32 peak {:.0} GFLOP/s on 1 core, {:.0} on {}; {torch}",
            report::cpu_model(),
            report::peak_gflops_per_core(),
            report::peak_gflops_all_cores(),
            networks::cores()
        ),
        format!("{}, commit {}", utc_now(), git_commit()),
    ];
    if disturbed > 0 {
        notes.push(format!(
            "Under load: other processes took more than {}% of the CPU during {disturbed} of {} rows.",
            quiet::BUSY_PERCENT,
            rows.len()
        ));
    }
    notes
}

/// A chart of one sweep: a panel per mode, a series per side and thread
/// count, GFLOP/s on the left axis and the share of one core's peak on the
/// right (a 2-thread series can reach 200%).
fn sweep_chart(sweep: Sweep, rows: &[&Value], notes: Vec<String>) -> Chart {
    let (peak_one, peak_all) = (
        report::peak_gflops_per_core(),
        report::peak_gflops_all_cores(),
    );
    let (optimizer, _) = optimizer_settings();
    let (title, x_label) = match sweep {
        Sweep::Width => (
            format!("784-W-W-10 MLP at batch {WIDTH_SWEEP_BATCH}, as the width W grows"),
            "hidden width W",
        ),
        Sweep::Batch => (
            format!("784-{0}-{0}-10 MLP as the batch grows", BATCH_SWEEP_WIDTH),
            "batch (samples per step)",
        ),
    };
    let panels: Vec<Panel> = Mode::ALL
        .iter()
        .map(|&mode| Panel {
            title: match mode {
                Mode::Train => format!("training step ({optimizer})"),
                Mode::Infer => "inference (forward to logits)".into(),
            },
            series: series_of(sweep, mode, rows),
        })
        .collect();
    let y_values = rows
        .iter()
        .flat_map(|row| [row["gflops"].as_f64(), row["torch_gflops"].as_f64()])
        .flatten()
        .chain([peak_all]);
    let x_values: Vec<f64> = rows.iter().filter_map(|row| sweep.x(row)).collect();
    let x_ticks = match sweep {
        Sweep::Width => WIDTHS.iter().step_by(2).map(|&w| w as f64).collect(),
        Sweep::Batch => BATCHES
            .iter()
            .filter(|b| b.is_power_of_two())
            .map(|&b| b as f64)
            .collect(),
    };
    Chart {
        title,
        notes,
        x: LogAxis {
            label: x_label.into(),
            min: x_values.iter().copied().fold(f64::INFINITY, f64::min),
            max: x_values.iter().copied().fold(0.0, f64::max),
            ticks: x_ticks,
        },
        y: LogAxis::around("GFLOP/s", y_values),
        right: Some(SecondaryAxis {
            label: format!("% of one core's peak ({peak_one:.0} GFLOP/s)"),
            scale: 100.0 / peak_one,
            ticks: chart::one_two_five_between(0.1, 1000.0),
            unit: "%",
        }),
        references: vec![
            Reference {
                label: "peak, 1 core".into(),
                value: peak_one,
            },
            Reference {
                label: format!("peak, {} cores", networks::cores()),
                value: peak_all,
            },
        ],
        panels,
    }
}

/// Ours and PyTorch's at each thread count, in `mode`: blue for ours,
/// orange for PyTorch; solid with circles at 1 thread, dashed with squares
/// at more.
fn series_of(sweep: Sweep, mode: Mode, rows: &[&Value]) -> Vec<Series> {
    let mut series = Vec::new();
    for (side, key, color) in [
        ("ours", "gflops", "#1f5fb4"),
        ("PyTorch", "torch_gflops", "#e8710a"),
    ] {
        for threads in networks::thread_counts() {
            let points: Vec<(f64, f64)> = rows
                .iter()
                .filter(|row| row["mode"] == mode.name() && row["threads"] == threads)
                .filter_map(|row| Some((sweep.x(row)?, row[key].as_f64()?)))
                .collect();
            if points.is_empty() {
                continue;
            }
            let one = threads == 1;
            series.push(Series {
                name: format!("{side}, {threads} thread{}", if one { "" } else { "s" }),
                style: Style {
                    color,
                    dashed: !one,
                    marker: if one { Marker::Circle } else { Marker::Square },
                },
                points,
            });
        }
    }
    series
}

/// `2026-12-07 18:40 UTC`, from `date` (or "date unknown").
fn utc_now() -> String {
    command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "date unknown".into())
}

/// The short commit of the workspace, `+` when it has uncommitted changes.
fn git_commit() -> String {
    let commit = command_output("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = command_output("git", &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|changes| !changes.is_empty());
    commit.map_or(
        "unknown".into(),
        |c| {
            if dirty {
                format!("{c}+")
            } else {
                c
            }
        },
    )
}

/// What `program args` prints, trimmed, when it runs and succeeds.
fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = std::process::Command::new(program)
        .args(args)
        .current_dir(report::workspace_root())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweeps_cover_the_issue_ranges_and_count_flops_as_train_does() {
        let widths: Vec<usize> = Sweep::Width.points(false).iter().map(|p| p.0).collect();
        assert_eq!((widths[0], widths[widths.len() - 1]), (64, 4096));
        let batches: Vec<usize> = Sweep::Batch.points(false).iter().map(|p| p.1).collect();
        assert_eq!((batches[0], batches[batches.len() - 1]), (1, 1024));
        assert!(batches.windows(2).all(|pair| pair[0] < pair[1]));
        // 784-512-512-10: forward 2*(784*512 + 512*512 + 512*10); training
        // twice that plus dX of the last two layers.
        let spec = ModelSpec::parse(&layers(512)).unwrap();
        let forward = 2.0 * (784.0 * 512.0 + 512.0 * 512.0 + 512.0 * 10.0);
        assert_eq!(Mode::Infer.flops(&spec), forward);
        let dx = 2.0 * (512.0 * 512.0 + 512.0 * 10.0);
        assert_eq!(Mode::Train.flops(&spec), 2.0 * forward + dx);
    }

    #[test]
    fn a_row_reports_samples_per_second_from_the_median_sample() {
        let point = Point {
            sweep: Sweep::Batch,
            width: 64,
            batch: 32,
            threads: 1,
        };
        // Medians: 2 ms ours, 4 ms theirs (upper middle of an even count).
        let row = point.row(
            Mode::Infer,
            &[0.003, 0.001, 0.002],
            Some(&[0.005, 0.004]),
            Some("2.15.0"),
        );
        assert_eq!(row["samples_per_second"], 32.0 / 0.002);
        assert_eq!(row["torch_samples_per_second"], 32.0 / 0.005);
        assert_eq!(row["ours_over_torch"], 0.005 / 0.002);
        let flops = 2.0 * (784.0 * 64.0 + 64.0 * 64.0 + 64.0 * 10.0);
        assert_eq!(row["gflops"], 32.0 / 0.002 * flops / 1e9);
        assert_eq!(row["batch"], 32);
        let alone = point.row(Mode::Train, &[0.002], None, None);
        assert!(alone.get("torch_gflops").is_none());
    }

    #[test]
    fn a_chart_has_a_series_per_side_and_thread_count_in_each_mode() {
        let rows: Vec<Value> = [(1, "train"), (1, "infer"), (2, "train")]
            .into_iter()
            .flat_map(|(threads, mode)| {
                [64, 128].map(|width| {
                    json!({"sweep": "width", "mode": mode, "threads": threads, "width": width,
                           "gflops": width as f64 / 10.0, "torch_gflops": width as f64 / 20.0})
                })
            })
            .collect();
        let rows: Vec<&Value> = rows.iter().collect();
        let train = series_of(Sweep::Width, Mode::Train, &rows);
        let names: Vec<&str> = train.iter().map(|s| s.name.as_str()).collect();
        if networks::cores() == 2 {
            let expected = [
                "ours, 1 thread",
                "ours, 2 threads",
                "PyTorch, 1 thread",
                "PyTorch, 2 threads",
            ];
            assert_eq!(names, expected);
        }
        assert_eq!(train[0].points, [(64.0, 6.4), (128.0, 12.8)]);
        let infer = series_of(Sweep::Width, Mode::Infer, &rows);
        assert!(infer.iter().all(|s| !s.style.dashed));
    }
}
