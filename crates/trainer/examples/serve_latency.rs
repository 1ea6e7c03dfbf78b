//! Measures the latency of `POST /api/predict` with a 280x280 canvas PNG
//! (an MNIST test digit as the page sends it), one request after another,
//! each on a new loopback connection, against a running `trainer serve`:
//!
//!     cargo run --release -p trainer -- serve --model runs/<run> &
//!     cargo run --release -p trainer --example serve_latency -- 127.0.0.1:8000 1000
//!
//! Prints the percentiles (as one JSON object with `--json`); a measuring
//! tool, not a test. `cargo xtask bench serve` runs it against a server of
//! the default network.

// Shared with the tests, which use all of it; this tool uses a part.
#[allow(dead_code)]
#[path = "../tests/common/http_client.rs"]
mod http_client;
#[path = "../tests/common/pictures.rs"]
mod pictures;

use std::time::{Duration, Instant};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    args.retain(|a| a != "--json");
    let address = args.first().map_or("127.0.0.1:8000", String::as_str);
    let requests: usize = match args.get(1).map(|n| n.parse()) {
        None => 1000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: serve_latency [HOST:PORT] [REQUESTS > 0] [--json]");
            std::process::exit(2);
        }
    };
    let pictures: Vec<Vec<u8>> = (0..10).map(|i| pictures::canvas_png(i).0).collect();
    let post = |png: &[u8]| {
        let answer = http_client::request(
            address,
            "POST",
            "/api/predict",
            &[("Content-Type", "image/png")],
            png,
        )
        .unwrap_or_else(|e| {
            eprintln!("error: {address}: {e} (is `trainer serve` running there?)");
            std::process::exit(1);
        });
        if answer.status != 200 {
            eprintln!(
                "error: {address} answered {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
            std::process::exit(1);
        }
    };
    for png in pictures.iter().cycle().take(50) {
        post(png); // warm-up
    }
    let mut latencies: Vec<Duration> = pictures
        .iter()
        .cycle()
        .take(requests)
        .map(|png| {
            let start = Instant::now();
            post(png);
            start.elapsed()
        })
        .collect();
    latencies.sort();
    let at = |q: f64| {
        latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    if json {
        let report = serde_json::json!({
            "requests": requests,
            "png_bytes": pictures[0].len(),
            "mean_ms": ms(mean),
            "p50_ms": ms(at(0.50)),
            "p90_ms": ms(at(0.90)),
            "p99_ms": ms(at(0.99)),
            "max_ms": ms(at(1.0)),
        });
        println!("{report}");
        return;
    }
    println!(
        "POST /api/predict, 280x280 PNG ({} bytes), {requests} requests one at a time: \
         mean {:.2} ms, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pictures[0].len(),
        ms(mean),
        ms(at(0.50)),
        ms(at(0.90)),
        ms(at(0.99)),
        ms(at(1.0)),
    );
}
