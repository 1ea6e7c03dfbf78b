//! A network computes the same bits on any number of threads: forward
//! outputs, parameter gradients and batch-norm statistics. (Resuming a run
//! on another machine, or with another `--threads`, depends on it.)
//!
//! One test in its own binary: it sets the process-wide thread count.

use nn::{softmax_cross_entropy, Init, ModelSpec, Sequential, Targets};
use tensor::Matrix;

fn step_bits(spec: &ModelSpec, threads: usize) -> Vec<u32> {
    tensor::set_threads(threads);
    let mut model = Sequential::new(spec, Init::HeNormal, 3).unwrap();
    let x = Matrix::from_fn(37, spec.inputs(), |r, c| {
        ((r * 131 + c * 7) % 23) as f32 / 23.0
    });
    let labels: Vec<usize> = (0..37).map(|r| r % 10).collect();
    let mut dlogits = Matrix::zeros(0, 0);
    let mut bits = Vec::new();
    for _ in 0..2 {
        let logits = model.forward(x.view()).unwrap();
        bits.extend(logits.as_slice().iter().map(|v| v.to_bits()));
        softmax_cross_entropy(logits.view(), Targets::Classes(&labels), &mut dlogits).unwrap();
        model.backward(x.view(), dlogits.view()).unwrap();
        for (_, value, grad) in model.params_mut() {
            bits.extend(grad.iter().map(|v| v.to_bits()));
            value.iter_mut().zip(grad).for_each(|(w, g)| *w -= 0.01 * g);
        }
    }
    bits.extend(
        model
            .tensors()
            .flat_map(|(_, _, v)| v.iter().map(|v| v.to_bits())),
    );
    bits
}

#[test]
fn every_thread_count_gives_the_same_bits() {
    let spec = ModelSpec::parse("1x28x28 c8k5p2bn p2 c16k3 d0.1 a2 f32 10").unwrap();
    let one = step_bits(&spec, 1);
    for threads in [2, 3, 5] {
        assert!(
            one == step_bits(&spec, threads),
            "{threads} threads differ from 1"
        );
    }
}
