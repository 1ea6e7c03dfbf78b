//! Measures the latency of `POST /api/predict` with a 280x280 canvas PNG
//! (an MNIST test digit as the page sends it), one request after another,
//! each on a new loopback connection, against a running `trainer serve`:
//!
//!     cargo run --release -p trainer -- serve --model runs/<run> &
//!     cargo run --release -p trainer --example serve_latency -- 127.0.0.1:8000 1000
//!
//! Prints the percentiles; a measuring tool, not a test.

// Shared with the tests, which use all of it; this tool uses a part.
#[allow(dead_code)]
#[path = "../tests/common/http_client.rs"]
mod http_client;
#[path = "../tests/common/pictures.rs"]
mod pictures;

use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let address = args.first().map_or("127.0.0.1:8000", String::as_str);
    let requests: usize = match args.get(1).map(|n| n.parse()) {
        None => 1000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: serve_latency [HOST:PORT] [REQUESTS > 0]");
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
    println!(
        "POST /api/predict, 280x280 PNG ({} bytes), {requests} requests one at a time: \
         mean {:.2} ms, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pictures[0].len(),
        mean.as_secs_f64() * 1e3,
        at(0.50).as_secs_f64() * 1e3,
        at(0.90).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
    );
}
