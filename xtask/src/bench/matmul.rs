//! `cargo xtask bench matmul`: GEMM GFLOP/s at the shapes the issue lists,
//! at 1 thread and at all threads, as a share of the measured FMA peak, and
//! beside numpy's float32 matmul (OpenBLAS) with `--compare`.
//!
//! For tuning, `MATMUL_ONLY=1024x1024x1024,100x784x100` (m x k x n, any
//! layout) limits the shapes and `MATMUL_THREADS=1` the thread counts.

use crate::report::{self, BenchOptions};
use serde_json::{json, Value};
use std::process::Command;
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

pub fn run(options: &BenchOptions) -> Result<Vec<Value>, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut thread_counts: Vec<usize> = if cores > 1 { vec![1, cores] } else { vec![1] };
    if let Ok(only) = std::env::var("MATMUL_THREADS") {
        thread_counts.retain(|t| only.split(',').any(|o| o.trim() == t.to_string()));
    }
    let mut shapes = shapes();
    if let Ok(only) = std::env::var("MATMUL_ONLY") {
        shapes.retain(|s| {
            only.split(',')
                .any(|o| o.trim() == format!("{}x{}x{}", s.m, s.k, s.n))
        });
    }
    let peak_one = report::peak_gflops_per_core();
    let peak_all = report::peak_gflops_all_cores();

    // With --compare, numpy runs right after ours at each shape (a process
    // per shape, ~0.2 s of start-up): on a machine whose load comes and goes,
    // that keeps the two figures of a row under the same conditions.
    let mut numpy_missing = !options.compare;
    let mut rows = Vec::new();
    for &threads in &thread_counts {
        // An untimed pass over the first shape: its figure was otherwise
        // taken on a cold start (the pool's threads, the pages of the
        // buffers, the core after the peak's idle gaps) and came out 10-30%
        // below the same shape measured later.
        if let Some(first) = shapes.first() {
            measure(first, threads, true);
        }
        for shape in &shapes {
            let gflops = measure(shape, threads, options.quick);
            let peak = if threads == 1 {
                peak_one
            } else {
                peak_all * threads.min(cores) as f64 / cores as f64
            };
            let mut row = json!({
                "m": shape.m, "k": shape.k, "n": shape.n,
                "trans_a": shape.trans_a, "trans_b": shape.trans_b,
                "role": shape.role,
                "threads": threads,
                "gflops": gflops,
                "percent_of_peak": 100.0 * gflops / peak,
            });
            if !numpy_missing {
                match numpy_rows(std::slice::from_ref(shape), threads, options.quick) {
                    Ok(peer) => attach_numpy(std::slice::from_mut(&mut row), &peer),
                    Err(why) => {
                        println!("numpy comparison skipped: {why}\n");
                        numpy_missing = true;
                    }
                }
            }
            rows.push(row);
        }
    }
    print_table(&rows, peak_one, peak_all, cores);
    Ok(rows)
}

/// Median GFLOP/s of our GEMM at `shape` on `threads` threads.
fn measure(shape: &Shape, threads: usize, quick: bool) -> f64 {
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
    let a = Matrix::from_fn(a_rows, a_cols, value);
    let b = Matrix::from_fn(b_rows, b_cols, value);
    let mut c = Matrix::zeros(shape.m, shape.n);
    let config = GemmConfig {
        threads: Some(threads),
        ..GemmConfig::default()
    };
    let mut multiply = || {
        let op_a = Operand {
            matrix: a.view(),
            transposed: shape.trans_a,
        };
        let op_b = Operand {
            matrix: b.view(),
            transposed: shape.trans_b,
        };
        gemm_with(&config, 1.0, op_a, op_b, 0.0, c.view_mut(), Epilogue::None)
            .expect("benchmark shapes fit together");
    };
    // Enough calls per sample that one sample takes ~10 ms, so timer
    // resolution and call overhead do not flatter or punish small shapes.
    let once = report::median_seconds(1, 1, &mut multiply).max(1e-7);
    let calls = ((0.01 / once) as usize).max(1);
    let runs = if quick { 3 } else { 11 };
    let seconds =
        report::median_seconds(2, runs, || (0..calls).for_each(|_| multiply())) / calls as f64;
    2.0 * (shape.m * shape.n * shape.k) as f64 / seconds / 1e9
}

/// Runs `xtask/peers/matmul_numpy.py` at `threads` threads.
fn numpy_rows(shapes: &[Shape], threads: usize, quick: bool) -> Result<Vec<Value>, String> {
    let list: Vec<Value> = shapes
        .iter()
        .map(|s| json!([s.m, s.k, s.n, s.trans_a, s.trans_b]))
        .collect();
    let script = report::workspace_root().join("xtask/peers/matmul_numpy.py");
    let python = report::peer_python();
    let mut command = Command::new(&python);
    command
        .arg(&script)
        .args([
            "--threads",
            &threads.to_string(),
            "--shapes",
            &Value::Array(list).to_string(),
        ])
        // These tune OpenBLAS for a different CPU on this machine and slow
        // it down; the comparison is against OpenBLAS at its own best.
        .env_remove("OPENBLAS_CORETYPE")
        .env_remove("OPENBLAS_L2_SIZE")
        .env("OPENBLAS_NUM_THREADS", threads.to_string())
        .env("OMP_NUM_THREADS", threads.to_string());
    if quick {
        command.arg("--quick");
    }
    let output = command
        .output()
        .map_err(|e| format!("could not run {}: {e}", python.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} {} exited with {}: {}",
            python.display(),
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let parsed: Value = serde_json::from_slice(&output.stdout).map_err(|e| {
        format!(
            "{} printed something other than JSON: {e}",
            script.display()
        )
    })?;
    match parsed {
        Value::Array(rows) => Ok(rows),
        Value::Object(object) if object.contains_key("skipped") => {
            Err(object["skipped"].to_string())
        }
        other => Err(format!(
            "{} printed unexpected JSON: {other}",
            script.display()
        )),
    }
}

/// Adds `numpy_gflops` and `ratio` (ours / numpy) to our rows from the
/// peer's rows with the same shape, layout and thread count.
fn attach_numpy(rows: &mut [Value], peer: &[Value]) {
    let key = |row: &Value| {
        ["m", "k", "n", "trans_a", "trans_b", "threads"].map(|field| row[field].to_string())
    };
    for row in rows.iter_mut() {
        if let Some(theirs) = peer.iter().find(|p| key(p) == key(row)) {
            let (ours, numpy) = (row["gflops"].as_f64(), theirs["gflops"].as_f64());
            if let (Some(ours), Some(numpy)) = (ours, numpy) {
                row["numpy_gflops"] = json!(numpy);
                row["ratio"] = json!(ours / numpy);
                row["numpy_version"] = theirs["numpy"].clone();
            }
        }
    }
}

fn print_table(rows: &[Value], peak_one: f64, peak_all: f64, cores: usize) {
    println!("## matmul (f32 GEMM, C = op(A) * op(B))\n");
    println!("Peak: {peak_one:.1} GFLOP/s on 1 core, {peak_all:.1} on {cores}; % is of the peak for the threads used.");
    let compared = rows.iter().any(|r| r.get("numpy_gflops").is_some());
    if compared {
        println!(
            "numpy: float32 np.matmul (OpenBLAS) in the same run, OPENBLAS_CORETYPE and \
             OPENBLAS_L2_SIZE unset in its environment."
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
