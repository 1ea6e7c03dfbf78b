//! The 2-D convolution layer, PyTorch's `nn.Conv2d` with a square kernel:
//! `Y[b, o] = b[o] + sum over c of W[o, c] (*) X[b, c]` (cross-correlation),
//! with stride and zero padding.
//!
//! Shapes: `X` `[B, C, H, W]`, `W` `[O, C, K, K]`, `b` `[O]`, `Y`
//! `[B, O, OH, OW]`, each image a row of a matrix (NCHW). Per image, the
//! forward pass is a GEMM over its patches (`tensor::conv::im2col`, a
//! `[C*K*K, P]` matrix): `Y = W * patches + b`, `[O, P]`, which is the
//! image's NCHW output as it stands; the backward pass is two GEMMs on the
//! same patches and a fold (`col2im`):
//!
//! `dW = sum over images of dY * patches^T,  db = row sums of dY,
//!  dX = col2im(W^T * dY)`.
//!
//! A batch's patches are many times its images (9x for a 3x3 kernel), so
//! they are never made whole: the batch is cut into chunks of a few images
//! whose patches fit in the L2 cache, and each thread unfolds a chunk and
//! multiplies it at once, while it is still in cache. The backward pass
//! unfolds each chunk again rather than keep what would not stay in cache.
//! Each chunk's share of `dW` is summed in chunk order afterwards, so the
//! result is the same bits whatever the number of threads.
//!
//! A layer over single-channel images with stride 1 (a first layer on grey
//! digits) skips the patches on a CPU with AVX-512: `Y` and `dW` come
//! straight from the pixels (`tensor::conv::one_channel`); its `dX`, when
//! asked for, is `col2im(W^T * dY)` as for any layer.

use crate::activation::same_shape;
use crate::stage::{ParamMut, TensorMut, TensorRef};
use crate::{NnError, Result};
use std::ops::Range;
use tensor::conv::one_channel::{self, OneChannelScratch};
use tensor::conv::{col2im, im2col_with_border, SlidingWindow};
use tensor::parallel::{for_each_part, part_range};
use tensor::{gemm_with, Epilogue, GemmConfig, Matrix, MatrixMut, MatrixRef};

/// Patch values per chunk: 64 K floats, 256 KB, a share of L2 that leaves
/// room for the weights and the chunk's outputs.
const CHUNK_PATCH_VALUES: usize = 64 << 10;

/// The most threads a convolution splits its chunks over (their parts
/// live in a fixed array, so a step allocates nothing).
const MAX_THREADS: usize = 16;

/// What one thread needs for one chunk, kept from step to step.
#[derive(Clone, Debug, Default)]
struct ChunkScratch {
    /// `[C*K*K, P]` for each of the chunk's `n` images, one after another.
    patches: Vec<f32>,
    /// `[C*K*K, P]`: `W^T * dY` of one image.
    patch_grads: Vec<f32>,
    /// One image inside its zero border, for `im2col` with padding.
    bordered: Vec<f32>,
    /// For a single-channel input (`tensor::conv::one_channel`).
    one_channel: OneChannelScratch,
}

/// One thread's share of a pass: a run of chunks, and the slices of the
/// outputs that belong to their images (and to them, for `dW` and `db`).
#[derive(Default)]
struct Share<'a> {
    chunks: Range<usize>,
    /// `Y` (forward) or `dX` (backward) of the share's images.
    images_out: &'a mut [f32],
    /// One row of `dW` and one of `db` per chunk (backward).
    weight_grads: &'a mut [f32],
    bias_grads: &'a mut [f32],
    scratch: Option<&'a mut ChunkScratch>,
}

/// Single-threaded GEMM: the threads are already busy with other chunks.
const ONE_THREAD: GemmConfig = GemmConfig {
    threads: Some(1),
    kernel: tensor::KernelChoice::Auto,
};

/// A convolution with its parameters, their gradients, and the batch-sized
/// buffers it reuses from step to step (patches, rows of outputs, ...).
#[derive(Clone, Debug)]
pub struct Conv2d {
    window: SlidingWindow,
    /// `W` as `[O, C*K*K]` (the same bytes as PyTorch's `[O, C, K, K]`).
    weight: Matrix,
    /// `b`, `[O]`; `None` for a convolution followed by batch norm.
    bias: Option<Vec<f32>>,
    weight_grad: Matrix,
    bias_grad: Vec<f32>,
    /// `Y`, `[B, O*P]`.
    output: Matrix,
    /// `dX`, `[B, C*H*W]`.
    input_grad: Matrix,
    /// Per thread.
    scratch: Vec<ChunkScratch>,
    /// `[chunks, O*C*K*K]` and `[chunks, O]`: each chunk's share of `dW`, `db`.
    weight_grad_parts: Matrix,
    bias_grad_parts: Matrix,
    weight_name: String,
    bias_name: String,
    weight_shape: [usize; 4],
    bias_shape: [usize; 1],
}

impl Conv2d {
    /// `filters` (`O`) kernels over the window's `C` channels, zero weights;
    /// with `bias` a zero bias. Names are `weight` and `bias` until
    /// [`Conv2d::with_names`]. An error if the window does not fit.
    pub fn new(window: SlidingWindow, filters: usize, bias: bool) -> Result<Conv2d> {
        window.check().map_err(|problem| NnError::Spec {
            spec: format!("{window:?}"),
            problem,
        })?;
        let patch = window.patch_len();
        Ok(Conv2d {
            window,
            weight: Matrix::zeros(filters, patch),
            bias: bias.then(|| vec![0.0; filters]),
            weight_grad: Matrix::zeros(filters, patch),
            bias_grad: vec![0.0; if bias { filters } else { 0 }],
            output: Matrix::zeros(0, filters * window.positions()),
            input_grad: Matrix::zeros(0, window.image_len()),
            scratch: Vec::new(),
            weight_grad_parts: Matrix::zeros(0, filters * patch),
            bias_grad_parts: Matrix::zeros(0, filters),
            weight_name: "weight".into(),
            bias_name: "bias".into(),
            weight_shape: [filters, window.channels, window.kernel, window.kernel],
            bias_shape: [filters],
        })
    }

    /// Names the parameters `{prefix}.weight` and `{prefix}.bias`.
    pub fn with_names(mut self, prefix: &str) -> Conv2d {
        self.weight_name = format!("{prefix}.weight");
        self.bias_name = format!("{prefix}.bias");
        self
    }

    /// The input's `C x H x W` and the kernel, stride and padding.
    pub fn window(&self) -> &SlidingWindow {
        &self.window
    }
    /// `O`.
    pub fn filters(&self) -> usize {
        self.weight.rows()
    }
    /// `[O, C*K*K]`.
    pub fn weight(&self) -> &Matrix {
        &self.weight
    }
    /// The weight `[O, C*K*K]`, to set (initialisation, loading, tests).
    pub fn weight_mut(&mut self) -> &mut Matrix {
        &mut self.weight
    }
    /// One bias per filter, `[O]`; `None` for a layer built without one
    /// (before batch norm, whose `beta` does the same job).
    pub fn bias(&self) -> Option<&[f32]> {
        self.bias.as_deref()
    }
    /// The bias, to set; `None` without one.
    pub fn bias_mut(&mut self) -> Option<&mut [f32]> {
        self.bias.as_deref_mut()
    }
    /// `dL/dW`, `[O, C*K*K]`, summed over the batch by the last backward pass.
    pub fn weight_grad(&self) -> &Matrix {
        &self.weight_grad
    }
    /// Empty without a bias.
    pub fn bias_grad(&self) -> &[f32] {
        &self.bias_grad
    }
    /// `Y` of the last forward pass, `[B, O*P]`.
    pub fn output(&self) -> &Matrix {
        &self.output
    }
    pub(crate) fn output_mut(&mut self) -> &mut Matrix {
        &mut self.output
    }
    /// `dX` of the last backward pass that asked for it.
    pub fn input_grad(&self) -> &Matrix {
        &self.input_grad
    }
    pub(crate) fn input_grad_mut(&mut self) -> &mut Matrix {
        &mut self.input_grad
    }

    /// `(name, shape, value)` of the weight, then of the bias if any.
    pub fn params(&self) -> [Option<TensorRef<'_>>; 2] {
        [
            Some((
                self.weight_name.as_str(),
                &self.weight_shape[..],
                self.weight.as_slice(),
            )),
            self.bias
                .as_deref()
                .map(|b| (self.bias_name.as_str(), &self.bias_shape[..], b)),
        ]
    }

    /// `(name, value, gradient)` of the weight, then of the bias if any.
    pub fn params_mut(&mut self) -> [Option<ParamMut<'_>>; 2] {
        [
            Some((
                self.weight_name.as_str(),
                self.weight.as_mut_slice(),
                self.weight_grad.as_slice(),
            )),
            self.bias
                .as_deref_mut()
                .map(|b| (self.bias_name.as_str(), b, self.bias_grad.as_slice())),
        ]
    }

    /// `(name, shape, value)` of each parameter, writable (for loading).
    pub(crate) fn tensors_mut(&mut self) -> [Option<TensorMut<'_>>; 2] {
        [
            Some((
                self.weight_name.as_str(),
                &self.weight_shape[..],
                self.weight.as_mut_slice(),
            )),
            self.bias
                .as_deref_mut()
                .map(|b| (self.bias_name.as_str(), &self.bias_shape[..], b)),
        ]
    }

    /// Images per chunk: as many as keep its patches within
    /// `CHUNK_PATCH_VALUES` (at least one).
    fn chunk_images(&self) -> usize {
        let per_image = self.window.positions() * self.window.patch_len();
        (CHUNK_PATCH_VALUES / per_image.max(1)).max(1)
    }

    /// Cuts a batch of `batch` images into chunks and the chunks into
    /// `threads` shares, handing each share its slices of `images_out`
    /// (`per_image` values an image) and of the per-chunk gradient rows.
    fn run_shares(
        &mut self,
        batch: usize,
        per_image: usize,
        images_out: &mut [f32],
        with_grad_parts: bool,
        task: &(dyn Fn(&mut Share<'_>, &Conv2d) + Sync),
    ) {
        let chunk = self.chunk_images();
        let chunks = batch.div_ceil(chunk);
        let threads = tensor::threads().min(chunks).clamp(1, MAX_THREADS);
        if self.scratch.len() < threads {
            self.scratch.resize_with(threads, ChunkScratch::default);
        }
        let (weight_len, bias_len) = (self.weight.len(), self.filters());
        let (mut weight_parts, mut bias_parts) = if with_grad_parts {
            self.weight_grad_parts.resize(chunks, weight_len);
            self.bias_grad_parts.resize(chunks, bias_len);
            (
                std::mem::take(&mut self.weight_grad_parts),
                std::mem::take(&mut self.bias_grad_parts),
            )
        } else {
            (Matrix::zeros(0, 0), Matrix::zeros(0, 0))
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        {
            let mut shares: [Share<'_>; MAX_THREADS] = Default::default();
            let (mut out, mut weights, mut biases) = (
                images_out,
                weight_parts.as_mut_slice(),
                bias_parts.as_mut_slice(),
            );
            let mut scratches = scratch.iter_mut();
            for (t, share) in shares.iter_mut().take(threads).enumerate() {
                let range = part_range(chunks, threads, t, 1);
                let images = (range.end * chunk).min(batch) - (range.start * chunk).min(batch);
                let grads = if with_grad_parts { range.len() } else { 0 };
                let (these, rest) = std::mem::take(&mut out).split_at_mut(images * per_image);
                (share.images_out, out) = (these, rest);
                let (these, rest) = std::mem::take(&mut weights).split_at_mut(grads * weight_len);
                (share.weight_grads, weights) = (these, rest);
                let (these, rest) = std::mem::take(&mut biases).split_at_mut(grads * bias_len);
                (share.bias_grads, biases) = (these, rest);
                share.scratch = scratches.next();
                share.chunks = range;
            }
            let layer: &Conv2d = self;
            for_each_part(&mut shares[..threads], &|share| task(share, layer));
        }
        self.scratch = scratch;
        if with_grad_parts {
            self.weight_grad_parts = weight_parts;
            self.bias_grad_parts = bias_parts;
        }
    }

    /// The images of chunk `c` as a range of the batch.
    fn chunk_range(&self, c: usize, batch: usize) -> Range<usize> {
        let chunk = self.chunk_images();
        (c * chunk).min(batch)..((c + 1) * chunk).min(batch)
    }

    /// The pixels of the images `images` of `input`.
    fn pixels<'a>(&self, input: MatrixRef<'a>, images: &Range<usize>) -> &'a [f32] {
        let image_len = self.window.image_len();
        &input.as_slice()[images.start * image_len..images.end * image_len]
    }

    /// Unfolds the images `images` of `input` into the scratch's patches.
    fn unfold(&self, input: MatrixRef<'_>, images: &Range<usize>, scratch: &mut ChunkScratch) {
        let w = &self.window;
        scratch
            .patches
            .resize(images.len() * w.positions() * w.patch_len(), 0.0);
        let pixels = self.pixels(input, images);
        im2col_with_border(w, pixels, &mut scratch.patches, &mut scratch.bordered)
            .expect("chunk lengths agree");
    }

    /// Image `i` of the chunk's patches, `[C*K*K, P]`.
    fn patches_of<'a>(&self, scratch: &'a ChunkScratch, i: usize) -> MatrixRef<'a> {
        let (rows, cols) = (self.window.patch_len(), self.window.positions());
        MatrixRef::new(
            rows,
            cols,
            &scratch.patches[i * rows * cols..(i + 1) * rows * cols],
        )
        .expect("patch lengths agree")
    }

    /// `Y = W (*) X + b` over a batch `X` `[B, C*H*W]`, into `[B, O*P]`;
    /// with `fuse_relu`, `max(0, .)` in the same pass as the bias.
    pub fn forward(&mut self, input: MatrixRef<'_>, fuse_relu: bool) -> Result<&Matrix> {
        let w = self.window;
        if input.cols() != w.image_len() {
            return Err(NnError::InputWidth {
                expected: w.image_len(),
                got: input.cols(),
            });
        }
        let (batch, positions, filters) = (input.rows(), w.positions(), self.filters());
        let mut output = std::mem::take(&mut self.output);
        output.resize(batch, filters * positions);
        let without_patches = one_channel::fits(&w);
        let task = |share: &mut Share<'_>, layer: &Conv2d| {
            let scratch = share.scratch.as_mut().expect("a scratch per share");
            let mut outputs = std::mem::take(&mut share.images_out);
            for c in share.chunks.clone() {
                let images = layer.chunk_range(c, batch);
                let (chunk_out, rest) = outputs.split_at_mut(images.len() * filters * positions);
                outputs = rest;
                if without_patches {
                    let pixels = layer.pixels(input, &images);
                    let weights = layer.weight.as_slice();
                    one_channel::forward(&w, weights, pixels, chunk_out, &mut scratch.one_channel)
                        .expect("chunk lengths agree");
                    for out in chunk_out.chunks_exact_mut(filters * positions) {
                        add_bias(out, layer.bias.as_deref(), positions, fuse_relu);
                    }
                    continue;
                }
                layer.unfold(input, &images, scratch);
                for (i, out) in chunk_out.chunks_exact_mut(filters * positions).enumerate() {
                    let y = MatrixMut::new(filters, positions, out).expect("an image's output");
                    let patches = layer.patches_of(scratch, i);
                    gemm_with(
                        &ONE_THREAD,
                        1.0,
                        &layer.weight,
                        patches,
                        0.0,
                        y,
                        Epilogue::None,
                    )
                    .expect("shapes agree");
                    add_bias(out, layer.bias.as_deref(), positions, fuse_relu);
                }
            }
        };
        self.run_shares(
            batch,
            filters * positions,
            output.as_mut_slice(),
            false,
            &task,
        );
        self.output = output;
        Ok(&self.output)
    }

    /// dW = sum of dY * patches^T, db = row sums of dY, dX = col2im(W^T * dY).
    ///
    /// Gradients are overwritten, not accumulated. `input` is the `X` whose
    /// gradients are wanted: its patches are unfolded again, chunk by chunk
    /// (a single-channel layer's `dW` comes from its pixels, see the module
    /// docs). `dX` is computed only when `want_input_grad`.
    pub fn backward(
        &mut self,
        input: MatrixRef<'_>,
        output_grad: MatrixRef<'_>,
        want_input_grad: bool,
    ) -> Result<Option<&Matrix>> {
        let w = self.window;
        let (batch, positions, filters) = (input.rows(), w.positions(), self.filters());
        same_shape("Conv2d backward X", (batch, w.image_len()), input.shape())?;
        same_shape(
            "Conv2d backward dY",
            (batch, filters * positions),
            output_grad.shape(),
        )?;
        let mut input_grad = std::mem::take(&mut self.input_grad);
        if want_input_grad {
            input_grad.resize(batch, w.image_len());
        }
        let image_len = if want_input_grad { w.image_len() } else { 0 };
        let without_patches = one_channel::fits(&w);
        let task = |share: &mut Share<'_>, layer: &Conv2d| {
            let scratch = share.scratch.as_mut().expect("a scratch per share");
            let mut input_grads = share.images_out.chunks_exact_mut(w.image_len());
            let weight_grads = share.weight_grads.chunks_exact_mut(layer.weight.len());
            let bias_grads = share.bias_grads.chunks_exact_mut(filters);
            let chunks = share.chunks.clone().zip(weight_grads).zip(bias_grads);
            for ((c, weight_grad), bias_grad) in chunks {
                let images = layer.chunk_range(c, batch);
                bias_grad.fill(0.0);
                for dy in output_grad
                    .rows_range(images.clone())
                    .as_slice()
                    .chunks_exact(filters * positions)
                {
                    for (b, row) in bias_grad.iter_mut().zip(dy.chunks_exact(positions)) {
                        *b += tensor::ops::sum(row);
                    }
                }
                if without_patches {
                    let dy = output_grad.rows_range(images.clone()).as_slice();
                    let pixels = layer.pixels(input, &images);
                    let scratch = &mut scratch.one_channel;
                    one_channel::weight_grad(&w, dy, pixels, weight_grad, scratch)
                        .expect("chunk lengths agree");
                } else {
                    layer.unfold(input, &images, scratch);
                }
                for (i, image) in images.clone().enumerate() {
                    let dy = output_grad.rows_range(image..image + 1).as_slice();
                    let dy = MatrixRef::new(filters, positions, dy).expect("an image's dY");
                    if !without_patches {
                        // The chunk's images add up in dW, in order.
                        let beta = if i == 0 { 0.0 } else { 1.0 };
                        let dw = MatrixMut::new(filters, w.patch_len(), &mut weight_grad[..])
                            .expect("a row of dW");
                        let patches = layer.patches_of(scratch, i);
                        gemm_with(&ONE_THREAD, 1.0, dy, patches.t(), beta, dw, Epilogue::None)
                            .expect("shapes agree");
                    }
                    // dX = col2im(W^T * dY) needs no patches.
                    let Some(dx) = input_grads.next() else {
                        continue;
                    };
                    scratch.patch_grads.resize(w.patch_len() * positions, 0.0);
                    let grads = MatrixMut::new(w.patch_len(), positions, &mut scratch.patch_grads)
                        .expect("one image's patch gradients");
                    gemm_with(
                        &ONE_THREAD,
                        1.0,
                        layer.weight.t(),
                        dy,
                        0.0,
                        grads,
                        Epilogue::None,
                    )
                    .expect("shapes agree");
                    col2im(&w, &scratch.patch_grads, dx).expect("lengths agree");
                }
            }
        };
        self.run_shares(batch, image_len, input_grad.as_mut_slice(), true, &task);
        self.input_grad = input_grad;
        // Each chunk's share, summed in chunk order: the same bits on any
        // number of threads.
        sum_rows_in_order(&self.weight_grad_parts, self.weight_grad.as_mut_slice());
        if self.bias.is_some() {
            sum_rows_in_order(&self.bias_grad_parts, &mut self.bias_grad);
        }
        Ok(want_input_grad.then_some(&self.input_grad))
    }
}

/// `Y[o] += b[o]` over each output channel's `P` values (when there is a
/// bias), then `max(0, Y)` when asked.
fn add_bias(output: &mut [f32], bias: Option<&[f32]>, positions: usize, relu: bool) {
    for (o, channel) in output.chunks_exact_mut(positions).enumerate() {
        let b = bias.map_or(0.0, |bias| bias[o]);
        match relu {
            true => channel.iter_mut().for_each(|v| *v = (*v + b).max(0.0)),
            false => channel.iter_mut().for_each(|v| *v += b),
        }
    }
}

/// `out = sum of the rows of parts`, each element summed from row 0 down.
fn sum_rows_in_order(parts: &Matrix, out: &mut [f32]) {
    out.fill(0.0);
    for row in parts.as_slice().chunks_exact(out.len().max(1)) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_computed_convolution_and_its_gradients() {
        // One 3x3 image, one 2x2 filter [[1, 0], [0, -1]], bias 0.5, no padding.
        let window = SlidingWindow {
            channels: 1,
            height: 3,
            width: 3,
            kernel: 2,
            stride: 1,
            padding: 0,
        };
        let mut conv = Conv2d::new(window, 1, true).unwrap();
        conv.weight_mut()
            .as_mut_slice()
            .copy_from_slice(&[1.0, 0.0, 0.0, -1.0]);
        conv.bias_mut().unwrap()[0] = 0.5;
        let x = Matrix::from_vec(1, 9, (1..=9).map(|v| v as f32).collect()).unwrap();
        // y[i][j] = x[i][j] - x[i+1][j+1] + 0.5 = -4 + 0.5 everywhere.
        assert_eq!(
            conv.forward(x.view(), false).unwrap().as_slice(),
            &[-3.5; 4]
        );
        assert_eq!(conv.forward(x.view(), true).unwrap().as_slice(), &[0.0; 4]);
        conv.forward(x.view(), false).unwrap();
        let dy = Matrix::from_vec(1, 4, vec![1.0, 0.0, 0.0, 2.0]).unwrap();
        let dx = conv.backward(x.view(), dy.view(), true).unwrap().unwrap();
        // dX: +dY at the top-left of each window, -dY at its bottom-right.
        assert_eq!(
            dx.as_slice(),
            &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -2.0]
        );
        // dW[ky][kx] = sum over positions of dY * x[i+ky][j+kx] = x[0+ky][0+kx] + 2 x[1+ky][1+kx].
        assert_eq!(conv.weight_grad().as_slice(), &[11.0, 14.0, 20.0, 23.0]);
        assert_eq!(conv.bias_grad(), &[3.0]);
    }

    #[test]
    fn wrong_shapes_are_errors() {
        let window = SlidingWindow {
            channels: 2,
            height: 5,
            width: 5,
            kernel: 3,
            stride: 1,
            padding: 1,
        };
        let mut conv = Conv2d::new(window, 4, false).unwrap();
        assert!(conv.forward(Matrix::zeros(2, 49).view(), false).is_err());
        let x = Matrix::zeros(2, 50);
        conv.forward(x.view(), false).unwrap();
        assert!(conv
            .backward(x.view(), Matrix::zeros(2, 99).view(), true)
            .is_err());
        // Backward unfolds X again: it needs no state of the forward pass.
        assert!(conv
            .backward(
                Matrix::zeros(3, 50).view(),
                Matrix::zeros(3, 100).view(),
                true
            )
            .is_ok());
        assert!(conv
            .backward(
                Matrix::zeros(3, 51).view(),
                Matrix::zeros(3, 100).view(),
                true
            )
            .is_err());
        assert_eq!(conv.params().iter().flatten().count(), 1);
        assert!(Conv2d::new(
            SlidingWindow {
                kernel: 9,
                ..window
            },
            4,
            true
        )
        .is_err());
    }
}
