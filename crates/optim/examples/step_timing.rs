//! Rough time of one optimizer step on the parameters of a 784-256-128-10 MLP,
//! with and without gradient clipping. A measurement to read, not a test:
//! `cargo run --release -p optim --example step_timing`.

use std::time::Instant;

use optim::{optimizer_by_name, CommonSettings, Param, OPTIMIZER_NAMES};

fn main() {
    let shapes = [
        ("layers.0.weight", 256 * 784),
        ("layers.0.bias", 256),
        ("layers.1.weight", 128 * 256),
        ("layers.1.bias", 128),
        ("layers.2.weight", 10 * 128),
        ("layers.2.bias", 10),
    ];
    let total: usize = shapes.iter().map(|(_, len)| len).sum();
    let mut values: Vec<Vec<f32>> = shapes.iter().map(|&(_, len)| vec![0.1; len]).collect();
    let grads: Vec<Vec<f32>> = shapes.iter().map(|&(_, len)| vec![0.01; len]).collect();
    println!("{total} parameters; microseconds per step (best of 5 runs of 200 steps)");
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
                    let mut params: Vec<Param> = (values.iter_mut().zip(&grads).zip(&shapes))
                        .map(|((value, grad), &(name, _))| Param { name, value, grad })
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
