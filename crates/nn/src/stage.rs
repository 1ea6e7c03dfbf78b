//! One stage of a [`crate::Sequential`]: a layer (dense, convolution or
//! pooling), the batch norm and activation that follow it, and its dropout.
//! Grouping them lets the layer's GEMM apply a ReLU in its epilogue, and the
//! activation run in place over the buffer before it, so a stage keeps one
//! output buffer where separate modules would keep three.

use crate::activation::same_shape;
use crate::{Activation, BatchNorm, Conv2d, Dense, Dropout, Pool2d, Result};
use tensor::{Matrix, MatrixMut, MatrixRef};

/// `(name, value, gradient)` of a trainable parameter.
pub type ParamMut<'a> = (&'a str, &'a mut [f32], &'a [f32]);
/// `(name, shape, value)` of a saved tensor.
pub type TensorRef<'a> = (&'a str, &'a [usize], &'a [f32]);
/// `(name, shape, value)` of a saved tensor, writable.
pub(crate) type TensorMut<'a> = (&'a str, &'a [usize], &'a mut [f32]);

/// The layer at the heart of a stage.
#[derive(Clone, Debug)]
pub enum Layer {
    /// `Y = X * W^T + b`, `[B, I] -> [B, O]`.
    Dense(Dense),
    /// A convolution, `[B, C, H, W] -> [B, O, OH, OW]`.
    Conv2d(Conv2d),
    /// Max or average pooling, `[B, C, H, W] -> [B, C, OH, OW]`.
    Pool2d(Pool2d),
}

impl Layer {
    fn forward(&mut self, input: MatrixRef<'_>, fuse_relu: bool) -> Result<()> {
        match self {
            Layer::Dense(dense) => dense.forward(input, fuse_relu).map(drop),
            Layer::Conv2d(conv) => conv.forward(input, fuse_relu).map(drop),
            Layer::Pool2d(pool) => pool.forward(input).map(drop),
        }
    }

    fn backward(
        &mut self,
        input: MatrixRef<'_>,
        output_grad: MatrixRef<'_>,
        want_input_grad: bool,
    ) -> Result<()> {
        match self {
            Layer::Dense(dense) => dense
                .backward(input, output_grad, want_input_grad)
                .map(drop),
            Layer::Conv2d(conv) => conv.backward(input, output_grad, want_input_grad).map(drop),
            // Nothing to learn: only the input gradient, and only if wanted.
            Layer::Pool2d(pool) if want_input_grad => pool.backward(input, output_grad).map(drop),
            Layer::Pool2d(_) => Ok(()),
        }
    }

    /// The layer's output buffer of the last forward pass, `[B, ...]`: with
    /// batch norm in the stage, the layer's own `Y`; without, `Y` after the
    /// stage's activation, which runs in place (or in the GEMM, for ReLU).
    pub fn output(&self) -> &Matrix {
        match self {
            Layer::Dense(dense) => dense.output(),
            Layer::Conv2d(conv) => conv.output(),
            Layer::Pool2d(pool) => pool.output(),
        }
    }

    fn output_mut(&mut self) -> &mut Matrix {
        match self {
            Layer::Dense(dense) => dense.output_mut(),
            Layer::Conv2d(conv) => conv.output_mut(),
            Layer::Pool2d(pool) => pool.output_mut(),
        }
    }

    fn input_grad_mut(&mut self) -> &mut Matrix {
        match self {
            Layer::Dense(dense) => dense.input_grad_mut(),
            Layer::Conv2d(conv) => conv.input_grad_mut(),
            Layer::Pool2d(pool) => pool.input_grad_mut(),
        }
    }

    fn params_mut(&mut self) -> [Option<ParamMut<'_>>; 2] {
        match self {
            Layer::Dense(dense) => dense.params_mut(),
            Layer::Conv2d(conv) => conv.params_mut(),
            Layer::Pool2d(_) => [None, None],
        }
    }

    fn tensors(&self) -> [Option<TensorRef<'_>>; 2] {
        match self {
            Layer::Dense(dense) => dense.params(),
            Layer::Conv2d(conv) => conv.params(),
            Layer::Pool2d(_) => [None, None],
        }
    }

    fn tensors_mut(&mut self) -> [Option<TensorMut<'_>>; 2] {
        match self {
            Layer::Dense(dense) => dense.tensors_mut(),
            Layer::Conv2d(conv) => conv.tensors_mut(),
            Layer::Pool2d(_) => [None, None],
        }
    }
}

/// A layer, then batch norm (optional), the activation, dropout (optional).
#[derive(Clone, Debug)]
pub(crate) struct Stage {
    pub layer: Layer,
    pub norm: Option<BatchNorm>,
    pub activation: Activation,
    pub dropout: Option<Dropout>,
    /// `dL/dZ` of the last stage when its activation is not the identity
    /// (the caller's `dL/dY` is read-only, so it cannot be scaled in place).
    pub pre_activation_grad: Matrix,
}

impl Stage {
    pub fn new(layer: Layer, activation: Activation) -> Stage {
        Stage {
            layer,
            norm: None,
            activation,
            dropout: None,
            pre_activation_grad: Matrix::zeros(0, 0),
        }
    }

    /// The activation's output: after the norm if there is one.
    fn activated(&self) -> &Matrix {
        match &self.norm {
            Some(norm) => norm.output(),
            None => self.layer.output(),
        }
    }

    /// `Y` as the next stage sees it: after dropout in training.
    pub fn output(&self, training: bool) -> &Matrix {
        match &self.dropout {
            Some(dropout) if training => dropout.output(),
            _ => self.activated(),
        }
    }

    pub fn forward(&mut self, input: MatrixRef<'_>, training: bool) -> Result<()> {
        // ReLU rides for free in the pass that writes the values before it:
        // the GEMM's epilogue, or batch norm's normalisation.
        let relu = self.activation == Activation::Relu;
        self.layer.forward(input, relu && self.norm.is_none())?;
        let activated = match &mut self.norm {
            Some(norm) => {
                norm.forward(self.layer.output().view(), training, relu)?;
                norm.output_mut()
            }
            None => self.layer.output_mut(),
        };
        if !relu {
            self.activation.forward_in_place(activated.view_mut());
        }
        if let (Some(dropout), true) = (&mut self.dropout, training) {
            dropout.forward(activated.view())?;
        }
        Ok(())
    }

    /// Back through dropout, activation and norm, with `grad` (`dL/dY`,
    /// scaled in place into `dL/dZ`), then the layer: its parameter
    /// gradients, and its input gradient when `want_input_grad`.
    pub fn backward(
        &mut self,
        input: MatrixRef<'_>,
        mut grad: MatrixMut<'_>,
        training: bool,
        want_input_grad: bool,
    ) -> Result<()> {
        if let (Some(dropout), true) = (&self.dropout, training) {
            dropout.backward_in_place(grad.reborrow())?;
        }
        let relu = self.activation == Activation::Relu;
        let layer_grad = match &mut self.norm {
            // The norm takes `dY` through the ReLU it applied itself.
            Some(norm) => {
                if !relu {
                    self.activation
                        .backward_in_place(norm.output().view(), grad.reborrow())?;
                }
                norm.backward(self.layer.output().view(), grad.view(), relu)?
                    .view()
            }
            None => {
                self.activation
                    .backward_in_place(self.layer.output().view(), grad.reborrow())?;
                grad.view()
            }
        };
        self.layer.backward(input, layer_grad, want_input_grad)
    }

    /// [`Stage::backward`] from the caller's read-only `dL/dY`: used as it
    /// is when nothing comes after the layer, else copied to be scaled.
    pub fn backward_from_output(
        &mut self,
        input: MatrixRef<'_>,
        output_grad: MatrixRef<'_>,
        training: bool,
        want_input_grad: bool,
    ) -> Result<()> {
        if self.activation == Activation::Identity && self.norm.is_none() && self.dropout.is_none()
        {
            same_shape(
                "backward dY",
                self.layer.output().shape(),
                output_grad.shape(),
            )?;
            return self.layer.backward(input, output_grad, want_input_grad);
        }
        let mut grad = std::mem::take(&mut self.pre_activation_grad);
        grad.resize(output_grad.rows(), output_grad.cols());
        grad.as_mut_slice().copy_from_slice(output_grad.as_slice());
        let result = self.backward(input, grad.view_mut(), training, want_input_grad);
        self.pre_activation_grad = grad;
        result
    }

    /// Where the stage before this one finds its `dL/dY`.
    pub fn input_grad_mut(&mut self) -> &mut Matrix {
        self.layer.input_grad_mut()
    }

    /// Trainable parameters: the layer's, then the norm's `gamma`, `beta`.
    pub fn params_mut(&mut self) -> impl Iterator<Item = ParamMut<'_>> {
        let norm = self.norm.as_mut().map(BatchNorm::params_mut);
        self.layer
            .params_mut()
            .into_iter()
            .chain(norm.into_iter().flatten())
            .flatten()
    }

    /// Everything a weights file holds: parameters and the norm's statistics.
    pub fn tensors(&self) -> impl Iterator<Item = TensorRef<'_>> {
        let norm = self.norm.as_ref().map(BatchNorm::tensors);
        self.layer
            .tensors()
            .into_iter()
            .chain(norm.into_iter().flatten())
            .flatten()
    }

    pub fn tensors_mut(&mut self) -> impl Iterator<Item = TensorMut<'_>> {
        let norm = self.norm.as_mut().map(BatchNorm::tensors_mut);
        self.layer
            .tensors_mut()
            .into_iter()
            .chain(norm.into_iter().flatten())
            .flatten()
    }
}
