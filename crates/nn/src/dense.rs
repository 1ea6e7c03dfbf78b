//! The fully connected (affine) layer: `Y = X * W^T + b`.
//!
//! The weight is stored `[O, I]`, as PyTorch's `nn.Linear` stores it, so a
//! saved file loads into PyTorch unchanged. The forward pass is one GEMM with
//! the bias (and, when the model asks, the ReLU) fused into its epilogue; the
//! backward pass is two GEMMs on transposed views, never a copy.

use crate::activation::same_shape;
use crate::stage::{ParamMut, TensorMut, TensorRef};
use crate::{NnError, Result};
use tensor::{gemm, ops, Epilogue, Matrix, MatrixRef};

/// A dense layer with its parameters, their gradients and its own output and
/// input-gradient buffers (resized only when the batch size changes).
#[derive(Clone, Debug)]
pub struct Dense {
    /// `W`, `[O, I]`.
    weight: Matrix,
    /// `b`, `[O]`.
    bias: Vec<f32>,
    /// `dL/dW`, `[O, I]`, overwritten by every backward pass.
    weight_grad: Matrix,
    /// `dL/db`, `[O]`, overwritten by every backward pass.
    bias_grad: Vec<f32>,
    /// `Y`, `[B, O]`.
    output: Matrix,
    /// `dL/dX`, `[B, I]` (left empty when the caller does not need it).
    input_grad: Matrix,
    weight_name: String,
    bias_name: String,
    /// False for a layer followed by batch norm, whose mean removes any
    /// bias: then `b` stays zero and is neither saved nor trained.
    has_bias: bool,
    weight_shape: [usize; 2],
    bias_shape: [usize; 1],
}

impl Dense {
    /// A layer from `inputs` (I) to `outputs` (O) with zero weights and bias;
    /// fill the weights with [`crate::Init`] or [`Dense::weight_mut`].
    /// Its parameters are named `weight` and `bias` until [`Dense::with_names`].
    pub fn new(inputs: usize, outputs: usize) -> Dense {
        Dense {
            weight: Matrix::zeros(outputs, inputs),
            bias: vec![0.0; outputs],
            weight_grad: Matrix::zeros(outputs, inputs),
            bias_grad: vec![0.0; outputs],
            output: Matrix::zeros(0, outputs),
            input_grad: Matrix::zeros(0, inputs),
            weight_name: "weight".into(),
            bias_name: "bias".into(),
            has_bias: true,
            weight_shape: [outputs, inputs],
            bias_shape: [outputs],
        }
    }

    /// Builds a layer from a weight `[O, I]` and a bias `[O]`.
    ///
    /// ```
    /// use nn::Dense;
    /// use tensor::Matrix;
    /// let w = Matrix::from_vec(2, 3, vec![1.0, 0.0, 2.0, 0.0, 1.0, -1.0]).unwrap();
    /// let mut layer = Dense::from_parts(w, vec![0.5, 0.0]).unwrap();
    /// let x = Matrix::from_vec(1, 3, vec![1.0, 2.0, 3.0]).unwrap();
    /// // y0 = 1*1 + 0*2 + 2*3 + 0.5, y1 = 0*1 + 1*2 - 1*3 + 0
    /// assert_eq!(layer.forward(x.view(), false).unwrap().as_slice(), &[7.5, -1.0]);
    /// ```
    pub fn from_parts(weight: Matrix, bias: Vec<f32>) -> Result<Dense> {
        if bias.len() != weight.rows() {
            return Err(tensor::ShapeError::VectorLength {
                op: "Dense bias",
                expected: weight.rows(),
                len: bias.len(),
            }
            .into());
        }
        let mut layer = Dense::new(weight.cols(), weight.rows());
        layer.weight = weight;
        layer.bias = bias;
        Ok(layer)
    }

    /// Drops the bias (PyTorch's `bias=False`), for a layer followed by
    /// batch norm.
    pub fn without_bias(mut self) -> Dense {
        self.has_bias = false;
        self.bias.fill(0.0);
        self
    }

    /// Names the parameters `{prefix}.weight` and `{prefix}.bias`.
    pub fn with_names(mut self, prefix: &str) -> Dense {
        self.weight_name = format!("{prefix}.weight");
        self.bias_name = format!("{prefix}.bias");
        self
    }

    /// `I`.
    pub fn inputs(&self) -> usize {
        self.weight.cols()
    }
    /// `O`.
    pub fn outputs(&self) -> usize {
        self.weight.rows()
    }
    /// `W`, `[O, I]`: row `o` holds output `o`'s weights (PyTorch's layout).
    pub fn weight(&self) -> &Matrix {
        &self.weight
    }
    /// `W`, to set (initialisation, loading, tests).
    pub fn weight_mut(&mut self) -> &mut Matrix {
        &mut self.weight
    }
    /// `b`, `[O]`.
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }
    /// `b`, to set.
    pub fn bias_mut(&mut self) -> &mut [f32] {
        &mut self.bias
    }
    /// `dL/dW = dY^T * X`, `[O, I]`, from the last backward pass.
    pub fn weight_grad(&self) -> &Matrix {
        &self.weight_grad
    }
    /// `dL/db`, the column sums of `dY`, `[O]`, from the last backward pass.
    pub fn bias_grad(&self) -> &[f32] {
        &self.bias_grad
    }
    /// `Y` of the last forward pass.
    pub fn output(&self) -> &Matrix {
        &self.output
    }
    /// `dX` of the last backward pass that asked for it.
    pub fn input_grad(&self) -> &Matrix {
        &self.input_grad
    }
    pub(crate) fn output_mut(&mut self) -> &mut Matrix {
        &mut self.output
    }
    pub(crate) fn input_grad_mut(&mut self) -> &mut Matrix {
        &mut self.input_grad
    }

    /// `(name, shape, value)` of the weight, then of the bias if any.
    pub fn params(&self) -> [Option<TensorRef<'_>>; 2] {
        [
            Some((
                &self.weight_name,
                &self.weight_shape,
                self.weight.as_slice(),
            )),
            self.has_bias
                .then_some((&self.bias_name, &self.bias_shape[..], &self.bias[..])),
        ]
    }

    /// `(name, value, gradient)` of the weight, then of the bias if any.
    pub fn params_mut(&mut self) -> [Option<ParamMut<'_>>; 2] {
        let bias = (&self.bias_name, &mut self.bias, &self.bias_grad);
        [
            Some((
                &self.weight_name,
                self.weight.as_mut_slice(),
                self.weight_grad.as_slice(),
            )),
            self.has_bias
                .then_some((bias.0.as_str(), &mut bias.1[..], &bias.2[..])),
        ]
    }

    /// `(name, shape, value)` of the weight, then of the bias if any,
    /// writable (for loading).
    pub(crate) fn tensors_mut(&mut self) -> [Option<TensorMut<'_>>; 2] {
        let bias = (&self.bias_name, &self.bias_shape, &mut self.bias);
        [
            Some((
                &self.weight_name,
                &self.weight_shape,
                self.weight.as_mut_slice(),
            )),
            self.has_bias
                .then_some((bias.0.as_str(), &bias.1[..], &mut bias.2[..])),
        ]
    }

    /// `Y = X * W^T + b` (one GEMM; with `fuse_relu`, `Y = max(0, X * W^T + b)`
    /// in the same pass). `X` is `[B, I]`, `Y` is `[B, O]`.
    pub fn forward(&mut self, input: MatrixRef<'_>, fuse_relu: bool) -> Result<&Matrix> {
        if input.cols() != self.inputs() {
            return Err(NnError::InputWidth {
                expected: self.inputs(),
                got: input.cols(),
            });
        }
        self.output.resize(input.rows(), self.outputs());
        let epilogue = if fuse_relu {
            Epilogue::BiasRelu(&self.bias)
        } else {
            Epilogue::Bias(&self.bias)
        };
        gemm(
            1.0,
            input,
            self.weight.t(),
            0.0,
            self.output.view_mut(),
            epilogue,
        )?;
        Ok(&self.output)
    }

    /// dW = dY^T * X, db = column sums of dY, dX = dY * W.
    ///
    /// Gradients are overwritten, not accumulated, so no `zero_grad` is
    /// needed. `dX` is computed only when `want_input_grad` (the first layer
    /// of a model skips it: nobody needs the gradient of the data, and it
    /// costs as much as the forward GEMM).
    pub fn backward(
        &mut self,
        input: MatrixRef<'_>,
        output_grad: MatrixRef<'_>,
        want_input_grad: bool,
    ) -> Result<Option<&Matrix>> {
        same_shape(
            "Dense backward X",
            (output_grad.rows(), self.inputs()),
            input.shape(),
        )?;
        same_shape(
            "Dense backward dY",
            (input.rows(), self.outputs()),
            output_grad.shape(),
        )?;
        gemm(
            1.0,
            output_grad.t(),
            input,
            0.0,
            self.weight_grad.view_mut(),
            Epilogue::None,
        )?;
        if self.has_bias {
            ops::column_sums(output_grad, &mut self.bias_grad)?;
        }
        if !want_input_grad {
            return Ok(None);
        }
        self.input_grad.resize(input.rows(), self.inputs());
        gemm(
            1.0,
            output_grad,
            &self.weight,
            0.0,
            self.input_grad.view_mut(),
            Epilogue::None,
        )?;
        Ok(Some(&self.input_grad))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_and_backward_match_hand_values() {
        // W = [[1, 2], [3, 4], [5, 6]] (O = 3, I = 2), b = [1, 0, -1].
        let w = Matrix::from_vec(3, 2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let mut layer = Dense::from_parts(w, vec![1.0, 0.0, -1.0]).unwrap();
        let x = Matrix::from_vec(2, 2, vec![1.0, 1.0, -1.0, 0.0]).unwrap();
        let y = layer.forward(x.view(), false).unwrap();
        assert_eq!(y.as_slice(), &[4.0, 7.0, 10.0, 0.0, -3.0, -6.0]);
        let y = layer.forward(x.view(), true).unwrap();
        assert_eq!(y.as_slice(), &[4.0, 7.0, 10.0, 0.0, 0.0, 0.0]);

        let dy = Matrix::from_vec(2, 3, vec![1.0, 0.0, 0.0, 0.0, 1.0, 2.0]).unwrap();
        let dx = layer
            .backward(x.view(), dy.view(), true)
            .unwrap()
            .unwrap()
            .clone();
        // dX row 0 = W row 0 = [1, 2]; row 1 = W row 1 + 2 W row 2 = [13, 16].
        assert_eq!(dx.as_slice(), &[1.0, 2.0, 13.0, 16.0]);
        // dW = dY^T X: row o = sum_b dY[b][o] X[b].
        assert_eq!(
            layer.weight_grad().as_slice(),
            &[1.0, 1.0, -1.0, 0.0, -2.0, 0.0]
        );
        assert_eq!(layer.bias_grad(), &[1.0, 1.0, 2.0]);
    }

    #[test]
    fn wrong_shapes_are_errors() {
        let mut layer = Dense::new(3, 2);
        let x = Matrix::zeros(4, 5);
        assert!(matches!(
            layer.forward(x.view(), false),
            Err(NnError::InputWidth {
                expected: 3,
                got: 5
            })
        ));
        let x = Matrix::zeros(4, 3);
        let dy = Matrix::zeros(3, 2);
        assert!(layer.backward(x.view(), dy.view(), true).is_err());
        assert!(Dense::from_parts(Matrix::zeros(2, 3), vec![0.0; 3]).is_err());
    }

    #[test]
    fn skipping_the_input_gradient_leaves_it_untouched() {
        let mut layer = Dense::new(2, 2);
        let x = Matrix::filled(3, 2, 1.0);
        let dy = Matrix::filled(3, 2, 1.0);
        assert!(layer
            .backward(x.view(), dy.view(), false)
            .unwrap()
            .is_none());
        assert_eq!(layer.input_grad().shape(), (0, 2));
        assert_eq!(layer.bias_grad(), &[3.0, 3.0]);
    }
}
