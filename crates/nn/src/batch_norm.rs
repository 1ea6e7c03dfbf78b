//! Batch normalisation (Ioffe & Szegedy 2015, "Batch Normalization:
//! Accelerating Deep Network Training by Reducing Internal Covariate Shift",
//! Algorithm 1 and section 3.1), PyTorch's `BatchNorm1d` and `BatchNorm2d`:
//! each channel is normalised over the batch (and, for images, over its
//! pixels), then scaled and shifted by learned `gamma` and `beta`.
//!
//! Shapes: `X` and `Y` `[B, C*S]` with `S = H*W` values per channel (1
//! after a dense layer); `N = B*S` values per channel.
//!
//! Training: `mean`, `var` (biased) of the batch; `xhat = (x - mean) /
//! sqrt(var + eps)`; `y = gamma * xhat + beta`; running statistics move by
//! `momentum` toward the batch's, the variance unbiased (`* N / (N - 1)`),
//! as PyTorch does. Evaluation: the running statistics instead.
//!
//! Backward (training): `dbeta = sum dy`, `dgamma = sum dy * xhat`,
//! `dx = gamma / sqrt(var + eps) / N * (N * dy - dbeta - xhat * dgamma)`.

use crate::activation::same_shape;
use crate::stage::{ParamMut, TensorMut, TensorRef};
use crate::{NnError, Result};
use tensor::{ops, Matrix, MatrixRef};

/// PyTorch's defaults.
pub const BATCH_NORM_EPS: f32 = 1e-5;
pub const BATCH_NORM_MOMENTUM: f32 = 0.1;

/// A batch-norm layer: parameters `gamma` (`weight`) and `beta` (`bias`),
/// buffers `running_mean`, `running_var`, `num_batches_tracked`, and the
/// batch-sized buffers of the last forward pass.
#[derive(Clone, Debug)]
pub struct BatchNorm {
    channels: usize,
    /// `S`: values per channel in a row.
    spatial: usize,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    gamma_grad: Vec<f32>,
    beta_grad: Vec<f32>,
    running_mean: Vec<f32>,
    running_var: Vec<f32>,
    /// A count, kept as `f32` so every saved tensor is F32 (exact to 2^24).
    num_batches_tracked: [f32; 1],
    momentum: f32,
    eps: f32,
    /// `1 / sqrt(var + eps)` per channel, of the last forward pass.
    inverse_std: Vec<f32>,
    /// Whether the last forward pass used batch statistics.
    batch_statistics: bool,
    xhat: Matrix,
    output: Matrix,
    input_grad: Matrix,
    /// Per-channel sums, in f64 so that large batches lose nothing.
    sums: Vec<f64>,
    names: [String; 5],
}

impl BatchNorm {
    /// `channels` (`C`) of `spatial` (`S`) values each; `gamma = 1`,
    /// `beta = 0`, running mean 0 and variance 1, PyTorch's momentum and eps.
    pub fn new(channels: usize, spatial: usize) -> BatchNorm {
        BatchNorm {
            channels,
            spatial,
            gamma: vec![1.0; channels],
            beta: vec![0.0; channels],
            gamma_grad: vec![0.0; channels],
            beta_grad: vec![0.0; channels],
            running_mean: vec![0.0; channels],
            running_var: vec![1.0; channels],
            num_batches_tracked: [0.0],
            momentum: BATCH_NORM_MOMENTUM,
            eps: BATCH_NORM_EPS,
            inverse_std: vec![0.0; channels],
            batch_statistics: false,
            xhat: Matrix::zeros(0, channels * spatial),
            output: Matrix::zeros(0, channels * spatial),
            input_grad: Matrix::zeros(0, channels * spatial),
            sums: vec![0.0; 2 * channels],
            names: [
                "weight",
                "bias",
                "running_mean",
                "running_var",
                "num_batches_tracked",
            ]
            .map(String::from),
        }
    }

    /// Names the tensors `{prefix}.weight`, `.bias`, `.running_mean`,
    /// `.running_var` and `.num_batches_tracked`, as PyTorch does.
    pub fn with_names(mut self, prefix: &str) -> BatchNorm {
        self.names = [
            "weight",
            "bias",
            "running_mean",
            "running_var",
            "num_batches_tracked",
        ]
        .map(|name| format!("{prefix}.{name}"));
        self
    }

    pub fn gamma(&self) -> &[f32] {
        &self.gamma
    }
    pub fn gamma_mut(&mut self) -> &mut [f32] {
        &mut self.gamma
    }
    pub fn beta_mut(&mut self) -> &mut [f32] {
        &mut self.beta
    }
    pub fn running_mean(&self) -> &[f32] {
        &self.running_mean
    }
    pub fn running_var(&self) -> &[f32] {
        &self.running_var
    }
    pub fn output(&self) -> &Matrix {
        &self.output
    }
    pub(crate) fn output_mut(&mut self) -> &mut Matrix {
        &mut self.output
    }
    pub fn input_grad(&self) -> &Matrix {
        &self.input_grad
    }

    /// `(name, value, gradient)` of `gamma` and `beta`: the trainable ones.
    pub fn params_mut(&mut self) -> [Option<ParamMut<'_>>; 2] {
        [
            Some((self.names[0].as_str(), &mut self.gamma, &self.gamma_grad)),
            Some((self.names[1].as_str(), &mut self.beta, &self.beta_grad)),
        ]
    }

    /// `(name, shape, value)` of every tensor a weights file holds: the
    /// parameters, then the running statistics and the batch count
    /// (shape `[]`, a scalar).
    pub fn tensors(&self) -> [Option<TensorRef<'_>>; 5] {
        let shape: &[usize] = std::slice::from_ref(&self.channels);
        [
            Some((self.names[0].as_str(), shape, &self.gamma)),
            Some((self.names[1].as_str(), shape, &self.beta)),
            Some((self.names[2].as_str(), shape, &self.running_mean)),
            Some((self.names[3].as_str(), shape, &self.running_var)),
            Some((self.names[4].as_str(), &[], &self.num_batches_tracked)),
        ]
    }

    /// [`BatchNorm::tensors`], writable (for loading).
    pub(crate) fn tensors_mut(&mut self) -> [Option<TensorMut<'_>>; 5] {
        let shape: &[usize] = std::slice::from_ref(&self.channels);
        let [a, b, c, d, e] = &self.names;
        [
            Some((a.as_str(), shape, &mut self.gamma)),
            Some((b.as_str(), shape, &mut self.beta)),
            Some((c.as_str(), shape, &mut self.running_mean)),
            Some((d.as_str(), shape, &mut self.running_var)),
            Some((e.as_str(), &[], &mut self.num_batches_tracked)),
        ]
    }

    /// Normalises `X` `[B, C*S]`: with batch statistics (and an update of
    /// the running ones) when `training`, else with the running statistics.
    pub fn forward(&mut self, input: MatrixRef<'_>, training: bool) -> Result<&Matrix> {
        let (channels, spatial) = (self.channels, self.spatial);
        if input.cols() != channels * spatial {
            return Err(NnError::InputWidth {
                expected: channels * spatial,
                got: input.cols(),
            });
        }
        let count = input.rows() * spatial;
        if training && count < 2 {
            return Err(NnError::Spec {
                spec: "batch norm".into(),
                problem: "training needs more than one value per channel (a batch of 1 \
                          without pixels has no variance)"
                    .into(),
            });
        }
        if training {
            let (mean, square) = self.sums.split_at_mut(channels);
            mean.fill(0.0);
            square.fill(0.0);
            // Each run of `S` values is summed in f32 (vectorised), the runs
            // in f64, which keeps big batches exact enough.
            for row in input.as_slice().chunks_exact(channels * spatial) {
                for (c, values) in row.chunks_exact(spatial).enumerate() {
                    mean[c] += ops::sum(values) as f64;
                }
            }
            mean.iter_mut().for_each(|m| *m /= count as f64);
            for row in input.as_slice().chunks_exact(channels * spatial) {
                for (c, values) in row.chunks_exact(spatial).enumerate() {
                    let centre = mean[c] as f32;
                    square[c] += ops::sum_map(values, |v| (v - centre) * (v - centre)) as f64;
                }
            }
            let m = self.momentum as f64;
            for c in 0..channels {
                let variance = square[c] / count as f64;
                self.inverse_std[c] = (1.0 / (variance + self.eps as f64).sqrt()) as f32;
                let unbiased = square[c] / (count - 1) as f64;
                self.running_mean[c] =
                    ((1.0 - m) * self.running_mean[c] as f64 + m * mean[c]) as f32;
                self.running_var[c] =
                    ((1.0 - m) * self.running_var[c] as f64 + m * unbiased) as f32;
            }
            self.num_batches_tracked[0] += 1.0;
        } else {
            for c in 0..channels {
                self.sums[c] = self.running_mean[c] as f64;
                self.inverse_std[c] = 1.0 / (self.running_var[c] + self.eps).sqrt();
            }
        }
        self.batch_statistics = training;
        self.xhat.resize(input.rows(), channels * spatial);
        self.output.resize(input.rows(), channels * spatial);
        let rows = input
            .as_slice()
            .chunks_exact(channels * spatial)
            .zip(
                self.xhat
                    .as_mut_slice()
                    .chunks_exact_mut(channels * spatial),
            )
            .zip(
                self.output
                    .as_mut_slice()
                    .chunks_exact_mut(channels * spatial),
            );
        for ((x, xhat), y) in rows {
            for c in 0..channels {
                let (mean, scale) = (self.sums[c] as f32, self.inverse_std[c]);
                let (gamma, beta) = (self.gamma[c], self.beta[c]);
                let range = c * spatial..(c + 1) * spatial;
                for ((&x, xhat), y) in x[range.clone()]
                    .iter()
                    .zip(&mut xhat[range.clone()])
                    .zip(&mut y[range])
                {
                    *xhat = (x - mean) * scale;
                    *y = gamma * *xhat + beta;
                }
            }
        }
        Ok(&self.output)
    }

    /// `dgamma`, `dbeta` and `dX` from `dY` (see the module docs); in
    /// evaluation mode the statistics are constants: `dx = gamma * dy / std`.
    pub fn backward(&mut self, output_grad: MatrixRef<'_>) -> Result<&Matrix> {
        let (channels, spatial) = (self.channels, self.spatial);
        same_shape(
            "BatchNorm backward dY",
            self.xhat.shape(),
            output_grad.shape(),
        )?;
        let count = (output_grad.rows() * spatial) as f64;
        let (dbeta, dgamma) = self.sums.split_at_mut(channels);
        dbeta.fill(0.0);
        dgamma.fill(0.0);
        let width = channels * spatial;
        for (dy, xhat) in output_grad
            .as_slice()
            .chunks_exact(width)
            .zip(self.xhat.as_slice().chunks_exact(width))
        {
            for c in 0..channels {
                let range = c * spatial..(c + 1) * spatial;
                let (dy, xhat) = (&dy[range.clone()], &xhat[range]);
                dbeta[c] += ops::sum(dy) as f64;
                dgamma[c] += ops::dot(dy, xhat).expect("one channel's run of dY and xhat") as f64;
            }
        }
        for c in 0..channels {
            self.beta_grad[c] = dbeta[c] as f32;
            self.gamma_grad[c] = dgamma[c] as f32;
        }
        self.input_grad.resize(output_grad.rows(), width);
        let rows = output_grad
            .as_slice()
            .chunks_exact(width)
            .zip(self.xhat.as_slice().chunks_exact(width))
            .zip(self.input_grad.as_mut_slice().chunks_exact_mut(width));
        for ((dy, xhat), dx) in rows {
            for c in 0..channels {
                let scale = self.gamma[c] * self.inverse_std[c];
                let range = c * spatial..(c + 1) * spatial;
                let values = dy[range.clone()]
                    .iter()
                    .zip(&xhat[range.clone()])
                    .zip(&mut dx[range]);
                if self.batch_statistics {
                    let (mean_dy, mean_dy_xhat) =
                        ((dbeta[c] / count) as f32, (dgamma[c] / count) as f32);
                    for ((&g, &h), dx) in values {
                        *dx = scale * (g - mean_dy - h * mean_dy_xhat);
                    }
                } else {
                    for ((&g, _), dx) in values {
                        *dx = scale * g;
                    }
                }
            }
        }
        Ok(&self.input_grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_normalises_each_channel_and_moves_the_running_statistics() {
        // Two images of 2 channels x 2 pixels: channel 0 holds 1, 2, 3, 4 and
        // channel 1 holds 10 everywhere.
        let x = Matrix::from_vec(2, 4, vec![1.0, 2.0, 10.0, 10.0, 3.0, 4.0, 10.0, 10.0]).unwrap();
        let mut norm = BatchNorm::new(2, 2);
        norm.gamma_mut().copy_from_slice(&[2.0, 1.0]);
        norm.beta_mut().copy_from_slice(&[0.0, 0.5]);
        let y = norm.forward(x.view(), true).unwrap().clone();
        // Channel 0: mean 2.5, biased var 1.25.
        let s = 1.0 / (1.25f32 + 1e-5).sqrt();
        let want0 = [1.0, 2.0, 3.0, 4.0].map(|v: f32| 2.0 * (v - 2.5) * s);
        assert!((y[(0, 0)] - want0[0]).abs() < 1e-6 && (y[(1, 1)] - want0[3]).abs() < 1e-6);
        assert_eq!([y[(0, 2)], y[(1, 3)]], [0.5, 0.5]);
        // running = 0.9 * (0, 1) + 0.1 * (mean, unbiased var): var 5/3 and 0.
        assert!((norm.running_mean()[0] - 0.25).abs() < 1e-6);
        assert!((norm.running_var()[0] - (0.9 + 0.1 * 5.0 / 3.0)).abs() < 1e-6);
        assert!((norm.running_mean()[1] - 1.0).abs() < 1e-6);
        assert!((norm.running_var()[1] - 0.9).abs() < 1e-6);
        assert_eq!(norm.tensors()[4].unwrap().2, &[1.0]);
        // Evaluation uses the running statistics and leaves them alone.
        let want = 2.0 * (1.0 - 0.25) / (norm.running_var()[0] + 1e-5).sqrt();
        let y = norm.forward(x.view(), false).unwrap();
        assert!((y[(0, 0)] - want).abs() < 1e-6);
        assert_eq!(norm.tensors()[4].unwrap().2, &[1.0]);
    }

    #[test]
    fn one_value_per_channel_cannot_train_and_shapes_are_checked() {
        let mut norm = BatchNorm::new(3, 1);
        assert!(norm.forward(Matrix::zeros(1, 3).view(), true).is_err());
        assert!(norm.forward(Matrix::zeros(1, 3).view(), false).is_ok());
        assert!(norm.forward(Matrix::zeros(2, 4).view(), true).is_err());
        norm.forward(Matrix::zeros(2, 3).view(), true).unwrap();
        assert!(norm.backward(Matrix::zeros(3, 3).view()).is_err());
    }
}
