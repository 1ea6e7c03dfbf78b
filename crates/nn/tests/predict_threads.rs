//! A prediction runs whole chunks of rows on each thread, each through its
//! own copy of the network: its results are the same bits on any number of
//! threads as on one, and the copies follow the weights when training
//! changes them between two predictions.
//!
//! One test in its own binary: it sets the process-wide thread count.

use nn::{softmax_cross_entropy, Init, ModelSpec, Sequential, Targets};
use tensor::Matrix;

/// A training step on 64 rows, so that weights and batch-norm statistics
/// move from their initial values.
fn train_step(model: &mut Sequential, seed: usize) {
    let inputs = model.spec().inputs();
    let x = Matrix::from_fn(64, inputs, |r, c| {
        ((r * 37 + c * 11 + seed) % 29) as f32 / 29.0
    });
    let labels: Vec<usize> = (0..64).map(|r| (r + seed) % 10).collect();
    let mut dlogits = Matrix::zeros(0, 0);
    let logits = model.forward(x.view()).unwrap();
    softmax_cross_entropy(logits.view(), Targets::Classes(&labels), &mut dlogits).unwrap();
    model.backward(x.view(), dlogits.view()).unwrap();
    for (_, value, grad) in model.params_mut() {
        value.iter_mut().zip(grad).for_each(|(w, g)| *w -= 0.05 * g);
    }
}

/// The bits of two rounds of (train a step, predict probabilities and
/// classes of `rows` rows).
fn prediction_bits(spec: &ModelSpec, rows: usize, threads: usize) -> Vec<u32> {
    tensor::set_threads(threads);
    let mut model = Sequential::new(spec, Init::HeNormal, 5).unwrap();
    let x = Matrix::from_fn(rows, spec.inputs(), |r, c| {
        ((r * 131 + c * 7) % 23) as f32 / 23.0
    });
    let mut bits = Vec::new();
    for round in 0..2 {
        train_step(&mut model, round);
        let probabilities = model.predict_proba(x.view()).unwrap();
        bits.extend(probabilities.as_slice().iter().map(|v| v.to_bits()));
        bits.extend(model.predict(x.view()).unwrap().iter().map(|&c| c as u32));
        assert!(model.is_training(), "prediction restores the mode");
    }
    bits
}

#[test]
fn predictions_are_the_same_bits_on_any_number_of_threads() {
    // An MLP (chunks of 1,000 rows: 2,300 rows end in a wave of one chunk)
    // and a CNN with batch norm and dropout (chunks of ~130 rows: waves of
    // two and three, the last one short).
    for (spec, rows) in [
        ("784-64-10", 2300),
        ("1x28x28 c8k5p2bn p2 c16k3 d0.1 a2 f32 10", 700),
    ] {
        let spec = ModelSpec::parse(spec).unwrap();
        let one = prediction_bits(&spec, rows, 1);
        for threads in [2, 3] {
            assert!(
                one == prediction_bits(&spec, rows, threads),
                "{spec}: {threads} threads differ from 1"
            );
        }
    }
}
