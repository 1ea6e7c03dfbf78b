//! Pooling layers, PyTorch's `nn.MaxPool2d` and `nn.AvgPool2d` (no padding):
//! each channel of each image shrinks to the maximum or the mean of every
//! `K x K` window. No parameters; max pooling's gradient goes back to where
//! each maximum came from, found again in backward from `X` and `Y`.
//!
//! Shapes: `X` `[B, C, H, W]`, `Y` `[B, C, OH, OW]` (NCHW rows).

use crate::activation::same_shape;
use crate::{NnError, Result};
use tensor::conv::SlidingWindow;
use tensor::pool::{avg_pool, avg_pool_backward, max_pool, max_pool_backward};
use tensor::{Matrix, MatrixRef};

/// Which statistic of the window a [`Pool2d`] keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// `Y = max of the window`; `dX` gets `dY` at the maximum's place.
    Max,
    /// `Y = mean of the window`; `dX` gets `dY / K^2` at every place.
    Average,
}

/// A max or average pooling layer with its output and input-gradient buffers.
#[derive(Clone, Debug)]
pub struct Pool2d {
    window: SlidingWindow,
    kind: PoolKind,
    output: Matrix,
    input_grad: Matrix,
}

impl Pool2d {
    /// An error if the window does not fit or has padding.
    pub fn new(window: SlidingWindow, kind: PoolKind) -> Result<Pool2d> {
        let padding = if window.padding == 0 {
            Ok(())
        } else {
            Err("pooling takes no padding".to_string())
        };
        padding
            .and_then(|_| window.check())
            .map_err(|problem| NnError::Spec {
                spec: format!("{window:?}"),
                problem,
            })?;
        Ok(Pool2d {
            window,
            kind,
            output: Matrix::zeros(0, window.channels * window.positions()),
            input_grad: Matrix::zeros(0, window.image_len()),
        })
    }

    /// Max or average.
    pub fn kind(&self) -> PoolKind {
        self.kind
    }
    /// The input's `C x H x W`, the window size `K` and its stride.
    pub fn window(&self) -> &SlidingWindow {
        &self.window
    }
    /// `Y` of the last forward pass, `[B, C*OH*OW]`.
    pub fn output(&self) -> &Matrix {
        &self.output
    }
    pub(crate) fn output_mut(&mut self) -> &mut Matrix {
        &mut self.output
    }
    /// `dX` of the last backward pass, `[B, C*H*W]`.
    pub fn input_grad(&self) -> &Matrix {
        &self.input_grad
    }
    pub(crate) fn input_grad_mut(&mut self) -> &mut Matrix {
        &mut self.input_grad
    }

    /// `X` `[B, C*H*W]` to `Y` `[B, C*OH*OW]`.
    pub fn forward(&mut self, input: MatrixRef<'_>) -> Result<&Matrix> {
        let w = self.window;
        if input.cols() != w.image_len() {
            return Err(NnError::InputWidth {
                expected: w.image_len(),
                got: input.cols(),
            });
        }
        self.output.resize(input.rows(), w.channels * w.positions());
        match self.kind {
            PoolKind::Max => max_pool(&w, input.as_slice(), self.output.as_mut_slice())?,
            PoolKind::Average => avg_pool(&w, input.as_slice(), self.output.as_mut_slice())?,
        }
        Ok(&self.output)
    }

    /// `dX` from `dY` (see [`PoolKind`]); `input` must be the `X` of the last
    /// forward pass (max pooling finds its maxima in it again).
    pub fn backward(
        &mut self,
        input: MatrixRef<'_>,
        output_grad: MatrixRef<'_>,
    ) -> Result<&Matrix> {
        let w = self.window;
        same_shape(
            "Pool2d backward X",
            (input.rows(), w.image_len()),
            input.shape(),
        )?;
        same_shape(
            "Pool2d backward dY",
            self.output.shape(),
            output_grad.shape(),
        )?;
        same_shape(
            "Pool2d backward dY",
            (input.rows(), w.channels * w.positions()),
            output_grad.shape(),
        )?;
        self.input_grad.resize(input.rows(), w.image_len());
        let (dy, dx) = (output_grad.as_slice(), self.input_grad.as_mut_slice());
        match self.kind {
            PoolKind::Max => {
                max_pool_backward(&w, input.as_slice(), self.output.as_slice(), dy, dx)?
            }
            PoolKind::Average => avg_pool_backward(&w, dy, dx)?,
        }
        Ok(&self.input_grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_by_two_pools_of_a_hand_made_image() {
        let window = SlidingWindow {
            channels: 1,
            height: 2,
            width: 4,
            kernel: 2,
            stride: 2,
            padding: 0,
        };
        let x = Matrix::from_vec(1, 8, vec![1.0, 5.0, 0.0, -1.0, 3.0, 2.0, -4.0, -2.0]).unwrap();
        let dy = Matrix::from_vec(1, 2, vec![10.0, 20.0]).unwrap();
        let mut max = Pool2d::new(window, PoolKind::Max).unwrap();
        assert_eq!(max.forward(x.view()).unwrap().as_slice(), &[5.0, 0.0]);
        let dx = max.backward(x.view(), dy.view()).unwrap();
        assert_eq!(dx.as_slice(), &[0.0, 10.0, 20.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let mut avg = Pool2d::new(window, PoolKind::Average).unwrap();
        assert_eq!(avg.forward(x.view()).unwrap().as_slice(), &[2.75, -1.75]);
        let dx = avg.backward(x.view(), dy.view()).unwrap();
        assert_eq!(dx.as_slice(), &[2.5, 2.5, 5.0, 5.0, 2.5, 2.5, 5.0, 5.0]);
        assert!(Pool2d::new(
            SlidingWindow {
                padding: 1,
                ..window
            },
            PoolKind::Max
        )
        .is_err());
        assert!(max.forward(Matrix::zeros(1, 7).view()).is_err());
    }
}
