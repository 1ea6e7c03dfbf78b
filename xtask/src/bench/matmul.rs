//! `cargo xtask bench matmul`: GEMM GFLOP/s at the shapes the issue lists,
//! at 1 thread and at all threads, as a share of the measured FMA peak, and
//! beside numpy's float32 matmul (OpenBLAS) with `--compare`.
//!
//! For tuning, `MATMUL_ONLY=1024x1024x1024,100x784x100` (m x k x n, any
//! layout) limits the shapes and `MATMUL_THREADS=1` the thread counts.

use super::networks;
use super::peer_process::PeerProcess;
use crate::report::{self, BenchOptions};
use serde_json::{json, Value};
use std::time::Instant;
use tensor::{gemm_with, Epilogue, GemmConfig, Matrix, Operand};

/// One benchmarked product: `C (m x n) = op(A) (m x k) * op(B) (k x n)`.
#[derive(Clone, Copy, Debug)]
struct Shape {
    m: usize,
    k: usize,
    n: usize,
    trans_a: bool,
    trans_b: bool,
    /// What the shape stands for, for the table.
    role: &'static str,
}

/// The square and MLP shapes of issue 2, then each Dense layer of the
/// trainer's networks (`B` batch, `I` inputs, `O` outputs) as its three
/// GEMMs: forward `X * W^T` (m=B, k=I, n=O), `dW = dY^T * X` (m=O, k=B, n=I)
/// and `dX = dY * W` (m=B, k=O, n=I).
fn shapes() -> Vec<Shape> {
    let plain = |m, k, n| Shape {
        m,
        k,
        n,
        trans_a: false,
        trans_b: false,
        role: "A*B",
    };
    let mut shapes: Vec<Shape> = [
        (100, 784, 100),
        (128, 784, 256),
        (128, 256, 784),
        (256, 256, 256),
        (512, 512, 512),
        (1024, 1024, 1024),
        (2048, 2048, 2048),
    ]
    .into_iter()
    .map(|(m, k, n)| plain(m, k, n))
    .collect();
    // (B, I, O): net a's hidden layer, issue 2's 128x784x256, net b's two
    // hidden layers.
    for (batch, inputs, outputs) in [
        (100, 784, 100),
        (128, 784, 256),
        (128, 784, 512),
        (128, 512, 256),
    ] {
        shapes.push(Shape {
            m: batch,
            k: inputs,
            n: outputs,
            trans_a: false,
            trans_b: true,
            role: "fwd X*W^T",
        });
        shapes.push(Shape {
            m: outputs,
            k: batch,
            n: inputs,
            trans_a: true,
            trans_b: false,
            role: "dW=dY^T*X",
        });
        shapes.push(Shape {
            m: batch,
            k: outputs,
            n: inputs,
            trans_a: false,
            trans_b: false,
            role: "dX=dY*W",
        });
    }
    shapes
}

/// Rounds, each over every shape, alternating ours and numpy's at each, and
/// timed samples per side per shape and round; each side's figure is the
/// median of all its samples of the shape.
const ROUNDS: usize = 4;
const SAMPLES_PER_ROUND: usize = 3;

pub fn run(options: &BenchOptions) -> Result<Vec<Value>, String> {
    let shapes: Vec<Shape> = shapes()
        .into_iter()
        .filter(|s| networks::selected("MATMUL_ONLY", &format!("{}x{}x{}", s.m, s.k, s.n)))
        .collect();
    let rounds = if options.quick { 1 } else { ROUNDS };
    let mut compare = options.compare;
    let mut rows = Vec::new();
    for threads in networks::thread_counts()
        .into_iter()
        .filter(|t| networks::selected("MATMUL_THREADS", &t.to_string()))
    {
        let peak = networks::peak_gflops(threads);
        rows.extend(report::on_one_core(threads == 1, || {
            // With --compare, numpy runs in a process of its own beside
            // ours, and the two take turns at each shape, round by round: a
            // slow moment of the machine then costs both sides some
            // samples, where one long sample per side put it all on
            // whichever side ran during it.
            let mut numpy = None;
            if compare {
                match PeerProcess::start("matmul_numpy.py", "numpy", threads) {
                    Ok(peer) => numpy = Some(peer),
                    Err(why) => {
                        println!("numpy comparison skipped: {why}\n");
                        compare = false;
                    }
                }
            }
            measure_rows(&shapes, threads, rounds, peak, &mut numpy)
        }));
    }
    print_table(&rows);
    Ok(rows)
}

/// A row per shape, at `threads` threads, with numpy's figure beside ours
/// while `numpy` runs.
fn measure_rows(
    shapes: &[Shape],
    threads: usize,
    rounds: usize,
    peak: f64,
    numpy: &mut Option<PeerProcess>,
) -> Vec<Value> {
    // A round visits every shape in turn, so a row's samples are spread
    // over the whole pass rather than taken in one stretch: the host's slow
    // moments last seconds (see BENCHMARKS.md, "Two threads on this VM"),
    // long enough to cover all of one shape's rounds taken back to back.
    let mut products: Vec<OurProduct> = shapes
        .iter()
        .map(|shape| OurProduct::new(shape, threads))
        .collect();
    // An untimed pass over the first shape: its figure was otherwise
    // taken on a cold start (the pool's threads, the pages of the
    // buffers, the core after the peak's idle gaps) and came out 10-30%
    // below the same shape measured later. The peer's first shape is
    // likewise its first use of OpenBLAS.
    if let (Some(first), Some(product)) = (shapes.first(), products.first_mut()) {
        product.seconds_per_call(1, 1);
        numpy_seconds(numpy, first, 1, 1);
    }
    let mut our_samples = vec![Vec::new(); shapes.len()];
    let mut numpy_samples = vec![Vec::new(); shapes.len()];
    for round in 0..rounds {
        for (index, shape) in shapes.iter().enumerate() {
            // Who goes first alternates, so neither side always runs on
            // caches the other has just filled.
            if round % 2 == 1 {
                numpy_samples[index].extend(numpy_seconds(numpy, shape, 1, SAMPLES_PER_ROUND));
            }
            our_samples[index].extend(products[index].seconds_per_call(1, SAMPLES_PER_ROUND));
            if round % 2 == 0 {
                numpy_samples[index].extend(numpy_seconds(numpy, shape, 1, SAMPLES_PER_ROUND));
            }
        }
    }
    let mut rows = Vec::new();
    for ((shape, our_samples), numpy_samples) in shapes.iter().zip(our_samples).zip(numpy_samples) {
        let gflops = shape.flops() / median(&our_samples) / 1e9;
        let mut row = json!({
            "m": shape.m, "k": shape.k, "n": shape.n,
            "trans_a": shape.trans_a, "trans_b": shape.trans_b,
            "role": shape.role,
            "threads": threads,
            "gflops": gflops,
            "percent_of_peak": 100.0 * gflops / peak,
        });
        // A peer that failed was dropped (`numpy` is then None), in
        // whatever round: every row of this thread count then goes without
        // numpy's figure, even those whose samples were complete, rather
        // than some being compared on fewer samples than others.
        if let Some(peer) = numpy.as_ref() {
            let numpy_gflops = shape.flops() / median(&numpy_samples) / 1e9;
            row["numpy_gflops"] = json!(numpy_gflops);
            row["ratio"] = json!(gflops / numpy_gflops);
            row["numpy_version"] = json!(peer.version);
        }
        rows.push(row);
    }
    rows
}

/// numpy's seconds per call at `shape` ([`numpy_seconds_per_call`]),
/// or none once the peer has failed: its error is printed and it is dropped.
fn numpy_seconds(
    numpy: &mut Option<PeerProcess>,
    shape: &Shape,
    warmup: usize,
    samples: usize,
) -> Vec<f64> {
    let Some(peer) = numpy.as_mut() else {
        return Vec::new();
    };
    numpy_seconds_per_call(peer, shape, warmup, samples).unwrap_or_else(|why| {
        println!("numpy comparison stopped: {why}\n");
        *numpy = None;
        Vec::new()
    })
}

impl Shape {
    fn flops(&self) -> f64 {
        2.0 * (self.m * self.n * self.k) as f64
    }
}

fn median(samples: &[f64]) -> f64 {
    networks::median(samples).expect("every shape takes samples")
}

/// Our GEMM at one shape and thread count, ready to be timed.
struct OurProduct {
    a: Matrix,
    b: Matrix,
    c: Matrix,
    trans_a: bool,
    trans_b: bool,
    config: GemmConfig,
    /// Calls per sample: enough that one sample takes ~10 ms, so timer
    /// resolution and call overhead do not flatter or punish small shapes.
    calls: usize,
}

impl OurProduct {
    fn new(shape: &Shape, threads: usize) -> OurProduct {
        let value = |r: usize, c: usize| ((r * 31 + c * 17) % 23) as f32 / 23.0 - 0.5;
        let (a_rows, a_cols) = if shape.trans_a {
            (shape.k, shape.m)
        } else {
            (shape.m, shape.k)
        };
        let (b_rows, b_cols) = if shape.trans_b {
            (shape.n, shape.k)
        } else {
            (shape.k, shape.n)
        };
        let mut product = OurProduct {
            a: Matrix::from_fn(a_rows, a_cols, value),
            b: Matrix::from_fn(b_rows, b_cols, value),
            c: Matrix::zeros(shape.m, shape.n),
            trans_a: shape.trans_a,
            trans_b: shape.trans_b,
            config: GemmConfig {
                threads: Some(threads),
                ..GemmConfig::default()
            },
            calls: 1,
        };
        product.calls = report::calls_per_sample(0.01, report::Clock::Wall, || product.call());
        product
    }

    fn call(&mut self) {
        let op_a = Operand {
            matrix: self.a.view(),
            transposed: self.trans_a,
        };
        let op_b = Operand {
            matrix: self.b.view(),
            transposed: self.trans_b,
        };
        gemm_with(
            &self.config,
            1.0,
            op_a,
            op_b,
            0.0,
            self.c.view_mut(),
            Epilogue::None,
        )
        .expect("benchmark shapes fit together");
    }

    /// `warmup` untimed samples, then the seconds per call of `samples` timed ones.
    fn seconds_per_call(&mut self, warmup: usize, samples: usize) -> Vec<f64> {
        (0..warmup + samples)
            .filter_map(|index| {
                let start = Instant::now();
                (0..self.calls).for_each(|_| self.call());
                let seconds = start.elapsed().as_secs_f64() / self.calls as f64;
                (index >= warmup).then_some(seconds)
            })
            .collect()
    }
}

/// numpy's seconds per call of `samples` samples at `shape`, after
/// `warmup` untimed ones (`xtask/peers/matmul_numpy.py`).
fn numpy_seconds_per_call(
    peer: &mut PeerProcess,
    shape: &Shape,
    warmup: usize,
    samples: usize,
) -> Result<Vec<f64>, String> {
    let request = json!({
        "shape": [shape.m, shape.k, shape.n, shape.trans_a, shape.trans_b],
        "warmup": warmup,
        "samples": samples,
    });
    peer.seconds_per_call(&request, Some(samples))
}

fn print_table(rows: &[Value]) {
    println!("## matmul (f32 GEMM, C = op(A) * op(B))\n");
    println!(
        "Peak: {:.1} GFLOP/s on 1 core, {:.1} on {}; % is of the peak for the threads used.",
        report::peak_gflops_per_core(),
        report::peak_gflops_all_cores(),
        networks::cores()
    );
    let compared = rows.iter().any(|r| r.get("numpy_gflops").is_some());
    if compared {
        println!(
            "numpy: float32 np.matmul (OpenBLAS), taking turns with ours at each shape \
             ({ROUNDS} rounds over all shapes, {SAMPLES_PER_ROUND} samples per shape and round, \
             medians of a shape's samples; \
             both on one core for the 1-thread rows), OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE \
             unset in its environment."
        );
    }
    println!();
    let mut header = String::from("| m | k | n | op | use | threads | GFLOP/s | % peak |");
    let mut rule = String::from("|--:|--:|--:|:--|:--|--:|--:|--:|");
    if compared {
        header.push_str(" numpy GFLOP/s | ours / numpy |");
        rule.push_str("--:|--:|");
    }
    println!("{header}\n{rule}");
    for row in rows {
        let op = format!(
            "A{}*B{}",
            if row["trans_a"] == true { "^T" } else { "" },
            if row["trans_b"] == true { "^T" } else { "" }
        );
        let mut line = format!(
            "| {} | {} | {} | {op} | {} | {} | {:.1} | {:.0}% |",
            row["m"],
            row["k"],
            row["n"],
            row["role"].as_str().unwrap_or(""),
            row["threads"],
            row["gflops"].as_f64().unwrap_or(0.0),
            row["percent_of_peak"].as_f64().unwrap_or(0.0),
        );
        if compared {
            match (row["numpy_gflops"].as_f64(), row["ratio"].as_f64()) {
                (Some(numpy), Some(ratio)) => line.push_str(&format!(" {numpy:.1} | {ratio:.2} |")),
                _ => line.push_str(" - | - |"),
            }
        }
        println!("{line}");
    }
    println!();
}
