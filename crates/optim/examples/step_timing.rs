//! Rough time of one optimizer step on the parameters of a 784-256-128-10 MLP
//! and of a 784-512-256-10 one, with and without gradient clipping, on one
//! thread and on all (`tensor::threads()`, the machine's unless set). A
//! measurement to read, not a test:
//! `cargo run --release -p optim --example step_timing`.

use std::time::Instant;

use optim::{optimizer_by_name, CommonSettings, Param, OPTIMIZER_NAMES};

fn main() {
    let all_threads = tensor::threads();
    for (network, shapes) in [
        (
            "784-256-128-10",
            [256 * 784, 256, 128 * 256, 128, 10 * 128, 10],
        ),
        (
            "784-512-256-10",
            [512 * 784, 512, 256 * 512, 256, 10 * 256, 10],
        ),
    ] {
        for threads in [1, all_threads] {
            tensor::set_threads(threads);
            time_steps(network, &shapes, threads);
        }
    }
}

fn time_steps(network: &str, lengths: &[usize], threads: usize) {
    let names: Vec<String> = (0..lengths.len())
        .map(|i| format!("layers.{}.{}", i / 2, ["weight", "bias"][i % 2]))
        .collect();
    let total: usize = lengths.iter().sum();
    let mut values: Vec<Vec<f32>> = lengths.iter().map(|&len| vec![0.1; len]).collect();
    let grads: Vec<Vec<f32>> = lengths.iter().map(|&len| vec![0.01; len]).collect();
    println!(
        "{network}: {total} parameters, {threads} thread(s); microseconds per step (best of 5 runs of 200 steps)"
    );
    for name in OPTIMIZER_NAMES {
        let mut line = format!("{name:9}");
        for clip_norm in [None, Some(1.0)] {
            let settings = CommonSettings {
                clip_norm,
                ..Default::default()
            };
            let mut optimizer = optimizer_by_name(name, &settings).unwrap();
            let mut best = f64::INFINITY;
            for _ in 0..5 {
                let start = Instant::now();
                for _ in 0..200 {
                    let mut params: Vec<Param> = (values.iter_mut().zip(&grads).zip(&names))
                        .map(|((value, grad), name)| Param { name, value, grad })
                        .collect();
                    optimizer.step(&mut params).unwrap();
                }
                best = best.min(start.elapsed().as_secs_f64() * 1e6 / 200.0);
            }
            let label = if clip_norm.is_some() {
                "clipped"
            } else {
                "plain"
            };
            line += &format!("  {label} {best:7.1}");
        }
        println!("{line}");
    }
}
