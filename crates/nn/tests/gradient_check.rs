//! Every gradient of the crate against central finite differences of an
//! independent `f64` implementation (naive loops written here, sharing no code
//! with the crate): `dL/dp ~ (L(p + h) - L(p - h)) / 2h` with `h = 1e-6`.
//!
//! Layers are checked through the scalar `L = sum(R * Y)` for a fixed random
//! `R`, so `dY = R`; losses and whole networks through their own value.
//! The error of one element is `|analytic - numeric| / max(|analytic|,
//! |numeric|, 1e-3 * largest |numeric| of the tensor)`, and must be < 1e-3:
//! relative where the gradient is sizeable, absolute (scaled to the tensor)
//! where it is nearly zero and `f32` rounding dominates.

use nn::{
    mse, sigmoid_binary_cross_entropy, softmax_cross_entropy, Activation, Dense, Dropout, Init,
    LayerSpec, ModelSpec, Sequential, Shape, Targets,
};
use rand::{rngs::StdRng, Rng, SeedableRng};
use tensor::Matrix;

const H: f64 = 1e-6;
const TOLERANCE: f64 = 1e-3;

fn random_matrix(rows: usize, cols: usize, scale: f32, rng: &mut StdRng) -> Matrix {
    Matrix::from_fn(rows, cols, |_, _| rng.gen_range(-scale..scale))
}

fn to_f64(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| v as f64).collect()
}

/// Central differences of `loss` with respect to every element of `point`.
fn numeric_gradient(point: &[f64], loss: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut p = point.to_vec();
    (0..p.len())
        .map(|i| {
            let saved = p[i];
            p[i] = saved + H;
            let up = loss(&p);
            p[i] = saved - H;
            let down = loss(&p);
            p[i] = saved;
            (up - down) / (2.0 * H)
        })
        .collect()
}

fn assert_close(what: &str, analytic: &[f32], numeric: &[f64]) {
    assert_eq!(analytic.len(), numeric.len(), "{what}: lengths");
    let largest = numeric.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(
        largest > 1e-6,
        "{what}: the numeric gradient is all zero, the check proves nothing"
    );
    let floor = 1e-3 * largest;
    for (i, (&a, &n)) in analytic.iter().zip(numeric).enumerate() {
        let a = a as f64;
        let error = (a - n).abs() / a.abs().max(n.abs()).max(floor);
        assert!(
            error < TOLERANCE,
            "{what}[{i}]: analytic {a:e}, numeric {n:e}, relative error {error:e}"
        );
    }
}

// ---------------------------------------------------------------- f64 references

/// `Y = X W^T + b`, by the definition.
fn dense_f64(x: &[f64], w: &[f64], b: &[f64], rows: usize, inputs: usize) -> Vec<f64> {
    let outputs = b.len();
    let mut y = vec![0.0; rows * outputs];
    for r in 0..rows {
        for o in 0..outputs {
            let mut sum = b[o];
            for i in 0..inputs {
                sum += x[r * inputs + i] * w[o * inputs + i];
            }
            y[r * outputs + o] = sum;
        }
    }
    y
}

fn activation_f64(activation: Activation, z: &[f64], cols: usize) -> Vec<f64> {
    match activation {
        Activation::Identity => z.to_vec(),
        Activation::Relu => z.iter().map(|&v| v.max(0.0)).collect(),
        Activation::LeakyRelu(s) => z
            .iter()
            .map(|&v| if v > 0.0 { v } else { s as f64 * v })
            .collect(),
        Activation::Sigmoid => z.iter().map(|&v| 1.0 / (1.0 + (-v).exp())).collect(),
        Activation::Tanh => z.iter().map(|&v| v.tanh()).collect(),
        Activation::Softmax => z
            .chunks(cols)
            .flat_map(|row| {
                let top = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                let sum: f64 = row.iter().map(|&v| (v - top).exp()).sum();
                row.iter()
                    .map(move |&v| (v - top).exp() / sum)
                    .collect::<Vec<_>>()
            })
            .collect(),
        Activation::Step => unreachable!("not differentiable"),
    }
}

/// Mean over rows of `-sum_j t_j log softmax(z)_j`.
fn cross_entropy_f64(z: &[f64], targets: &[f64], cols: usize) -> f64 {
    let rows = z.len() / cols;
    let probabilities = activation_f64(Activation::Softmax, z, cols);
    let total: f64 = probabilities
        .iter()
        .zip(targets)
        .map(|(p, t)| if *t == 0.0 { 0.0 } else { -t * p.ln() })
        .sum();
    total / rows as f64
}

fn one_hot(labels: &[usize], cols: usize) -> Vec<f64> {
    let mut t = vec![0.0; labels.len() * cols];
    for (r, &l) in labels.iter().enumerate() {
        t[r * cols + l] = 1.0;
    }
    t
}

fn weighted_sum(y: &[f64], r: &[f32]) -> f64 {
    y.iter().zip(r).map(|(y, &r)| y * r as f64).sum()
}

// ---------------------------------------------------------------- layers

#[test]
fn dense_weight_bias_and_input_gradients() {
    let mut rng = StdRng::seed_from_u64(1);
    let (rows, inputs, outputs) = (4, 5, 3);
    let x = random_matrix(rows, inputs, 1.0, &mut rng);
    let w = random_matrix(outputs, inputs, 1.0, &mut rng);
    let b: Vec<f32> = (0..outputs).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let r = random_matrix(rows, outputs, 1.0, &mut rng);

    let mut layer = Dense::from_parts(w.clone(), b.clone()).unwrap();
    let y = layer.forward(x.view(), false).unwrap().clone();
    let reference = dense_f64(
        &to_f64(x.as_slice()),
        &to_f64(w.as_slice()),
        &to_f64(&b),
        rows,
        inputs,
    );
    for (got, want) in y.as_slice().iter().zip(&reference) {
        assert!((*got as f64 - want).abs() < 1e-5);
    }
    let dx = layer
        .backward(x.view(), r.view(), true)
        .unwrap()
        .unwrap()
        .clone();

    let (x64, w64, b64) = (to_f64(x.as_slice()), to_f64(w.as_slice()), to_f64(&b));
    let loss = |x: &[f64], w: &[f64], b: &[f64]| {
        weighted_sum(&dense_f64(x, w, b, rows, inputs), r.as_slice())
    };
    assert_close(
        "dW",
        layer.weight_grad().as_slice(),
        &numeric_gradient(&w64, |w| loss(&x64, w, &b64)),
    );
    assert_close(
        "db",
        layer.bias_grad(),
        &numeric_gradient(&b64, |b| loss(&x64, &w64, b)),
    );
    assert_close(
        "dX",
        dx.as_slice(),
        &numeric_gradient(&x64, |x| loss(x, &w64, &b64)),
    );
}

#[test]
fn every_activation_gradient() {
    let mut rng = StdRng::seed_from_u64(2);
    let (rows, cols) = (3, 4);
    for activation in [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu(0.1),
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softmax,
    ] {
        let x = random_matrix(rows, cols, 2.0, &mut rng);
        let r = random_matrix(rows, cols, 1.0, &mut rng);
        let mut y = x.clone();
        activation.forward_in_place(y.view_mut());
        let x64 = to_f64(x.as_slice());
        for (got, want) in y
            .as_slice()
            .iter()
            .zip(activation_f64(activation, &x64, cols))
        {
            assert!((*got as f64 - want).abs() < 1e-6, "{activation} forward");
        }
        let mut dx = Matrix::zeros(rows, cols);
        activation
            .backward(y.view(), r.view(), dx.view_mut())
            .unwrap();
        let numeric = numeric_gradient(&x64, |x| {
            weighted_sum(&activation_f64(activation, x, cols), r.as_slice())
        });
        assert_close(&format!("{activation} dX"), dx.as_slice(), &numeric);
        // The model's in-place path must give the same.
        let mut in_place = r.clone();
        activation
            .backward_in_place(y.view(), in_place.view_mut())
            .unwrap();
        assert_close(
            &format!("{activation} dX in place"),
            in_place.as_slice(),
            &numeric,
        );
    }
}

#[test]
fn dropout_gradient_with_a_fixed_mask() {
    let mut rng = StdRng::seed_from_u64(3);
    let (rows, cols) = (4, 6);
    let x = random_matrix(rows, cols, 1.0, &mut rng);
    let r = random_matrix(rows, cols, 1.0, &mut rng);
    let mut dropout = Dropout::new(0.4, 17).unwrap();
    dropout.forward(x.view()).unwrap();
    let mask = to_f64(dropout.mask().as_slice());
    assert!(
        mask.contains(&0.0) && mask.iter().any(|&m| m > 1.0),
        "the mask drops some and keeps some"
    );
    let mut dx = r.clone();
    dropout.backward_in_place(dx.view_mut()).unwrap();
    let numeric = numeric_gradient(&to_f64(x.as_slice()), |x| {
        let y: Vec<f64> = x.iter().zip(&mask).map(|(x, m)| x * m).collect();
        weighted_sum(&y, r.as_slice())
    });
    assert_close("dropout dX", dx.as_slice(), &numeric);
    // Replaying the mask gives the same output as the first pass.
    let first = dropout.output().clone();
    assert_eq!(dropout.forward_with_current_mask(x.view()).unwrap(), &first);
}

// ---------------------------------------------------------------- losses

#[test]
fn softmax_cross_entropy_gradient_for_every_kind_of_target() {
    let mut rng = StdRng::seed_from_u64(4);
    let (rows, cols) = (5, 4);
    let z = random_matrix(rows, cols, 3.0, &mut rng);
    let labels = [3usize, 0, 1, 1, 2];
    let bytes: Vec<u8> = labels.iter().map(|&l| l as u8).collect();
    let soft = Matrix::from_fn(rows, cols, |r, c| [0.1, 0.2, 0.3, 0.4][(r + c) % 4]);
    let z64 = to_f64(z.as_slice());

    let cases: [(&str, Targets, Vec<f64>); 3] = [
        ("classes", Targets::Classes(&labels), one_hot(&labels, cols)),
        ("labels", Targets::Labels(&bytes), one_hot(&labels, cols)),
        (
            "probabilities",
            Targets::Probabilities(soft.view()),
            to_f64(soft.as_slice()),
        ),
    ];
    for (what, targets, targets64) in cases {
        let mut grad = Matrix::zeros(0, 0);
        let loss = softmax_cross_entropy(z.view(), targets, &mut grad).unwrap();
        let want = cross_entropy_f64(&z64, &targets64, cols);
        assert!(
            (loss as f64 - want).abs() < 1e-5 * want.abs().max(1.0),
            "{what}: {loss} vs {want}"
        );
        let numeric = numeric_gradient(&z64, |z| cross_entropy_f64(z, &targets64, cols));
        assert_close(
            &format!("cross-entropy ({what}) dZ"),
            grad.as_slice(),
            &numeric,
        );
    }
}

#[test]
fn mse_gradient() {
    let mut rng = StdRng::seed_from_u64(5);
    let p = random_matrix(3, 4, 2.0, &mut rng);
    let t = random_matrix(3, 4, 2.0, &mut rng);
    let t64 = to_f64(t.as_slice());
    let reference = |p: &[f64]| {
        p.iter()
            .zip(&t64)
            .map(|(p, t)| (p - t).powi(2))
            .sum::<f64>()
            / p.len() as f64
    };
    let mut grad = Matrix::zeros(0, 0);
    let loss = mse(p.view(), t.view(), &mut grad).unwrap();
    let p64 = to_f64(p.as_slice());
    assert!((loss as f64 - reference(&p64)).abs() < 1e-5);
    assert_close(
        "mse dP",
        grad.as_slice(),
        &numeric_gradient(&p64, reference),
    );
}

#[test]
fn sigmoid_binary_cross_entropy_gradient() {
    let mut rng = StdRng::seed_from_u64(6);
    let z = random_matrix(3, 4, 4.0, &mut rng);
    let t = Matrix::from_fn(3, 4, |r, c| [0.0, 1.0, 0.25][(r * 4 + c) % 3]);
    let t64 = to_f64(t.as_slice());
    // The textbook form, fine in f64 for moderate logits.
    let reference = |z: &[f64]| {
        z.iter()
            .zip(&t64)
            .map(|(&z, &t)| {
                let p = 1.0 / (1.0 + (-z).exp());
                -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
            })
            .sum::<f64>()
            / z.len() as f64
    };
    let mut grad = Matrix::zeros(0, 0);
    let loss = sigmoid_binary_cross_entropy(z.view(), t.view(), &mut grad).unwrap();
    let z64 = to_f64(z.as_slice());
    assert!((loss as f64 - reference(&z64)).abs() < 1e-5);
    assert_close(
        "bce dZ",
        grad.as_slice(),
        &numeric_gradient(&z64, reference),
    );
}

// ---------------------------------------------------------------- whole networks

type LossF64 = dyn Fn(&[f64]) -> f64;

/// `Y[b, o, y, x] = bias[o] + sum over c, ky, kx of W[o, c, ky, kx] *
/// X[b, c, y*s + ky - p, x*s + kx - p]` (zero outside): the seven nested
/// loops of the definition, the oracle of the fast convolution.
#[allow(clippy::too_many_arguments)]
fn conv_f64(
    x: &[f64],
    w: &[f64],
    bias: Option<&[f64]>,
    batch: usize,
    input: Shape,
    filters: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> (Vec<f64>, Shape) {
    let out_h = (input.height + 2 * padding - kernel) / stride + 1;
    let out_w = (input.width + 2 * padding - kernel) / stride + 1;
    let (c_in, h, wd) = (input.channels, input.height, input.width);
    let mut y = vec![0.0; batch * filters * out_h * out_w];
    for b in 0..batch {
        for o in 0..filters {
            for oy in 0..out_h {
                for ox in 0..out_w {
                    let mut sum = bias.map_or(0.0, |bias| bias[o]);
                    for c in 0..c_in {
                        for ky in 0..kernel {
                            for kx in 0..kernel {
                                let iy = (oy * stride + ky) as isize - padding as isize;
                                let ix = (ox * stride + kx) as isize - padding as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let xv = x[((b * c_in + c) * h + iy as usize) * wd + ix as usize];
                                sum += w[((o * c_in + c) * kernel + ky) * kernel + kx] * xv;
                            }
                        }
                    }
                    y[((b * filters + o) * out_h + oy) * out_w + ox] = sum;
                }
            }
        }
    }
    let shape = Shape::image(filters, out_h, out_w);
    (y, shape)
}

/// Max or mean of every window, by the definition.
fn pool_f64(
    x: &[f64],
    batch: usize,
    input: Shape,
    kernel: usize,
    stride: usize,
    max: bool,
) -> (Vec<f64>, Shape) {
    let out_h = (input.height - kernel) / stride + 1;
    let out_w = (input.width - kernel) / stride + 1;
    let mut y = Vec::new();
    for plane in x
        .chunks(input.height * input.width)
        .take(batch * input.channels)
    {
        for oy in 0..out_h {
            for ox in 0..out_w {
                let values = (0..kernel * kernel).map(|k| {
                    plane[(oy * stride + k / kernel) * input.width + ox * stride + k % kernel]
                });
                y.push(if max {
                    values.fold(f64::NEG_INFINITY, f64::max)
                } else {
                    values.sum::<f64>() / (kernel * kernel) as f64
                });
            }
        }
    }
    let shape = Shape::image(input.channels, out_h, out_w);
    (y, shape)
}

/// Batch norm in training mode: each channel over the batch and its pixels.
fn batch_norm_f64(
    x: &[f64],
    batch: usize,
    channels: usize,
    spatial: usize,
    gamma: &[f64],
    beta: &[f64],
) -> Vec<f64> {
    let mut y = x.to_vec();
    let count = (batch * spatial) as f64;
    for c in 0..channels {
        let at = |b: usize, s: usize| (b * channels + c) * spatial + s;
        let all = || (0..batch).flat_map(move |b| (0..spatial).map(move |s| (b, s)));
        let mean = all().map(|(b, s)| x[at(b, s)]).sum::<f64>() / count;
        let var = all()
            .map(|(b, s)| (x[at(b, s)] - mean).powi(2))
            .sum::<f64>()
            / count;
        for (b, s) in all() {
            y[at(b, s)] = gamma[c] * (x[at(b, s)] - mean) / (var + 1e-5).sqrt() + beta[c];
        }
    }
    y
}

/// The loss of a whole network in f64, interpreting its spec layer by
/// layer, given its flat trainable parameters in the order of
/// `Sequential::params` and the dropout masks of the forward pass.
fn network_loss_f64(
    spec: &ModelSpec,
    params: &[f64],
    x: &[f64],
    rows: usize,
    masks: &[Vec<f64>],
    loss: &dyn Fn(&[f64]) -> f64,
) -> f64 {
    let mut next_params = {
        let mut offset = 0;
        move |n: usize| {
            offset += n;
            &params[offset - n..offset]
        }
    };
    let mut masks = masks.iter();
    let mut a = x.to_vec();
    let mut shape = spec.input;
    for layer in &spec.layers {
        let (z, out, norm) = match *layer {
            LayerSpec::Conv {
                filters,
                kernel,
                stride,
                padding,
                batch_norm,
            } => {
                let w = next_params(filters * shape.channels * kernel * kernel);
                let bias = (!batch_norm).then(|| next_params(filters));
                let (z, out) = conv_f64(&a, w, bias, rows, shape, filters, kernel, stride, padding);
                (z, out, batch_norm)
            }
            LayerSpec::MaxPool { kernel, stride } | LayerSpec::AvgPool { kernel, stride } => {
                let max = matches!(layer, LayerSpec::MaxPool { .. });
                let (kernel, stride) = if kernel == 0 {
                    (shape.height, shape.height)
                } else {
                    (kernel, stride)
                };
                (a, shape) = pool_f64(&a, rows, shape, kernel, stride, max);
                continue;
            }
            LayerSpec::Dense { units, batch_norm } => {
                let w = next_params(units * shape.len());
                let zeros = vec![0.0; units];
                let b = if batch_norm {
                    &zeros[..]
                } else {
                    next_params(units)
                };
                (
                    dense_f64(&a, w, b, rows, shape.len()),
                    Shape::flat(units),
                    batch_norm,
                )
            }
            LayerSpec::Dropout(_) => {
                let mask = masks.next().expect("a mask per dropout layer");
                a.iter_mut().zip(mask).for_each(|(a, m)| *a *= m);
                continue;
            }
        };
        let z = if norm {
            let gamma = next_params(out.channels);
            let beta = next_params(out.channels);
            batch_norm_f64(&z, rows, out.channels, out.height * out.width, gamma, beta)
        } else {
            z
        };
        a = activation_f64(spec.hidden, &z, out.len());
        shape = out;
    }
    let w = next_params(spec.outputs * shape.len());
    let b = next_params(spec.outputs);
    let y = dense_f64(&a, w, b, rows, shape.len());
    loss(&activation_f64(spec.output, &y, spec.outputs))
}

/// Trains nothing: one forward + loss + backward, then every parameter's
/// gradient against finite differences of the f64 network.
fn check_network(spec_text: &str, loss_kind: &str) {
    check_network_rows(spec_text, loss_kind, 6)
}

fn check_network_rows(spec_text: &str, loss_kind: &str, rows: usize) {
    let spec = ModelSpec::parse(spec_text).unwrap();
    let mut model = Sequential::new(&spec, Init::XavierUniform, 7).unwrap();
    let mut rng = StdRng::seed_from_u64(8);
    // Non-zero biases and batch-norm shifts, scales away from one, so their
    // gradients and the kinks are exercised too.
    for (name, value, _) in model.params_mut() {
        if name.ends_with("bias") {
            value.iter_mut().for_each(|b| *b = rng.gen_range(-0.5..0.5));
        }
        if name.ends_with("weight") && value.len() < 10 {
            value.iter_mut().for_each(|g| *g = rng.gen_range(0.5..1.5));
        }
    }
    let x = random_matrix(rows, spec.inputs(), 1.0, &mut rng);
    let outputs = spec.outputs();
    let labels: Vec<usize> = (0..rows).map(|r| (r * 7 + 3) % outputs).collect();
    let targets = Matrix::from_fn(rows, outputs, |r, c| {
        ((r * outputs + c) as f32 * 0.37).sin().abs()
    });

    let y = model.forward(x.view()).unwrap().clone();
    let mut grad = Matrix::zeros(0, 0);
    let targets64 = to_f64(targets.as_slice());
    let one_hot64 = one_hot(&labels, outputs);
    let loss_f64: Box<LossF64> = match loss_kind {
        "cross_entropy" => {
            softmax_cross_entropy(y.view(), Targets::Classes(&labels), &mut grad).unwrap();
            Box::new(move |y: &[f64]| cross_entropy_f64(y, &one_hot64, outputs))
        }
        "mse" => {
            mse(y.view(), targets.view(), &mut grad).unwrap();
            Box::new(move |y: &[f64]| {
                y.iter()
                    .zip(&targets64)
                    .map(|(y, t)| (y - t).powi(2))
                    .sum::<f64>()
                    / y.len() as f64
            })
        }
        other => panic!("unknown loss {other}"),
    };
    model.backward(x.view(), grad.view()).unwrap();

    let masks: Vec<Vec<f64>> = model
        .dropouts()
        .map(|d| to_f64(d.mask().as_slice()))
        .collect();
    let params64: Vec<f64> = model.params().flat_map(|(_, _, v)| to_f64(v)).collect();
    let x64 = to_f64(x.as_slice());
    let numeric = numeric_gradient(&params64, |p| {
        network_loss_f64(&spec, p, &x64, rows, &masks, &loss_f64)
    });
    let mut offset = 0;
    for (name, _, grad) in model.params_mut() {
        let numeric = &numeric[offset..offset + grad.len()];
        offset += grad.len();
        assert_close(&format!("{spec_text} ({loss_kind}) {name}"), grad, numeric);
    }
}

#[test]
fn three_layer_network_with_each_hidden_activation() {
    for hidden in [
        "identity",
        "relu",
        "leaky_relu:0.1",
        "sigmoid",
        "tanh",
        "softmax",
    ] {
        check_network(&format!("5-7-6-4 hidden={hidden}"), "cross_entropy");
    }
}

#[test]
fn three_layer_network_with_output_activations_and_mse() {
    for output in ["sigmoid", "tanh", "softmax", "relu", "identity"] {
        check_network(&format!("5-7-6-3 hidden=tanh output={output}"), "mse");
    }
}

#[test]
fn three_layer_network_with_dropout_masks() {
    for hidden in ["relu", "sigmoid"] {
        check_network(
            &format!("5-8-8-4 hidden={hidden} dropout=0.3"),
            "cross_entropy",
        );
    }
}

#[test]
fn convolutions_with_odd_sizes_strides_and_padding() {
    for spec in [
        "1x7x6 c3k3 5",
        "2x7x7 c3k3s2p1 c2k2 4",
        "3x9x5 c4k3p1 c2k3s2 3 hidden=tanh",
        "1x5x5 c2k5p2 c3k1 2 hidden=sigmoid",
    ] {
        check_network(spec, "cross_entropy");
    }
}

#[test]
fn pooling_max_average_and_global() {
    for spec in [
        "1x8x8 c3k3 p2 4",
        "2x9x9 c3k2 p3s2 3",
        "1x8x7 c2k3 a2 3 hidden=tanh",
        "2x6x6 c3k3p1 gap 3",
    ] {
        check_network(spec, "cross_entropy");
    }
}

#[test]
fn batch_norm_in_training_mode_after_convolutions_and_dense_layers() {
    for spec in [
        "1x6x6 c3k3bn 3",
        "2x7x7 c3k3s2p1bn p2 f5bn 4 hidden=tanh",
        "6 f7bn f5bn 3",
    ] {
        check_network_rows(spec, "cross_entropy", 5);
    }
    // A small batch, where each row weighs much in the statistics. (Two
    // rows normalise to exactly -1 and 1: the weights' true gradient is
    // then ~0 and f32 rounding is all a check would see.)
    check_network_rows("4 f3bn 3", "mse", 3);
}

#[test]
fn a_small_lenet_with_dropout_everywhere() {
    check_network_rows(
        "1x12x12 c4k5p2 d0.2 p2 c6k3 p2 f8 d0.3 f7 3",
        "cross_entropy",
        3,
    );
}

#[test]
fn a_batch_cut_into_several_chunks_sums_their_gradients() {
    // 6400 patch values per image: a chunk holds 10 images, so 12 rows
    // make two chunks, the second one short.
    check_network_rows("1x20x20 c2k5 3", "cross_entropy", 12);
}
