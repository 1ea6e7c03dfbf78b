//! A sequential multilayer perceptron: dense layers, each followed by its
//! activation and (in hidden layers, when asked) dropout.
//!
//! One training step, with no allocation once the batch size is steady:
//!
//! ```text
//! logits = model.forward(X)                  // [B, O], X borrowed, never copied
//! loss   = softmax_cross_entropy(logits, Y, &mut dlogits)
//! model.backward(X, dlogits)                 // the same X: it is dW's right operand
//! for (name, w, dw) in model.params_mut() { /* optimizer */ }
//! ```

use crate::safetensors::{self, TensorFile};
use crate::{Activation, Dense, Dropout, Init, ModelSpec, NnError, Result};
use rand::{rngs::StdRng, RngCore, SeedableRng};
use std::collections::BTreeMap;
use std::path::Path;
use tensor::{Matrix, MatrixRef};

/// Rows per forward pass in [`Sequential::predict`] and
/// [`Sequential::predict_proba`], so a 60 000-row input needs no 60 000-row buffers.
pub const PREDICT_BATCH: usize = 1000;

/// The metadata key holding the architecture line in a weights file.
pub const ARCHITECTURE_KEY: &str = "architecture";

/// A stack of [`Dense`] layers built from a [`ModelSpec`].
///
/// Parameters are named as PyTorch names those of
/// `nn.Sequential(Linear, act, [Dropout], Linear, ...)` held in an attribute
/// called `layers`: `layers.0.weight` `[O, I]`, `layers.0.bias` `[O]`, then
/// `layers.2.*` (or `layers.3.*` with dropout), see [`ModelSpec::torch_index`].
///
/// ```
/// use nn::{softmax_cross_entropy, Init, ModelSpec, Sequential, Targets};
/// use tensor::Matrix;
/// let spec = ModelSpec::parse("4-8-3 hidden=tanh").unwrap();
/// let mut model = Sequential::new(&spec, Init::XavierNormal, 1).unwrap();
/// let names: Vec<&str> = model.params().map(|(name, _, _)| name).collect();
/// assert_eq!(names, ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]);
///
/// let x = Matrix::from_fn(5, 4, |r, c| (r + c) as f32 * 0.1);
/// let labels = [0usize, 0, 1, 2, 2];
/// let mut dlogits = Matrix::zeros(0, 0);
/// let mut losses = Vec::new();
/// for _ in 0..50 {
///     let logits = model.forward(x.view()).unwrap();
///     losses.push(softmax_cross_entropy(logits.view(), Targets::Classes(&labels), &mut dlogits).unwrap());
///     model.backward(x.view(), dlogits.view()).unwrap();
///     for (_, w, dw) in model.params_mut() {
///         w.iter_mut().zip(dw).for_each(|(w, g)| *w -= 0.5 * g); // plain SGD
///     }
/// }
/// assert!(losses[49] < 0.8 * losses[0]);
/// ```
#[derive(Clone, Debug)]
pub struct Sequential {
    spec: ModelSpec,
    blocks: Vec<Block>,
    training: bool,
    /// Rows and mode of the last forward pass, which backward must match.
    last_forward: Option<(usize, bool)>,
}

/// One dense layer with what follows it.
#[derive(Clone, Debug)]
struct Block {
    dense: Dense,
    activation: Activation,
    dropout: Option<Dropout>,
    /// `dL/dZ` of the last layer when its activation is not the identity
    /// (the caller's `dL/dY` is read-only, so it cannot be scaled in place).
    pre_activation_grad: Matrix,
}

impl Block {
    /// `Y` as the next layer sees it: after dropout in training.
    fn output(&self, training: bool) -> &Matrix {
        match &self.dropout {
            Some(dropout) if training => dropout.output(),
            _ => self.dense.output(),
        }
    }

    fn forward(&mut self, input: MatrixRef<'_>, training: bool) -> Result<()> {
        // ReLU rides in the GEMM epilogue for free; others take one pass.
        let fuse_relu = self.activation == Activation::Relu;
        self.dense.forward(input, fuse_relu)?;
        if !fuse_relu {
            self.activation
                .forward_in_place(self.dense.output_mut().view_mut());
        }
        if let (Some(dropout), true) = (&mut self.dropout, training) {
            dropout.forward(self.dense.output().view())?;
        }
        Ok(())
    }
}

impl Sequential {
    /// Builds the model with weights drawn by `init` from an RNG seeded with
    /// `seed` (biases zero); the same spec, init and seed give the same
    /// weights every time. Dropout layers get seeds drawn from the same RNG.
    /// The model starts in training mode.
    pub fn new(spec: &ModelSpec, init: Init, seed: u64) -> Result<Sequential> {
        // Re-validate: the fields are public, so the spec may not come from parse.
        let spec = ModelSpec::parse(&spec.to_string())?;
        let mut rng = StdRng::seed_from_u64(seed);
        let depth = spec.depth();
        let mut blocks = Vec::with_capacity(depth);
        for k in 0..depth {
            let (inputs, outputs) = (spec.sizes[k], spec.sizes[k + 1]);
            let mut dense =
                Dense::new(inputs, outputs).with_names(&format!("layers.{}", spec.torch_index(k)));
            init.fill(dense.weight_mut().as_mut_slice(), inputs, outputs, &mut rng);
            let is_last = k + 1 == depth;
            blocks.push(Block {
                dense,
                activation: if is_last { spec.output } else { spec.hidden },
                dropout: None,
                pre_activation_grad: Matrix::zeros(0, 0),
            });
        }
        if spec.dropout > 0.0 {
            for block in &mut blocks[..depth - 1] {
                block.dropout = Some(Dropout::new(spec.dropout, rng.next_u64())?);
            }
        }
        Ok(Sequential {
            spec,
            blocks,
            training: true,
            last_forward: None,
        })
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Dense layer `k` (0-based, counting dense layers only).
    pub fn dense(&self, k: usize) -> Option<&Dense> {
        self.blocks.get(k).map(|b| &b.dense)
    }

    /// Dense layer `k`, writable (to set weights by hand).
    pub fn dense_mut(&mut self, k: usize) -> Option<&mut Dense> {
        self.blocks.get_mut(k).map(|b| &mut b.dense)
    }

    /// The dropout after dense layer `k`, if there is one (its mask is that
    /// of the last training forward pass).
    pub fn dropout(&self, k: usize) -> Option<&Dropout> {
        self.blocks.get(k).and_then(|b| b.dropout.as_ref())
    }

    /// Reseeds every dropout layer: layer `k` from `seed + k` (wrapping), so
    /// layers draw different masks. See [`Dropout::reseed`].
    pub fn reseed_dropout(&mut self, seed: u64) {
        for (k, block) in self.blocks.iter_mut().enumerate() {
            if let Some(dropout) = &mut block.dropout {
                dropout.reseed(seed.wrapping_add(k as u64));
            }
        }
    }

    /// Training mode: dropout active. Evaluation mode: dropout is the identity.
    pub fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    pub fn is_training(&self) -> bool {
        self.training
    }

    /// `(name, shape, value)` of every parameter, in layer order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &[usize], &[f32])> + '_ {
        self.blocks.iter().flat_map(|b| b.dense.params())
    }

    /// `(name, value, gradient)` of every parameter, for an optimizer.
    /// Gradients are those of the last [`Sequential::backward`]; backward
    /// overwrites them, so there is no `zero_grad`.
    pub fn params_mut(&mut self) -> impl Iterator<Item = (&str, &mut [f32], &[f32])> + '_ {
        self.blocks.iter_mut().flat_map(|b| b.dense.params_mut())
    }

    /// Number of trainable values.
    pub fn parameter_count(&self) -> usize {
        self.params().map(|(_, _, v)| v.len()).sum()
    }

    /// The forward pass: `X` `[B, I]` to the output `[B, O]` (logits when the
    /// output activation is the identity).
    pub fn forward(&mut self, input: MatrixRef<'_>) -> Result<&Matrix> {
        if input.cols() != self.spec.inputs() {
            return Err(NnError::InputWidth {
                expected: self.spec.inputs(),
                got: input.cols(),
            });
        }
        let training = self.training;
        self.last_forward = None;
        for k in 0..self.blocks.len() {
            let (done, rest) = self.blocks.split_at_mut(k);
            let x = match done.last() {
                Some(previous) => previous.output(training).view(),
                None => input,
            };
            rest[0].forward(x, training)?;
        }
        self.last_forward = Some((input.rows(), training));
        Ok(self.blocks[self.blocks.len() - 1].output(training))
    }

    /// The backward pass from `dL/dY` of the output, `[B, O]`, filling every
    /// parameter gradient. `input` must be the `X` of the last forward pass
    /// (it is borrowed again rather than copied). The gradient of the input
    /// itself is never computed: nobody needs it, and it costs a GEMM.
    pub fn backward(&mut self, input: MatrixRef<'_>, output_grad: MatrixRef<'_>) -> Result<()> {
        let training = self.training;
        match self.last_forward {
            Some((rows, mode)) if rows == input.rows() && mode == training => {}
            Some((rows, mode)) => {
                return Err(NnError::NoForward {
                    problem: format!(
                        "forward saw {rows} rows in {} mode, backward got {} rows in {} mode",
                        mode_name(mode),
                        input.rows(),
                        mode_name(training)
                    ),
                })
            }
            None => {
                return Err(NnError::NoForward {
                    problem: "no forward pass since the model was built or last failed".into(),
                })
            }
        }
        let last = self.blocks.len() - 1;
        for k in (0..=last).rev() {
            let (upto, after) = self.blocks.split_at_mut(k + 1);
            let (before, current) = upto.split_at_mut(k);
            let block = &mut current[0];
            let x = match before.last() {
                Some(previous) => previous.output(training).view(),
                None => input,
            };
            let y = block.dense.output().view();
            // dL/dZ (Z = the dense output before its activation).
            let pre_activation_grad = if let Some(next) = after.first_mut() {
                // Our output gradient is the next layer's input gradient,
                // ours to scale in place.
                let grad = next.dense.input_grad_mut();
                if let (Some(dropout), true) = (&block.dropout, training) {
                    dropout.backward_in_place(grad.view_mut())?;
                }
                block.activation.backward_in_place(y, grad.view_mut())?;
                grad.view()
            } else if block.activation == Activation::Identity {
                crate::activation::same_shape("backward dY", y.shape(), output_grad.shape())?;
                output_grad
            } else {
                let grad = &mut block.pre_activation_grad;
                grad.resize(y.rows(), y.cols());
                block.activation.backward(y, output_grad, grad.view_mut())?;
                grad.view()
            };
            block.dense.backward(x, pre_activation_grad, k > 0)?;
        }
        Ok(())
    }

    /// Class probabilities `[N, O]` in evaluation mode, `PREDICT_BATCH` rows
    /// at a time: the softmax of the logits when the output activation is the
    /// identity, otherwise the output activation's values.
    pub fn predict_proba(&mut self, input: MatrixRef<'_>) -> Result<Matrix> {
        let mut out = Matrix::zeros(input.rows(), self.spec.outputs());
        self.in_eval_mode(input, |start, y| {
            let cols = y.cols();
            out.as_mut_slice()[start * cols..start * cols + y.len()].copy_from_slice(y.as_slice());
        })?;
        if self.spec.output == Activation::Identity {
            tensor::ops::softmax_rows(out.view_mut());
        }
        Ok(out)
    }

    /// The most likely class of every row (argmax of the output), in
    /// evaluation mode, `PREDICT_BATCH` rows at a time.
    pub fn predict(&mut self, input: MatrixRef<'_>) -> Result<Vec<usize>> {
        let mut classes = vec![0; input.rows()];
        self.in_eval_mode(input, |start, y| {
            let rows = start..start + y.rows();
            // Lengths agree by construction.
            let _ = tensor::ops::row_argmax(y.view(), &mut classes[rows]);
        })?;
        Ok(classes)
    }

    /// Runs the forward pass over `input` in chunks, in evaluation mode, and
    /// hands each chunk's output to `visit(first_row, output)`; restores the
    /// mode afterwards, also on error.
    fn in_eval_mode(
        &mut self,
        input: MatrixRef<'_>,
        mut visit: impl FnMut(usize, &Matrix),
    ) -> Result<()> {
        let was_training = self.training;
        self.training = false;
        let mut result = Ok(());
        if input.cols() != self.spec.inputs() {
            result = Err(NnError::InputWidth {
                expected: self.spec.inputs(),
                got: input.cols(),
            });
        }
        let mut start = 0;
        while result.is_ok() && start < input.rows() {
            let end = (start + PREDICT_BATCH).min(input.rows());
            match self.forward(input.rows_range(start..end)) {
                Ok(y) => visit(start, y),
                Err(e) => result = Err(e),
            }
            start = end;
        }
        self.training = was_training;
        self.last_forward = None;
        result
    }

    /// The metadata stored with the weights: the architecture line.
    pub fn metadata(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (ARCHITECTURE_KEY.to_string(), self.spec.to_string()),
            ("format".to_string(), "nn.Sequential".to_string()),
        ])
    }

    /// Writes the weights as safetensors (atomically: temp file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        safetensors::write_tensors(path, self.params(), &self.metadata())
    }

    /// Builds a model from a weights file, using the architecture in its
    /// metadata; every name, dtype and shape is checked. Dropout layers (if
    /// any) are seeded with `0`: their state is not part of the weights.
    pub fn load(path: &Path) -> Result<Sequential> {
        Sequential::from_tensor_file(&safetensors::read_tensors(path)?, path, false)
    }

    /// [`Sequential::load`] for a file already read (`path` only names it in
    /// errors), so a caller that reads the metadata first need not read the
    /// file twice. With `allow_extra`, tensors that are not parameters (a
    /// trainer checkpoint's optimizer state) are ignored.
    pub fn from_tensor_file(
        file: &TensorFile,
        path: &Path,
        allow_extra: bool,
    ) -> Result<Sequential> {
        let Some(architecture) = file.metadata.get(ARCHITECTURE_KEY) else {
            return Err(NnError::Format {
                path: path.to_path_buf(),
                problem: format!(
                    "no {ARCHITECTURE_KEY:?} in __metadata__; build the model from its spec \
                     and use load_weights"
                ),
            });
        };
        let spec = ModelSpec::parse(architecture).map_err(|e| NnError::Format {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })?;
        let mut model = Sequential::new(&spec, Init::HeNormal, 0)?;
        model.assign_params(file, path, allow_extra)?;
        Ok(model)
    }

    /// Loads weights into this model. If the file names an architecture it
    /// must be this one; then every name, dtype and shape is checked.
    pub fn load_weights(&mut self, path: &Path) -> Result<()> {
        let file = safetensors::read_tensors(path)?;
        if let Some(architecture) = file.metadata.get(ARCHITECTURE_KEY) {
            let same = ModelSpec::parse(architecture).is_ok_and(|spec| spec == self.spec);
            if !same {
                return Err(NnError::ArchitectureMismatch {
                    path: path.to_path_buf(),
                    found: architecture.clone(),
                    expected: self.spec.to_string(),
                });
            }
        }
        self.assign_params(&file, path, false)
    }

    /// Copies this model's parameters out of `file` (read from `path`, named in
    /// errors): every parameter must be present with its exact shape. With
    /// `allow_extra`, other tensors (an optimizer's state in a checkpoint)
    /// are ignored; without it they are an error. Nothing is changed on error.
    pub fn assign_params(
        &mut self,
        file: &TensorFile,
        path: &Path,
        allow_extra: bool,
    ) -> Result<()> {
        for (name, shape, _) in self.params() {
            let tensor = file.get(name).ok_or_else(|| NnError::MissingTensor {
                path: path.to_path_buf(),
                name: name.to_string(),
            })?;
            if tensor.shape != shape {
                return Err(NnError::WrongShape {
                    path: path.to_path_buf(),
                    name: name.to_string(),
                    expected: shape.to_vec(),
                    found: tensor.shape.clone(),
                });
            }
        }
        if !allow_extra {
            for tensor in &file.tensors {
                if !self.params().any(|(name, _, _)| name == tensor.name) {
                    return Err(NnError::UnexpectedTensor {
                        path: path.to_path_buf(),
                        name: tensor.name.clone(),
                    });
                }
            }
        }
        for block in &mut self.blocks {
            for (name, value, _) in block.dense.params_mut() {
                if let Some(tensor) = file.get(name) {
                    value.copy_from_slice(&tensor.data);
                }
            }
        }
        self.last_forward = None;
        Ok(())
    }
}

fn mode_name(training: bool) -> &'static str {
    if training {
        "training"
    } else {
        "evaluation"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_spec_init_and_seed_give_the_same_weights() {
        let spec = ModelSpec::parse("6-5-4-3 dropout=0.2").unwrap();
        let a = Sequential::new(&spec, Init::HeUniform, 11).unwrap();
        let b = Sequential::new(&spec, Init::HeUniform, 11).unwrap();
        let c = Sequential::new(&spec, Init::HeUniform, 12).unwrap();
        let values = |m: &Sequential| m.params().flat_map(|p| p.2.to_vec()).collect::<Vec<_>>();
        assert_eq!(values(&a), values(&b));
        assert_ne!(values(&a), values(&c));
        let names: Vec<&str> = a.params().map(|p| p.0).collect();
        assert_eq!(
            names,
            [
                "layers.0.weight",
                "layers.0.bias",
                "layers.3.weight",
                "layers.3.bias",
                "layers.6.weight",
                "layers.6.bias"
            ]
        );
        let shapes: Vec<&[usize]> = a.params().map(|p| p.1).collect();
        assert_eq!(shapes, [&[5, 6][..], &[5], &[4, 5], &[4], &[3, 4], &[3]]);
        assert_eq!(a.parameter_count(), 5 * 6 + 5 + 4 * 5 + 4 + 3 * 4 + 3);
        assert!(a
            .params()
            .filter(|p| p.0.ends_with("bias"))
            .all(|p| p.2.iter().all(|&b| b == 0.0)));
    }

    #[test]
    fn backward_without_matching_forward_is_an_error() {
        let spec = ModelSpec::parse("3-2").unwrap();
        let mut model = Sequential::new(&spec, Init::HeNormal, 0).unwrap();
        let x = Matrix::zeros(4, 3);
        let dy = Matrix::zeros(4, 2);
        assert!(matches!(
            model.backward(x.view(), dy.view()),
            Err(NnError::NoForward { .. })
        ));
        model.forward(x.view()).unwrap();
        let x5 = Matrix::zeros(5, 3);
        assert!(matches!(
            model.backward(x5.view(), dy.view()),
            Err(NnError::NoForward { .. })
        ));
        let dy_wrong = Matrix::zeros(4, 3);
        assert!(model.backward(x.view(), dy_wrong.view()).is_err());
        assert!(matches!(
            model.forward(Matrix::zeros(1, 4).view()),
            Err(NnError::InputWidth {
                expected: 3,
                got: 4
            })
        ));
    }

    #[test]
    fn dropout_is_active_in_training_only_and_predict_restores_the_mode() {
        let spec = ModelSpec::parse("10-50-2 dropout=0.5").unwrap();
        let mut model = Sequential::new(&spec, Init::HeNormal, 3).unwrap();
        let x = Matrix::from_fn(4, 10, |r, c| (r * 10 + c) as f32 * 0.01);
        model.set_training(false);
        let eval_a = model.forward(x.view()).unwrap().clone();
        let eval_b = model.forward(x.view()).unwrap().clone();
        assert_eq!(eval_a, eval_b, "evaluation is deterministic");
        model.set_training(true);
        let train = model.forward(x.view()).unwrap().clone();
        assert_ne!(train, eval_a, "training drops units");
        model.reseed_dropout(8);
        let replay_a = model.forward(x.view()).unwrap().clone();
        model.reseed_dropout(8);
        assert_eq!(&replay_a, model.forward(x.view()).unwrap());
        let classes = model.predict(x.view()).unwrap();
        assert!(model.is_training());
        let mut want = vec![0; 4];
        tensor::ops::row_argmax(eval_a.view(), &mut want).unwrap();
        assert_eq!(classes, want);
    }

    #[test]
    fn predict_chunks_agree_with_one_big_forward() {
        let spec = ModelSpec::parse("3-4-5 hidden=sigmoid").unwrap();
        let mut model = Sequential::new(&spec, Init::XavierUniform, 5).unwrap();
        let rows = PREDICT_BATCH * 2 + 37;
        let x = Matrix::from_fn(rows, 3, |r, c| ((r * 3 + c) as f32 * 0.013).sin());
        let mut whole = model.forward(x.view()).unwrap().clone();
        tensor::ops::softmax_rows(whole.view_mut());
        let proba = model.predict_proba(x.view()).unwrap();
        assert_eq!(proba.shape(), (rows, 5));
        for (a, b) in proba.as_slice().iter().zip(whole.as_slice()) {
            assert!((a - b).abs() < 1e-6);
        }
        for r in 0..rows {
            let sum: f32 = proba.row(r).iter().sum();
            assert!((sum - 1.0).abs() < 1e-5);
        }
        let classes = model.predict(x.view()).unwrap();
        let mut want = vec![0; rows];
        tensor::ops::row_argmax(proba.view(), &mut want).unwrap();
        assert_eq!(classes, want);
        assert!(model.predict(Matrix::zeros(2, 4).view()).is_err());
    }
}
