//! The benchmark suite: parses the command line, runs the chosen benchmarks,
//! prints one Markdown report (machine, each benchmark's table, then every
//! target with met / missed).

mod data;
mod infer;
mod matmul;
mod networks;
mod peer_process;
pub mod quiet;
mod scaling;
mod serve;
mod summary;
mod train;

use crate::report::{self, BenchOptions};

/// A benchmark: its name and the function that runs it and returns JSON rows.
type Bench = (
    &'static str,
    fn(&BenchOptions) -> Result<Vec<serde_json::Value>, String>,
);

/// `data` comes first: it measures how much a load adds to the process's
/// resident set, and after `matmul` has freed its matrices the allocator
/// serves the dataset from pages already resident (0.2 MB added, not 47).
const BENCHES: &[Bench] = &[
    ("data", data::run),
    ("matmul", matmul::run),
    ("train", train::run),
    ("infer", infer::run),
    ("serve", serve::run),
    ("scaling", scaling::run),
];

/// Benchmarks that run only when named: `scaling` takes minutes and
/// rewrites the charts in `docs/`.
const ONLY_WHEN_NAMED: &[&str] = &["scaling"];

pub fn run(args: &[String]) -> Result<(), String> {
    let mut options = BenchOptions::default();
    let mut names = Vec::new();
    for arg in args {
        match arg.as_str() {
            "--compare" => options.compare = true,
            "--quick" => options.quick = true,
            "--setup-peers" => options.setup_peers = true,
            flag if flag.starts_with('-') => return Err(format!("unknown flag {flag}")),
            name if BENCHES.iter().any(|(n, _)| *n == name) => names.push(name.to_string()),
            name => {
                let known: Vec<_> = BENCHES.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "unknown benchmark {name:?}; known: {}",
                    known.join(", ")
                ));
            }
        }
    }
    if options.setup_peers {
        report::setup_peers(&report::BENCH_PEERS)?;
        if names.is_empty() && !options.compare {
            return Ok(());
        }
    }
    println!("{}", report::machine_header());
    let mut results = Vec::new();
    for (name, bench) in BENCHES {
        let chosen = if names.is_empty() {
            !ONLY_WHEN_NAMED.contains(name)
        } else {
            names.iter().any(|n| n == name)
        };
        if chosen {
            let rows = bench(&options)?;
            report::write_json(name, &rows)?;
            results.push((*name, rows));
        }
    }
    summary::print(&results);
    Ok(())
}
