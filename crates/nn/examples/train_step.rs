//! Measures full training steps (forward + softmax cross-entropy + backward +
//! an inline SGD update) per second on random MNIST-shaped data.
//!
//!     cargo run --release -p nn --example train_step -- [SPEC] [BATCH] [THREADS] [SECONDS]
//!
//! Defaults: `784-100-10 hidden=relu`, batch 100, 2 threads, 3 seconds;
//! THREADS = 0 leaves `tensor`'s thread count unset.
//! The project target is >= 270k samples/s for those defaults.

use nn::{softmax_cross_entropy, Init, ModelSpec, Sequential, Targets};
use std::time::{Duration, Instant};
use tensor::Matrix;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spec = ModelSpec::parse(args.first().map_or("784-100-10 hidden=relu", |s| s))?;
    let batch: usize = args.get(1).map_or(Ok(100), |s| s.parse())?;
    let threads: usize = args.get(2).map_or(Ok(2), |s| s.parse())?;
    let seconds: f64 = args.get(3).map_or(Ok(3.0), |s| s.parse())?;
    // 0 leaves tensor's default (unset: it asks the OS for the core count on
    // every GEMM call), to measure what that costs.
    if threads > 0 {
        tensor::set_threads(threads);
    }

    let mut model = Sequential::new(&spec, Init::HeNormal, 1)?;
    // Pixel-like inputs in [0, 1), labels cycling through the classes.
    let x = Matrix::from_fn(batch, spec.inputs(), |r, c| {
        ((r * 131 + c * 7) % 256) as f32 / 256.0
    });
    let labels: Vec<u8> = (0..batch).map(|r| (r % spec.outputs()) as u8).collect();
    let mut dlogits = Matrix::zeros(0, 0);
    let mut step = |model: &mut Sequential| -> nn::Result<f32> {
        let logits = model.forward(x.view())?;
        let loss = softmax_cross_entropy(logits.view(), Targets::Labels(&labels), &mut dlogits)?;
        model.backward(x.view(), dlogits.view())?;
        for (_, value, grad) in model.params_mut() {
            value.iter_mut().zip(grad).for_each(|(w, g)| *w -= 0.01 * g);
        }
        Ok(loss)
    };
    for _ in 0..50 {
        step(&mut model)?;
    }
    // Several timed rounds; report the best (least disturbed) and the median.
    let mut rates = Vec::new();
    let round = Duration::from_secs_f64(seconds / 5.0);
    for _ in 0..5 {
        let started = Instant::now();
        let mut steps = 0usize;
        while started.elapsed() < round {
            step(&mut model)?;
            steps += 1;
        }
        rates.push((steps * batch) as f64 / started.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "{spec} batch {batch} threads {threads}: best {:.0} samples/s, median {:.0} samples/s ({:.1} us/step at best)",
        rates[4],
        rates[2],
        batch as f64 / rates[4] * 1e6
    );
    Ok(())
}
