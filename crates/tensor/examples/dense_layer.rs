//! `tensor` on its own: one dense layer's forward pass, `Y = relu(X W^T + b)`,
//! as a single GEMM with the bias and ReLU fused into its epilogue and `W`
//! read transposed in place; checked against the naive triple loop
//! (`reference_gemm`), then timed.
//!
//!     cargo run --release -p tensor --example dense_layer [-- BATCH INPUTS OUTPUTS]
//!
//! Defaults: a batch of 128 MNIST images through a 784 -> 256 layer.
//! `tests/examples.rs` runs [`largest_difference`] on odd sizes.

use std::time::Instant;
use tensor::{gemm, reference_gemm, Epilogue, Matrix};

/// `X` `[batch, inputs]`, `W` `[outputs, inputs]` (PyTorch's layout), `b` `[outputs]`.
pub fn layer(batch: usize, inputs: usize, outputs: usize) -> (Matrix, Matrix, Vec<f32>) {
    let x = Matrix::from_fn(batch, inputs, |r, c| ((r * 7 + c * 3) % 23) as f32 / 23.0);
    let w = Matrix::from_fn(outputs, inputs, |r, c| {
        ((r * 5 + c * 11) % 19) as f32 / 9.0 - 1.0
    });
    let b = (0..outputs).map(|o| (o % 7) as f32 * 0.1 - 0.3).collect();
    (x, w, b)
}

/// The fast GEMM's `Y` against the naive loop's: the largest difference,
/// and the largest magnitude in `Y` (to judge the difference against).
pub fn largest_difference(batch: usize, inputs: usize, outputs: usize) -> (f32, f32) {
    let (x, w, b) = layer(batch, inputs, outputs);
    let (mut fast, mut naive) = (Matrix::zeros(batch, outputs), Matrix::zeros(batch, outputs));
    gemm(1.0, &x, w.t(), 0.0, fast.view_mut(), Epilogue::BiasRelu(&b)).expect("shapes fit");
    reference_gemm(
        1.0,
        &x,
        w.t(),
        0.0,
        naive.view_mut(),
        Epilogue::BiasRelu(&b),
    )
    .expect("shapes fit");
    let pairs = fast.as_slice().iter().zip(naive.as_slice());
    let difference = pairs.map(|(f, n)| (f - n).abs()).fold(0.0, f32::max);
    (
        difference,
        naive.as_slice().iter().fold(0.0, |m, v| v.abs().max(m)),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let [batch, inputs, outputs] = match sizes[..] {
        [] => [128, 784, 256],
        [batch, inputs, outputs] => [batch, inputs, outputs],
        _ => return Err("give BATCH INPUTS OUTPUTS, or nothing".into()),
    };
    let (difference, largest) = largest_difference(batch, inputs, outputs);
    println!("{batch} x {inputs} -> {outputs}: largest difference from the naive loop {difference:.2e} (outputs up to {largest:.1})");

    let (x, w, b) = layer(batch, inputs, outputs);
    let mut y = Matrix::zeros(batch, outputs);
    let calls = 200;
    let started = Instant::now();
    for _ in 0..calls {
        gemm(1.0, &x, w.t(), 0.0, y.view_mut(), Epilogue::BiasRelu(&b))?;
    }
    let seconds = started.elapsed().as_secs_f64() / calls as f64;
    let flops = 2.0 * (batch * inputs * outputs) as f64;
    println!(
        "{:.1} us a call, {:.1} GFLOP/s on {} threads",
        seconds * 1e6,
        flops / seconds / 1e9,
        tensor::threads()
    );
    Ok(())
}
