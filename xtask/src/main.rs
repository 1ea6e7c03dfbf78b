//! Project chores: `cargo xtask bench [NAME] [--compare] [--setup-peers]`,
//! and `cargo xtask readme [WHAT]`, which measures the figures the READMEs
//! quote and keeps them in step with `docs/readme-figures.json`.
//!
//! Each benchmark lives in `bench/NAME.rs`, returns its rows as JSON values,
//! and writes them to `target/bench/NAME.json`; `report.rs` owns timing,
//! machine facts, tables and files so no benchmark writes them twice;
//! `chart.rs` draws a benchmark's results as an SVG chart (`scaling`).

mod bench;
mod chart;
mod readme;
mod report;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask bench [NAME...] [--compare] [--setup-peers] [--quick]
       cargo xtask readme [WHAT...] [--no-run | --check]   (see cargo xtask readme --help)

  NAME           one or more of: data, matmul, train, infer (default: these
                 four), and scaling (only when named: throughput as the MLP's
                 width and the batch grow, ours and PyTorch's, drawn into
                 docs/scaling-width.svg and docs/scaling-batch.svg)
  --compare      also run the same workloads in numpy and PyTorch (xtask/peers/)
  --setup-peers  create .venv-peers and pip-install numpy and torch into it
  --quick        fewer repetitions, for a smoke test of the harness";

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
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
