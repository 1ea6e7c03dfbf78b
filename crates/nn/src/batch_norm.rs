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
use std::ops::Range;
use tensor::cpu::with_simd;
use tensor::parallel::for_each_block;
use tensor::{ops, Matrix, MatrixRef};

/// Added to the variance before its square root, so a channel that is
/// constant over the batch divides by `sqrt(eps)`, not 0; PyTorch's default.
pub const BATCH_NORM_EPS: f32 = 1e-5;
/// How far the running statistics move toward each training batch's:
/// `running = (1 - momentum) * running + momentum * batch`; PyTorch's default.
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
    /// The mean and `1 / sqrt(var + eps)` per channel that the last
    /// forward pass normalised with (the batch's, or the running ones).
    mean: Vec<f32>,
    inverse_std: Vec<f32>,
    /// Whether the last forward pass used batch statistics.
    batch_statistics: bool,
    output: Matrix,
    input_grad: Matrix,
    /// Two sums per run of `S` values (one image's channel), `[B * C]`:
    /// computed on all threads, then added in f64 in a fixed order, so
    /// the statistics have the same bits whatever the thread count.
    run_sums: Vec<[f32; 2]>,
    /// `mean(dy)` and `mean(dy * (x - mean))` per channel (backward).
    mean_grad: Vec<[f32; 2]>,
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
            mean: vec![0.0; channels],
            inverse_std: vec![0.0; channels],
            batch_statistics: false,
            output: Matrix::zeros(0, channels * spatial),
            input_grad: Matrix::zeros(0, channels * spatial),
            run_sums: Vec::new(),
            mean_grad: vec![[0.0; 2]; channels],
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

    /// The learned scale `gamma`, one per channel (`[C]`, PyTorch's `weight`).
    pub fn gamma(&self) -> &[f32] {
        &self.gamma
    }
    /// `gamma`, to set (tests, loading).
    pub fn gamma_mut(&mut self) -> &mut [f32] {
        &mut self.gamma
    }
    /// The learned shift `beta`, one per channel (`[C]`, PyTorch's `bias`), to set.
    pub fn beta_mut(&mut self) -> &mut [f32] {
        &mut self.beta
    }
    /// Per-channel mean that evaluation normalises with (`[C]`),
    /// updated by each training forward pass.
    pub fn running_mean(&self) -> &[f32] {
        &self.running_mean
    }
    /// Per-channel unbiased variance that evaluation normalises with (`[C]`).
    pub fn running_var(&self) -> &[f32] {
        &self.running_var
    }
    /// `Y` of the last forward pass, `[B, C*S]`.
    pub fn output(&self) -> &Matrix {
        &self.output
    }
    pub(crate) fn output_mut(&mut self) -> &mut Matrix {
        &mut self.output
    }
    /// `dX` of the last backward pass, `[B, C*S]`.
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
    /// the running ones) when `training`, else with the running statistics;
    /// then `max(y, 0)` when `relu` (the activation after the norm, applied
    /// here to spare a pass over the batch).
    pub fn forward(&mut self, input: MatrixRef<'_>, training: bool, relu: bool) -> Result<&Matrix> {
        let (channels, spatial) = (self.channels, self.spatial);
        let width = channels * spatial;
        if input.cols() != width {
            return Err(NnError::InputWidth {
                expected: width,
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
        let x = input.as_slice();
        if training {
            // Each run of `S` values gets its sum and its own squared
            // deviations (two sweeps while it sits in L1); the runs combine
            // in f64, in row order, as Chan et al. combine partial variances:
            // `M2 = sum M2_run + S * sum (mean_run - mean)^2`.
            self.run_sums.resize(input.rows() * channels, [0.0; 2]);
            on_rows(
                &mut self.run_sums,
                channels,
                width,
                #[inline(always)]
                |rows, sums| {
                    let runs =
                        rows.flat_map(|r| x[r * width..(r + 1) * width].chunks_exact(spatial));
                    for (run, sum) in runs.zip(sums) {
                        let total = ops::sum(run);
                        let centre = total / spatial as f32;
                        *sum = [total, ops::sum_map(run, |v| (v - centre) * (v - centre))];
                    }
                },
            );
            let m = self.momentum as f64;
            for c in 0..channels {
                let runs = || self.run_sums.iter().skip(c).step_by(channels);
                let mean = runs().map(|&[total, _]| total as f64).sum::<f64>() / count as f64;
                let square: f64 = runs()
                    .map(|&[total, square]| {
                        let offset = total as f64 / spatial as f64 - mean;
                        square as f64 + spatial as f64 * offset * offset
                    })
                    .sum();
                let variance = square / count as f64;
                self.mean[c] = mean as f32;
                self.inverse_std[c] = (1.0 / (variance + self.eps as f64).sqrt()) as f32;
                let unbiased = square / (count - 1) as f64;
                self.running_mean[c] = ((1.0 - m) * self.running_mean[c] as f64 + m * mean) as f32;
                self.running_var[c] =
                    ((1.0 - m) * self.running_var[c] as f64 + m * unbiased) as f32;
            }
            self.num_batches_tracked[0] += 1.0;
        } else {
            for c in 0..channels {
                self.mean[c] = self.running_mean[c];
                self.inverse_std[c] = 1.0 / (self.running_var[c] + self.eps).sqrt();
            }
        }
        self.batch_statistics = training;
        self.output.resize(input.rows(), width);
        let normalise = Normalise::new(&self.mean, &self.inverse_std, &self.gamma, &self.beta);
        on_rows(
            self.output.as_mut_slice(),
            width,
            width,
            #[inline(always)]
            |rows, out| {
                for (r, y) in rows.zip(out.chunks_exact_mut(width)) {
                    let runs = x[r * width..(r + 1) * width]
                        .chunks_exact(spatial)
                        .zip(y.chunks_exact_mut(spatial));
                    for (c, (x, y)) in runs.enumerate() {
                        let (channel, normalised) = (normalise.channel(c), x.iter().zip(y));
                        if relu {
                            normalised.for_each(|(&x, y)| *y = channel.value(x).max(0.0));
                        } else {
                            normalised.for_each(|(&x, y)| *y = channel.value(x));
                        }
                    }
                }
            },
        );
        Ok(&self.output)
    }

    /// `dgamma`, `dbeta` and `dX` from `X` (the forward pass's input) and
    /// `dY` (see the module docs), through the ReLU first when the forward
    /// pass applied it; in evaluation mode the statistics are constants:
    /// `dx = gamma * dy / std`. `xhat` is computed again from `X` rather
    /// than kept, which saves a batch-sized buffer and a pass over it.
    pub fn backward(
        &mut self,
        input: MatrixRef<'_>,
        output_grad: MatrixRef<'_>,
        relu: bool,
    ) -> Result<&Matrix> {
        let (channels, spatial) = (self.channels, self.spatial);
        let width = channels * spatial;
        same_shape(
            "BatchNorm backward dY",
            self.output.shape(),
            output_grad.shape(),
        )?;
        same_shape("BatchNorm backward X", self.output.shape(), input.shape())?;
        let (x, dy) = (input.as_slice(), output_grad.as_slice());
        let normalise = Normalise::new(&self.mean, &self.inverse_std, &self.gamma, &self.beta);
        self.run_sums
            .resize(output_grad.rows() * channels, [0.0; 2]);
        on_rows(
            &mut self.run_sums,
            channels,
            width,
            #[inline(always)]
            |rows, sums| {
                for (r, sums) in rows.zip(sums.chunks_exact_mut(channels)) {
                    let row = r * width..(r + 1) * width;
                    let runs = x[row.clone()]
                        .chunks_exact(spatial)
                        .zip(dy[row].chunks_exact(spatial));
                    for (c, ((x, dy), sum)) in runs.zip(sums).enumerate() {
                        let channel = normalise.channel(c);
                        *sum = match relu {
                            true => gradient_sums::<true>(x, dy, channel),
                            false => gradient_sums::<false>(x, dy, channel),
                        };
                    }
                }
            },
        );
        let count = (output_grad.rows() * spatial) as f64;
        for c in 0..channels {
            let runs = self.run_sums.iter().skip(c).step_by(channels);
            let [dbeta, dy_centred] =
                runs.fold([0.0f64; 2], |[a, b], &[g, h]| [a + g as f64, b + h as f64]);
            self.beta_grad[c] = dbeta as f32;
            self.gamma_grad[c] = (dy_centred * self.inverse_std[c] as f64) as f32;
            self.mean_grad[c] = [(dbeta / count) as f32, (dy_centred / count) as f32];
        }
        self.input_grad.resize(output_grad.rows(), width);
        let (mean_grad, batch_statistics) = (&self.mean_grad, self.batch_statistics);
        let normalise = Normalise::new(&self.mean, &self.inverse_std, &self.gamma, &self.beta);
        on_rows(
            self.input_grad.as_mut_slice(),
            width,
            width,
            #[inline(always)]
            |rows, out| {
                for (r, dx) in rows.zip(out.chunks_exact_mut(width)) {
                    let row = r * width..(r + 1) * width;
                    let runs = x[row.clone()]
                        .chunks_exact(spatial)
                        .zip(dy[row].chunks_exact(spatial))
                        .zip(dx.chunks_exact_mut(spatial));
                    for (c, ((x, dy), dx)) in runs.enumerate() {
                        let (channel, mean_grad) = (normalise.channel(c), mean_grad[c]);
                        let mean_grad = batch_statistics.then_some(mean_grad);
                        match relu {
                            true => input_grad_run::<true>(x, dy, dx, channel, mean_grad),
                            false => input_grad_run::<false>(x, dy, dx, channel, mean_grad),
                        }
                    }
                }
            },
        );
        Ok(&self.input_grad)
    }
}

/// Runs `task(rows, share)` over `out`, `item_len` values per row of the
/// batch, on all threads (each with its own share of rows, the same
/// whatever the thread count) once a share would hold enough values to be
/// worth handing out (a microsecond), and in the SIMD build where the CPU
/// has one (see [`with_simd`]).
fn on_rows<T: Send>(
    out: &mut [T],
    item_len: usize,
    width: usize,
    task: impl Fn(Range<usize>, &mut [T]) + Sync,
) {
    const MIN_VALUES_PER_THREAD: usize = 16 * 1024;
    let rows_per_thread = MIN_VALUES_PER_THREAD.div_ceil(width.max(1));
    for_each_block(out, item_len, rows_per_thread, &|rows, share| {
        with_simd(
            #[inline(always)]
            || task(rows, share),
        )
    });
}

/// Where the per-channel values of `y = gamma * (x - mean) * inverse_std
/// + beta` live; [`Normalise::channel`] takes one channel's out of the
/// slices, once per run of `S` values, so the loops keep them in registers.
struct Normalise<'a> {
    mean: &'a [f32],
    inverse_std: &'a [f32],
    gamma: &'a [f32],
    beta: &'a [f32],
}

impl<'a> Normalise<'a> {
    fn new(
        mean: &'a [f32],
        inverse_std: &'a [f32],
        gamma: &'a [f32],
        beta: &'a [f32],
    ) -> Normalise<'a> {
        Normalise {
            mean,
            inverse_std,
            gamma,
            beta,
        }
    }

    fn channel(&self, c: usize) -> Channel {
        Channel {
            mean: self.mean[c],
            inverse_std: self.inverse_std[c],
            gamma: self.gamma[c],
            beta: self.beta[c],
        }
    }
}

/// One channel's normalisation, shared by the forward pass and the
/// backward pass, which finds the ReLU's mask again from `X` rather than
/// reading `Y`.
#[derive(Clone, Copy)]
struct Channel {
    mean: f32,
    inverse_std: f32,
    gamma: f32,
    beta: f32,
}

impl Channel {
    /// `y` for input `x`, before any ReLU.
    #[inline(always)]
    fn value(self, x: f32) -> f32 {
        self.gamma * ((x - self.mean) * self.inverse_std) + self.beta
    }

    /// `dy` where the gradient flows back through the ReLU (where the
    /// forward pass's `y` was positive), else 0; `dy` without a ReLU.
    #[inline(always)]
    fn through_relu<const RELU: bool>(self, x: f32, dy: f32) -> f32 {
        // A product rather than an `if`, of which the compiler made a
        // branch per value in the sums (mispredicted half the time).
        dy * f32::from(u8::from(!RELU || self.value(x) > 0.0))
    }
}

/// `[sum g, sum g * (x - mean)]` over one run, `g` being `dy` through
/// the ReLU when `RELU`: two sweeps of the run (it stays in L1), as the
/// compiler vectorises each on its own but not the two together.
#[inline(always)]
fn gradient_sums<const RELU: bool>(x: &[f32], dy: &[f32], channel: Channel) -> [f32; 2] {
    let g = |x, dy| channel.through_relu::<RELU>(x, dy);
    let sum = ops::sum_zip_map(x, dy, g);
    let centred = ops::sum_zip_map(x, dy, |x, dy| g(x, dy) * (x - channel.mean));
    [sum, centred].map(|total| total.expect("runs of X and dY have one length"))
}

/// `dX` of one run (see the module docs): `dx = gamma / std * (g -
/// mean(g) - xhat * mean(g * xhat))` with batch statistics, where
/// `mean(g * xhat) = mean(g * (x - mean)) / std`, or `gamma / std * g`
/// with running ones; `g` is `dy` through the ReLU when `RELU`.
#[inline(always)]
fn input_grad_run<const RELU: bool>(
    x: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    channel: Channel,
    mean_grad: Option<[f32; 2]>,
) {
    let outer = channel.gamma * channel.inverse_std;
    let values = x.iter().zip(dy).zip(dx);
    match mean_grad {
        Some([mean_dy, mean_dy_centred]) => {
            let inner = mean_dy_centred * channel.inverse_std * channel.inverse_std;
            for ((&x, &dy), dx) in values {
                let g = channel.through_relu::<RELU>(x, dy);
                *dx = outer * (g - mean_dy - (x - channel.mean) * inner);
            }
        }
        None => {
            for ((&x, &dy), dx) in values {
                *dx = outer * channel.through_relu::<RELU>(x, dy);
            }
        }
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
        let y = norm.forward(x.view(), true, false).unwrap().clone();
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
        let y = norm.forward(x.view(), false, false).unwrap();
        assert!((y[(0, 0)] - want).abs() < 1e-6);
        assert_eq!(norm.tensors()[4].unwrap().2, &[1.0]);
    }

    #[test]
    fn one_value_per_channel_cannot_train_and_shapes_are_checked() {
        let mut norm = BatchNorm::new(3, 1);
        assert!(norm
            .forward(Matrix::zeros(1, 3).view(), true, false)
            .is_err());
        assert!(norm
            .forward(Matrix::zeros(1, 3).view(), false, false)
            .is_ok());
        assert!(norm
            .forward(Matrix::zeros(2, 4).view(), true, false)
            .is_err());
        norm.forward(Matrix::zeros(2, 3).view(), true, false)
            .unwrap();
        assert!(norm
            .backward(
                Matrix::zeros(3, 3).view(),
                Matrix::zeros(3, 3).view(),
                false
            )
            .is_err());
    }
}
