//! Project chores: `cargo xtask bench [NAME] [--compare] [--setup-peers]`;
//! `cargo xtask readme [WHAT]`, which measures the figures the READMEs
//! quote and keeps them in step with `docs/readme-figures.json`; and
//! `cargo xtask interop`.
//!
//! Each benchmark lives in `bench/NAME.rs`, returns its rows as JSON values,
//! and writes them to `target/bench/NAME.json`; `report.rs` owns timing,
//! machine facts, tables, files, the peers' Python and the trainer binary,
//! so no chore writes them twice; `chart.rs` draws a benchmark's results as
//! an SVG chart (`scaling`). `interop.rs` runs our models in PyTorch and
//! onnxruntime, and PyTorch's here.

mod bench;
mod chart;
mod interop;
mod readme;
mod report;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask bench [NAME...] [--compare] [--setup-peers] [--quick]
       cargo xtask readme [WHAT...] [--no-run | --check]   (see cargo xtask readme --help)

  NAME           one or more of: data, matmul, train, infer, serve (the
                 latency of `trainer serve` with a canvas; default: these
                 five), and scaling (only when named: throughput as the
                 MLP's width and the batch grow, ours and PyTorch's, drawn
                 into docs/scaling-width.svg and docs/scaling-batch.svg)
  --compare      also run the same workloads in numpy and PyTorch (xtask/peers/)
  --setup-peers  create .venv-peers and pip-install numpy and torch into it
  --quick        fewer repetitions, for a smoke test of the harness

usage: cargo xtask interop [--keep]

  Proves that models travel, on the full MNIST test set: trains an MLP and
  the default CNN (batch norm, pooling) here, runs them in PyTorch (`trainer
  info --pytorch`, strict load) and onnxruntime (`trainer export --onnx`);
  has PyTorch train the same networks and save state_dicts, runs those here
  (`eval --arch`, `train --init-from`, `export --onnx --arch`). Each check
  needs the same accuracy to the image and logits within 1e-4. Installs
  numpy, torch, safetensors, onnxruntime and onnx into .venv-peers when
  missing. Prints a table; exits 1 if any check fails.
  --keep         keep the models, ONNX files and logits (the temporary folder)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") => match bench::run(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("xtask bench: {message}");
                ExitCode::FAILURE
            }
        },
        Some("readme") => match readme::run(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("xtask readme: {message}");
                ExitCode::FAILURE
            }
        },
        Some("interop") => match interop::run(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("xtask interop: {message}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
