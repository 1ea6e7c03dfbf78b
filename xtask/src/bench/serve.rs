//! `cargo xtask bench serve`: the latency of `trainer serve`'s
//! `POST /api/predict` with a 280x280 canvas PNG (an MNIST test digit as
//! the page sends it), one request after another, each on a new loopback
//! connection, with the trainer's default network. The client is the
//! trainer's `examples/serve_latency.rs`; it and the server share the
//! machine, as a browser and the server would. Target (issue 20): p99
//! under 5 ms.
//!
//! The network is trained for one epoch on 6,000 images: a request's time
//! does not depend on the weights, only on the architecture.

use super::quiet;
use crate::report::{self, BenchOptions};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Issue 20's target for the p99 latency, in milliseconds.
pub const P99_TARGET_MS: f64 = 5.0;

pub fn run(options: &BenchOptions) -> Result<Vec<Value>, String> {
    let trainer = report::build_trainer()?;
    let client = report::build_trainer_example("serve_latency")?;
    let model = report::workspace_root().join("target/bench/runs/serve-default");
    report::run_to_end(
        Command::new(&trainer)
            .args(["train", "--epochs", "1", "--limit", "6000", "--seed", "1"])
            .args(["--overwrite", "--log-every", "0", "--out"])
            .arg(&model)
            .current_dir(report::workspace_root()),
    )?;
    let server = Server::start(&trainer, &model)?;
    let (rounds, requests) = if options.quick { (1, 300) } else { (3, 1000) };
    let mut measured = Vec::new();
    for _ in 0..rounds {
        quiet::wait_for_quiet("serve latency");
        let output = report::run_to_end(Command::new(&client).args([
            server.address.as_str(),
            &requests.to_string(),
            "--json",
        ]))?;
        let round: Value = serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("the latency client printed no JSON object: {e}"))?;
        measured.push(round);
    }
    drop(server);
    // The median round by p99, whose other figures go with it.
    measured.sort_by(|a, b| {
        a["p99_ms"]
            .as_f64()
            .partial_cmp(&b["p99_ms"].as_f64())
            .unwrap()
    });
    let p99s: Vec<f64> = measured
        .iter()
        .filter_map(|r| r["p99_ms"].as_f64())
        .collect();
    let median = &measured[measured.len() / 2];
    let row = json!({
        "requests": requests,
        "rounds": rounds,
        "png_bytes": median["png_bytes"],
        "mean_ms": median["mean_ms"],
        "p50_ms": median["p50_ms"],
        "p90_ms": median["p90_ms"],
        "p99_ms": median["p99_ms"],
        "max_ms": median["max_ms"],
        "p99_ms_of_each_round": p99s,
    });
    print_table(&row);
    Ok(vec![row])
}

fn print_table(row: &Value) {
    let ms = |key: &str| report::number(row, key, 2);
    println!(
        "\n## serve: POST /api/predict, 280x280 canvas PNG ({} bytes), default network, one \
         request at a time\n",
        row["png_bytes"]
    );
    println!(
        "| requests x rounds | mean ms | p50 ms | p90 ms | p99 ms | max ms | p99 of each round |"
    );
    println!("|--:|--:|--:|--:|--:|--:|:--|");
    let rounds: Vec<String> = row["p99_ms_of_each_round"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(Value::as_f64)
                .map(|v| format!("{v:.2}"))
                .collect()
        })
        .unwrap_or_default();
    println!(
        "| {} x {} | {} | {} | {} | {} | {} | {} |\n",
        row["requests"],
        row["rounds"],
        ms("mean_ms"),
        ms("p50_ms"),
        ms("p90_ms"),
        ms("p99_ms"),
        ms("max_ms"),
        rounds.join(", ")
    );
}

/// A running `trainer serve` on a free loopback port, stopped when dropped.
struct Server {
    child: Child,
    address: String,
}

impl Server {
    fn start(trainer: &std::path::Path, model: &std::path::Path) -> Result<Server, String> {
        let mut child = Command::new(trainer)
            .arg("serve")
            .arg("--model")
            .arg(model)
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {} serve: {e}", trainer.display()))?;
        // "serving http://127.0.0.1:PORT/ (...)", read on a thread of its
        // own, so that a server that never says it would not hang the bench.
        let stdout = child.stdout.take().expect("stdout is piped");
        let (said, heard) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = said.send(line);
        });
        let line = heard
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_default();
        let address = line
            .strip_prefix("serving http://")
            .and_then(|rest| rest.split('/').next())
            .map(str::to_string);
        let server = |address| Server { child, address };
        match address {
            Some(address) => Ok(server(address)),
            None => {
                drop(server(String::new()));
                Err(format!(
                    "trainer serve did not say where it listens within 60 s: {line:?}"
                ))
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
