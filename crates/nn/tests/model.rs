//! The model end to end: the tutorials' hand-worked forward pass, huge
//! logits, and small problems learned with plain SGD written inline (the
//! optimizers live in `optim`, which `nn` does not depend on).

use nn::{softmax_cross_entropy, Activation, Init, ModelSpec, Sequential, Targets};
use rand::{rngs::StdRng, Rng, SeedableRng};
use tensor::Matrix;

/// Copies `values` into the parameter called `name`.
fn set_param(model: &mut Sequential, name: &str, values: &[f32]) {
    let (_, value, _) = model
        .params_mut()
        .find(|(n, _, _)| *n == name)
        .unwrap_or_else(|| panic!("no parameter {name}"));
    value.copy_from_slice(values);
}

/// The three-layer network worked by hand in the tutorials (sigmoid, sigmoid,
/// identity). There the weights are `[in, out]`; ours are `[out, in]`, so each
/// matrix is entered transposed.
#[test]
fn tutorial_three_layer_forward_pass() {
    let spec = ModelSpec::parse("2-3-2-2 hidden=sigmoid output=identity").unwrap();
    let mut model = Sequential::new(&spec, Init::HeNormal, 0).unwrap();
    // W1 [in 2, out 3] = [[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]] -> [3, 2]:
    set_param(
        &mut model,
        "layers.0.weight",
        &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    );
    set_param(&mut model, "layers.0.bias", &[0.1, 0.2, 0.3]);
    // W2 [3, 2] = [[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]] -> [2, 3]:
    set_param(
        &mut model,
        "layers.2.weight",
        &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    );
    set_param(&mut model, "layers.2.bias", &[0.1, 0.2]);
    // W3 [2, 2] = [[0.1, 0.3], [0.2, 0.4]] -> [2, 2]:
    set_param(&mut model, "layers.4.weight", &[0.1, 0.2, 0.3, 0.4]);
    set_param(&mut model, "layers.4.bias", &[0.1, 0.2]);

    let x = Matrix::from_vec(1, 2, vec![1.0, 0.5]).unwrap();
    let y = model.forward(x.view()).unwrap();
    // The tutorials' figures, as printed (f64, so no digit is dropped).
    let want = [0.31682708f64, 0.69627909];
    for (&got, want) in y.as_slice().iter().zip(want) {
        assert!(
            (got as f64 - want).abs() < 1e-6,
            "{:?} vs {want:?}",
            y.as_slice()
        );
    }
}

#[test]
fn softmax_and_cross_entropy_stay_finite_for_logits_of_plus_minus_1000() {
    let logits = Matrix::from_vec(2, 2, vec![1000.0, -1000.0, -1000.0, 1000.0]).unwrap();
    let mut softmax = logits.clone();
    Activation::Softmax.forward_in_place(softmax.view_mut());
    assert_eq!(softmax.as_slice(), &[1.0, 0.0, 0.0, 1.0]);

    let mut grad = Matrix::zeros(0, 0);
    // Right answers: loss 0, gradient 0.
    let loss = softmax_cross_entropy(logits.view(), Targets::Classes(&[0, 1]), &mut grad).unwrap();
    assert_eq!(loss, 0.0);
    assert_eq!(grad.as_slice(), &[0.0, 0.0, 0.0, 0.0]);
    // Wrong answers: loss = 2000 per row, gradient (p - y) / 2 = +-0.5.
    let loss = softmax_cross_entropy(logits.view(), Targets::Classes(&[1, 0]), &mut grad).unwrap();
    assert_eq!(loss, 2000.0);
    assert_eq!(grad.as_slice(), &[0.5, -0.5, -0.5, 0.5]);
}

/// `steps` of full-batch SGD on softmax cross-entropy; returns the final loss.
fn train_sgd(
    model: &mut Sequential,
    x: &Matrix,
    labels: &[usize],
    learning_rate: f32,
    steps: usize,
) -> f32 {
    let mut dlogits = Matrix::zeros(0, 0);
    let mut loss = f32::NAN;
    for _ in 0..steps {
        let logits = model.forward(x.view()).unwrap();
        loss =
            softmax_cross_entropy(logits.view(), Targets::Classes(labels), &mut dlogits).unwrap();
        model.backward(x.view(), dlogits.view()).unwrap();
        for (_, value, grad) in model.params_mut() {
            value
                .iter_mut()
                .zip(grad)
                .for_each(|(w, g)| *w -= learning_rate * g);
        }
    }
    loss
}

fn accuracy(model: &mut Sequential, x: &Matrix, labels: &[usize]) -> f64 {
    let predicted = model.predict(x.view()).unwrap();
    let right = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    right as f64 / labels.len() as f64
}

#[test]
fn learns_xor_with_every_trainable_hidden_activation() {
    let x = Matrix::from_vec(4, 2, vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]).unwrap();
    let labels = [0, 1, 1, 0];
    for (hidden, learning_rate) in [
        ("tanh", 0.5),
        ("relu", 0.5),
        ("leaky_relu", 0.5),
        ("sigmoid", 2.0),
    ] {
        let spec = ModelSpec::parse(&format!("2-8-2 hidden={hidden}")).unwrap();
        let mut model = Sequential::new(&spec, Init::XavierNormal, 3).unwrap();
        let before = accuracy(&mut model, &x, &labels);
        let loss = train_sgd(&mut model, &x, &labels, learning_rate, 2000);
        assert_eq!(
            accuracy(&mut model, &x, &labels),
            1.0,
            "{hidden}: loss {loss}, accuracy before {before}"
        );
        assert!(loss < 0.05, "{hidden}: loss {loss}");
    }
}

#[test]
fn learns_a_linearly_separable_three_class_toy_set_with_dropout() {
    // Three clusters around the corners of a triangle.
    let mut rng = StdRng::seed_from_u64(10);
    let centres = [(-1.0f32, -1.0f32), (1.0, -1.0), (0.0, 1.0)];
    let rows = 300;
    let labels: Vec<usize> = (0..rows).map(|r| r % 3).collect();
    let x = Matrix::from_fn(rows, 2, |r, c| {
        let (cx, cy) = centres[labels[r]];
        (if c == 0 { cx } else { cy }) + rng.gen_range(-0.4..0.4)
    });
    let spec = ModelSpec::parse("2-16-16-3 hidden=relu dropout=0.1").unwrap();
    let mut model = Sequential::new(&spec, Init::HeNormal, 1).unwrap();
    train_sgd(&mut model, &x, &labels, 0.2, 300);
    assert_eq!(accuracy(&mut model, &x, &labels), 1.0);
    // predict_proba agrees with predict and puts most mass on the answer.
    let proba = model.predict_proba(x.view()).unwrap();
    let confident = (0..rows).filter(|&r| proba.row(r)[labels[r]] > 0.9).count();
    assert!(confident > rows * 9 / 10, "{confident} of {rows} confident");
}

#[test]
fn a_step_function_model_predicts_but_cannot_be_trained() {
    // The tutorials' perceptron: AND of two inputs, weights by hand.
    let spec = ModelSpec::parse("2-1 output=step").unwrap();
    let mut model = Sequential::new(&spec, Init::HeNormal, 0).unwrap();
    set_param(&mut model, "layers.0.weight", &[0.5, 0.5]);
    set_param(&mut model, "layers.0.bias", &[-0.7]);
    let x = Matrix::from_vec(4, 2, vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]).unwrap();
    let y = model.forward(x.view()).unwrap().clone();
    assert_eq!(y.as_slice(), &[0.0, 0.0, 0.0, 1.0]);
    let err = model.backward(x.view(), y.view()).unwrap_err();
    assert!(
        matches!(err, nn::NnError::NotDifferentiable { .. }),
        "{err}"
    );
}
