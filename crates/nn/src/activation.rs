//! Element-wise (and, for softmax, row-wise) activation functions.
//!
//! Every backward pass here is written in terms of the forward *output* `Y`,
//! not the input: `sigmoid' = Y (1 - Y)`, `tanh' = 1 - Y^2`, `relu' = [Y > 0]`.
//! So a layer can apply its activation in place over the GEMM output and keep
//! one buffer instead of two.

use crate::{NnError, Result};
use std::fmt;
use std::ops::Range;
use tensor::cpu::with_simd;
use tensor::{MatrixMut, MatrixRef, ShapeError};

/// An activation function `Y = f(X)`, applied to a `B x O` matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `Y = X` (the logits of a softmax cross-entropy model).
    Identity,
    /// `Y = max(0, X)`.
    Relu,
    /// `Y = X` if `X > 0`, else `slope * X`. The slope must be `>= 0` so that
    /// the sign of `Y` tells the sign of `X` (backward reads only `Y`).
    LeakyRelu(f32),
    /// `Y = 1 / (1 + exp(-X))`.
    Sigmoid,
    /// `Y = tanh(X)`.
    Tanh,
    /// Each row `Y = exp(X - max) / sum exp(X - max)`.
    Softmax,
    /// The perceptron's step: `Y = 1` if `X > 0`, else `0`. Forward only.
    Step,
}

impl Activation {
    /// The name used in specs and in saved metadata (`leaky_relu:0.01`).
    pub fn name(&self) -> String {
        self.to_string()
    }

    /// Parses `identity`, `relu`, `leaky_relu` (slope 0.01) or
    /// `leaky_relu:SLOPE`, `sigmoid`, `tanh`, `softmax`, `step`.
    ///
    /// ```
    /// use nn::Activation;
    /// assert_eq!(Activation::parse("leaky_relu:0.2").unwrap(), Activation::LeakyRelu(0.2));
    /// assert!(Activation::parse("swish").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Activation> {
        let bad = |problem: String| NnError::Spec {
            spec: text.to_string(),
            problem,
        };
        let lower = text.trim().to_ascii_lowercase();
        let (name, argument) = match lower.split_once(':') {
            Some((name, argument)) => (name.trim(), Some(argument.trim())),
            None => (lower.as_str(), None),
        };
        let activation = match name {
            "identity" | "linear" | "none" => Activation::Identity,
            "relu" => Activation::Relu,
            "leaky_relu" | "leakyrelu" => {
                let slope = match argument {
                    None => 0.01,
                    Some(s) => s
                        .parse::<f32>()
                        .map_err(|_| bad(format!("leaky_relu slope {s:?} is not a number")))?,
                };
                if !(slope >= 0.0 && slope.is_finite()) {
                    return Err(bad(format!(
                        "leaky_relu slope must be finite and >= 0, got {slope}"
                    )));
                }
                return Ok(Activation::LeakyRelu(slope));
            }
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "softmax" => Activation::Softmax,
            "step" | "heaviside" => Activation::Step,
            _ => {
                return Err(bad(format!(
                    "unknown activation {name:?} (expected identity, relu, leaky_relu[:slope], \
                     sigmoid, tanh, softmax or step)"
                )))
            }
        };
        if argument.is_some() {
            return Err(bad(format!("{name} takes no parameter")));
        }
        Ok(activation)
    }

    /// `Y = f(Y)` in place, over a `B x O` matrix.
    pub fn forward_in_place(&self, mut y: MatrixMut<'_>) {
        // Generic rather than a closure, so that each `f` is inlined.
        fn each(y: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
            in_parallel(y, &|_, values| {
                with_simd(
                    #[inline(always)]
                    || values.iter_mut().for_each(|v| *v = f(*v)),
                )
            })
        }
        let values = y.as_mut_slice();
        match *self {
            Activation::Identity => {}
            Activation::Relu => each(values, |v| v.max(0.0)),
            Activation::LeakyRelu(slope) => each(values, |v| if v > 0.0 { v } else { slope * v }),
            Activation::Sigmoid => each(values, sigmoid),
            Activation::Tanh => each(values, tensor::ops::tanh),
            Activation::Softmax => tensor::ops::softmax_rows(y),
            Activation::Step => each(values, |v| if v > 0.0 { 1.0 } else { 0.0 }),
        }
    }

    /// `dX = dY * f'(X)`, with `f'` written through the output `Y`
    /// (softmax: `dX = Y * (dY - sum over the row of dY * Y)`).
    ///
    /// The out-of-place form of [`backward_in_place`], which owns the
    /// derivatives: `dX = dY`, then scaled in place.
    ///
    /// [`backward_in_place`]: Activation::backward_in_place
    pub fn backward(
        &self,
        output: MatrixRef<'_>,
        output_grad: MatrixRef<'_>,
        mut input_grad: MatrixMut<'_>,
    ) -> Result<()> {
        same_shape(
            "activation backward dY",
            output.shape(),
            output_grad.shape(),
        )?;
        same_shape("activation backward dX", output.shape(), input_grad.shape())?;
        // Refused before `dX` is written, so an error leaves it as it was.
        if *self == Activation::Step {
            return Err(NnError::NotDifferentiable { activation: "step" });
        }
        input_grad
            .as_mut_slice()
            .copy_from_slice(output_grad.as_slice());
        self.backward_in_place(output, input_grad)
    }

    /// `dY *= f'` in place (`dY` becomes `dX`), without a second buffer.
    /// Used by the model on its own gradient buffers.
    pub fn backward_in_place(&self, output: MatrixRef<'_>, mut grad: MatrixMut<'_>) -> Result<()> {
        same_shape("activation backward dY", output.shape(), grad.shape())?;
        let y = output.as_slice();
        // `dY[i] = scale(dY[i], Y[i])`, each share of `dY` with its `Y`.
        fn each(g: &mut [f32], y: &[f32], scale: impl Fn(f32, f32) -> f32 + Sync) {
            in_parallel(g, &|range, g| {
                with_simd(
                    #[inline(always)]
                    || {
                        g.iter_mut()
                            .zip(&y[range])
                            .for_each(|(g, &y)| *g = scale(*g, y))
                    },
                )
            })
        }
        match *self {
            Activation::Identity => {}
            Activation::Relu => each(grad.as_mut_slice(), y, |g, y| if y > 0.0 { g } else { 0.0 }),
            Activation::LeakyRelu(slope) => {
                each(
                    grad.as_mut_slice(),
                    y,
                    |g, y| {
                        if y > 0.0 {
                            g
                        } else {
                            slope * g
                        }
                    },
                )
            }
            Activation::Sigmoid => each(grad.as_mut_slice(), y, |g, y| g * (y * (1.0 - y))),
            Activation::Tanh => each(grad.as_mut_slice(), y, |g, y| g * (1.0 - y * y)),
            Activation::Softmax => {
                for r in 0..output.rows() {
                    let y = output.row(r);
                    let g = grad.row_mut(r);
                    let dot: f32 = y.iter().zip(g.iter()).map(|(y, g)| y * g).sum();
                    g.iter_mut().zip(y).for_each(|(g, &y)| *g = y * (*g - dot));
                }
            }
            Activation::Step => return Err(NnError::NotDifferentiable { activation: "step" }),
        }
        Ok(())
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Identity => f.write_str("identity"),
            Activation::Relu => f.write_str("relu"),
            Activation::LeakyRelu(slope) => write!(f, "leaky_relu:{slope}"),
            Activation::Sigmoid => f.write_str("sigmoid"),
            Activation::Tanh => f.write_str("tanh"),
            Activation::Softmax => f.write_str("softmax"),
            Activation::Step => f.write_str("step"),
        }
    }
}

/// Runs `task(range, values[range])` over shares of `values` on all
/// threads, when there are enough values to be worth handing out.
fn in_parallel(values: &mut [f32], task: &(dyn Fn(Range<usize>, &mut [f32]) + Sync)) {
    const MIN_VALUES_PER_THREAD: usize = 16 * 1024;
    tensor::parallel::for_each_block(values, 1, MIN_VALUES_PER_THREAD, task);
}

pub use tensor::ops::sigmoid;

pub(crate) fn same_shape(
    op: &'static str,
    expected: (usize, usize),
    got: (usize, usize),
) -> Result<(), ShapeError> {
    if expected == got {
        Ok(())
    } else {
        Err(ShapeError::Mismatch {
            op,
            left: expected,
            right: got,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tensor::Matrix;

    #[test]
    fn forward_matches_hand_values() {
        let x = [-2.0f32, -0.5, 0.0, 0.5, 2.0];
        let cases: [(Activation, [f32; 5]); 5] = [
            (Activation::Relu, [0.0, 0.0, 0.0, 0.5, 2.0]),
            (Activation::LeakyRelu(0.1), [-0.2, -0.05, 0.0, 0.5, 2.0]),
            (Activation::Step, [0.0, 0.0, 0.0, 1.0, 1.0]),
            (Activation::Identity, x),
            (
                Activation::Tanh,
                [-0.964_027_6, -0.462_117_16, 0.0, 0.462_117_16, 0.964_027_6],
            ),
        ];
        for (activation, want) in cases {
            let mut m = Matrix::from_vec(1, 5, x.to_vec()).unwrap();
            activation.forward_in_place(m.view_mut());
            for (got, want) in m.as_slice().iter().zip(want) {
                assert!((got - want).abs() < 1e-6, "{activation}: {m:?}");
            }
        }
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7);
        assert!((sigmoid(2.0) - 0.880_797_1).abs() < 1e-6);
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
    }

    #[test]
    fn names_round_trip_and_bad_names_are_errors() {
        for a in [
            Activation::Identity,
            Activation::Relu,
            Activation::LeakyRelu(0.25),
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Softmax,
            Activation::Step,
        ] {
            assert_eq!(Activation::parse(&a.name()).unwrap(), a);
        }
        assert_eq!(
            Activation::parse(" ReLU ").unwrap(),
            Activation::Relu,
            "case and spaces are forgiven"
        );
        assert!(Activation::parse("leaky_relu:-1").is_err());
        assert!(Activation::parse("leaky_relu:abc").is_err());
        assert!(Activation::parse("relu:3").is_err());
        let message = Activation::parse("gelu").unwrap_err().to_string();
        assert!(message.contains("gelu"), "{message}");
    }

    #[test]
    fn step_backward_is_an_error_not_a_panic() {
        let y = Matrix::zeros(1, 2);
        let mut dx = Matrix::zeros(1, 2);
        let err = Activation::Step
            .backward(y.view(), y.view(), dx.view_mut())
            .unwrap_err();
        assert!(matches!(err, NnError::NotDifferentiable { .. }));
        assert!(err.to_string().contains("step"));
    }

    #[test]
    fn a_failed_backward_leaves_the_input_gradient_as_it_was() {
        let y = Matrix::zeros(1, 2);
        let mut dx = Matrix::filled(1, 2, 7.0);
        assert!(Activation::Step
            .backward(y.view(), y.view(), dx.view_mut())
            .is_err());
        assert_eq!(dx.as_slice(), &[7.0, 7.0]);
        let wrong = Matrix::zeros(1, 3);
        assert!(Activation::Relu
            .backward(y.view(), wrong.view(), dx.view_mut())
            .is_err());
        assert_eq!(dx.as_slice(), &[7.0, 7.0]);
    }

    #[test]
    fn in_place_and_out_of_place_backward_agree() {
        let y = Matrix::from_fn(3, 4, |r, c| ((r * 4 + c) as f32 * 0.37).sin().abs());
        let dy = Matrix::from_fn(3, 4, |r, c| (r as f32 - c as f32) * 0.3);
        for a in [
            Activation::Identity,
            Activation::Relu,
            Activation::LeakyRelu(0.1),
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Softmax,
        ] {
            let mut out = Matrix::zeros(3, 4);
            a.backward(y.view(), dy.view(), out.view_mut()).unwrap();
            let mut in_place = dy.clone();
            a.backward_in_place(y.view(), in_place.view_mut()).unwrap();
            assert_eq!(out, in_place, "{a}");
        }
    }
}
