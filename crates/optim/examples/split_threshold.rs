//! Where sharing one parameter's update between threads starts to pay: the
//! time of one update of a parameter of each length, on the calling thread
//! alone and cut into one chunk per thread on the pool (`tensor::parallel`),
//! as `RuleOptimizer::step` cuts it; for Adam (the costliest rule per value)
//! and plain SGD (the cheapest). A measurement to read, not a test:
//! `cargo run --release -p optim --example split_threshold`.

use std::time::Instant;

use optim::{AdamConfig, SgdConfig, UpdateRule};
use tensor::parallel::{for_each_part, part_range};

#[derive(Default)]
struct Chunk<'a> {
    value: &'a mut [f32],
    grad: &'a [f32],
    buffers: [&'a mut [f32]; 2],
}

fn main() {
    let threads = tensor::threads();
    println!("microseconds per update (best of 7 runs): 1 thread vs {threads} threads");
    time_rule("adam", &AdamConfig::default(), 2, threads);
    time_rule("sgd", &SgdConfig::default(), 0, threads);
}

fn time_rule(name: &str, rule: &impl UpdateRule, buffer_count: usize, threads: usize) {
    for len in [
        1 << 12,
        1 << 13,
        1 << 14,
        1 << 15,
        1 << 16,
        1 << 17,
        401_408,
    ] {
        let mut value = vec![0.1_f32; len];
        let grad = vec![0.01_f32; len];
        let mut buffers = [vec![0.0_f32; len], vec![0.0_f32; len]];
        let repeats = (50_000_000 / len).clamp(100, 20_000);
        let mut line = format!("{name:5} {len:7} values:");
        for parts in [1, threads] {
            let mut best = f64::INFINITY;
            for _ in 0..7 {
                let start = Instant::now();
                for step in 1..=repeats as u64 {
                    let mut chunks: [Chunk; 16] = Default::default();
                    let (mut value, mut grad) = (&mut value[..], &grad[..]);
                    let [first, second] = &mut buffers;
                    let mut rests = [&mut first[..], &mut second[..]];
                    for (part, chunk) in chunks[..parts].iter_mut().enumerate() {
                        let n = part_range(len, parts, part, 16).len();
                        (chunk.value, value) = std::mem::take(&mut value).split_at_mut(n);
                        (chunk.grad, grad) = grad.split_at(n);
                        for (buffer, rest) in chunk.buffers.iter_mut().zip(&mut rests) {
                            (*buffer, *rest) = std::mem::take(rest).split_at_mut(n);
                        }
                    }
                    for_each_part(&mut chunks[..parts], &|c| {
                        rule.update(step, c.value, c.grad, &mut c.buffers[..buffer_count])
                    });
                }
                best = best.min(start.elapsed().as_secs_f64() * 1e6 / repeats as f64);
            }
            line += &format!("  {parts} thread(s) {best:7.2}");
        }
        println!("{line}");
    }
}
