//! A sequential network: stages of dense, convolution and pooling layers,
//! each followed by its batch norm, activation and dropout (see
//! [`crate::ModelSpec`] for how a spec names them).
//!
//! One training step, with no allocation once the batch size is steady:
//!
//! ```text
//! logits = model.forward(X)                  // [B, O], X borrowed, never copied
//! loss   = softmax_cross_entropy(logits, Y, &mut dlogits)
//! model.backward(X, dlogits)                 // the same X: it is dW's right operand
//! optimizer.step_iter(&mut model.params_mut().map(Param::from))  // optim, no Vec
//! ```

use crate::spec::{window_of, LayerSpec};
use crate::stage::{Layer, ParamMut, Stage, TensorRef};
use crate::{
    Activation, BatchNorm, Conv2d, Dense, Dropout, Init, ModelSpec, NnError, Pool2d, PoolKind,
    Result,
};
use rand::{rngs::StdRng, RngCore, SeedableRng};
use tensor::{Matrix, MatrixRef};

/// Rows per forward pass at most in [`Sequential::predict`] and
/// [`Sequential::predict_proba`], so a 60 000-row input needs no 60 000-row
/// buffers (convolutional networks take fewer, see [`Sequential::predict_rows`]).
pub const PREDICT_BATCH: usize = 1000;

/// Activation values that one prediction chunk may keep: 4 M, 16 MB.
const PREDICT_SCRATCH_VALUES: usize = 4 << 20;

/// The metadata key holding the architecture line in a weights file.
pub const ARCHITECTURE_KEY: &str = "architecture";

/// A network built from a [`ModelSpec`]: a multilayer perceptron or a
/// convolutional network.
///
/// Parameters are named as PyTorch names those of the equivalent
/// `nn.Sequential` held in an attribute called `layers`: `layers.0.weight`
/// (`[O, I]` for a dense layer, `[O, C, K, K]` for a convolution),
/// `layers.0.bias`, batch norm's `layers.N.running_mean` and so on, each
/// module numbered as `nn.Sequential` numbers it ([`ModelSpec::placed`]).
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
    stages: Vec<Stage>,
    training: bool,
    /// Rows and mode of the last forward pass, which backward must match.
    last_forward: Option<(usize, bool)>,
    /// Copies that run chunks of a prediction on the other threads (see
    /// [`Sequential::chunks_on_threads`]), kept with their buffers from one
    /// prediction to the next; their weights are copied in each time.
    eval_copies: Vec<Sequential>,
}

impl Sequential {
    /// Builds the model with weights drawn by `init` from an RNG seeded with
    /// `seed` (biases zero, batch norm's scale one); the same spec, init and
    /// seed give the same weights every time. Dropout layers get seeds drawn
    /// from the same RNG after the weights. The model starts in training mode.
    pub fn new(spec: &ModelSpec, init: Init, seed: u64) -> Result<Sequential> {
        // Re-validate: the fields are public, so the spec may not come from parse.
        let spec = ModelSpec::parse(&spec.to_string())?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut stages: Vec<Stage> = Vec::new();
        let mut dropout_rates = Vec::new();
        let name = |index: usize| format!("layers.{index}");
        for placed in spec.placed() {
            let (input, output, index) = (placed.input, placed.output, placed.torch_index);
            let (layer, batch_norm) = match placed.layer {
                LayerSpec::Conv {
                    filters,
                    kernel,
                    batch_norm,
                    ..
                } => {
                    let window =
                        window_of(&placed.layer, input).expect("a convolution has a window");
                    let mut conv =
                        Conv2d::new(window, filters, !batch_norm)?.with_names(&name(index));
                    let (fan_in, fan_out) = (window.patch_len(), filters * kernel * kernel);
                    init.fill(conv.weight_mut().as_mut_slice(), fan_in, fan_out, &mut rng);
                    (Layer::Conv2d(conv), batch_norm)
                }
                LayerSpec::MaxPool { .. } | LayerSpec::AvgPool { .. } => {
                    let window = window_of(&placed.layer, input).expect("a pooling has a window");
                    let kind = match placed.layer {
                        LayerSpec::MaxPool { .. } => PoolKind::Max,
                        _ => PoolKind::Average,
                    };
                    stages.push(Stage::new(
                        Layer::Pool2d(Pool2d::new(window, kind)?),
                        Activation::Identity,
                    ));
                    continue;
                }
                LayerSpec::Dense { units, batch_norm } => {
                    let dense = dense_layer(input.len(), units, &name(index), init, &mut rng);
                    let dense = if batch_norm {
                        dense.without_bias()
                    } else {
                        dense
                    };
                    (Layer::Dense(dense), batch_norm)
                }
                LayerSpec::Dropout(rate) => {
                    dropout_rates.push((stages.len() - 1, rate));
                    continue;
                }
            };
            let mut stage = Stage::new(layer, spec.hidden);
            if batch_norm {
                let spatial = output.height * output.width;
                stage.norm =
                    Some(BatchNorm::new(output.channels, spatial).with_names(&name(index + 1)));
            }
            stages.push(stage);
        }
        let last = dense_layer(
            spec.last_hidden_shape().len(),
            spec.outputs,
            &name(spec.output_torch_index()),
            init,
            &mut rng,
        );
        stages.push(Stage::new(Layer::Dense(last), spec.output));
        for (stage, rate) in dropout_rates {
            stages[stage].dropout = Some(Dropout::new(rate, rng.next_u64())?);
        }
        Ok(Sequential {
            spec,
            stages,
            training: true,
            last_forward: None,
            eval_copies: Vec::new(),
        })
    }

    /// The architecture the model was built from; `to_string()` gives the
    /// spec text saved in weight files' metadata.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The stages' layers, in order.
    pub fn layers(&self) -> impl Iterator<Item = &Layer> + '_ {
        self.stages.iter().map(|s| &s.layer)
    }

    /// Dense layer `k` (0-based, counting dense layers only).
    pub fn dense(&self, k: usize) -> Option<&Dense> {
        self.dense_stage(k).map(|s| match &self.stages[s].layer {
            Layer::Dense(dense) => dense,
            _ => unreachable!("dense_stage finds dense layers"),
        })
    }

    /// Dense layer `k`, writable (to set weights by hand).
    pub fn dense_mut(&mut self, k: usize) -> Option<&mut Dense> {
        let s = self.dense_stage(k)?;
        match &mut self.stages[s].layer {
            Layer::Dense(dense) => Some(dense),
            _ => None,
        }
    }

    /// Convolution `k` (0-based, counting convolutions only).
    pub fn conv(&self, k: usize) -> Option<&Conv2d> {
        self.layers()
            .filter_map(|layer| match layer {
                Layer::Conv2d(conv) => Some(conv),
                _ => None,
            })
            .nth(k)
    }

    fn dense_stage(&self, k: usize) -> Option<usize> {
        self.stages
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s.layer, Layer::Dense(_)))
            .nth(k)
            .map(|(index, _)| index)
    }

    /// The dropout after dense layer `k`, if there is one (its mask is that
    /// of the last training forward pass).
    pub fn dropout(&self, k: usize) -> Option<&Dropout> {
        self.dense_stage(k)
            .and_then(|s| self.stages[s].dropout.as_ref())
    }

    /// Every dropout layer, in order.
    pub fn dropouts(&self) -> impl Iterator<Item = &Dropout> + '_ {
        self.stages.iter().filter_map(|s| s.dropout.as_ref())
    }

    /// Reseeds every dropout layer: the one of stage `k` from `seed + k`
    /// (wrapping), so layers draw different masks. See [`Dropout::reseed`].
    pub fn reseed_dropout(&mut self, seed: u64) {
        let mut k = 0;
        for stage in &mut self.stages {
            if let Some(dropout) = &mut stage.dropout {
                dropout.reseed(seed.wrapping_add(k));
                k += 1;
            }
        }
    }

    /// Training mode: dropout active, batch norm on batch statistics.
    /// Evaluation mode: dropout is the identity, batch norm uses its running
    /// statistics.
    pub fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    /// True in training mode (the default), false after `set_training(false)`.
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// `(name, shape, value)` of every trainable parameter, in layer order.
    pub fn params(&self) -> impl Iterator<Item = TensorRef<'_>> + '_ {
        self.tensors().filter(|(name, _, _)| is_trainable(name))
    }

    /// `(name, shape, value)` of every tensor a weights file holds: the
    /// parameters and batch norm's running statistics, in layer order.
    pub fn tensors(&self) -> impl Iterator<Item = TensorRef<'_>> + '_ {
        self.stages.iter().flat_map(Stage::tensors)
    }

    /// `(name, value, gradient)` of every parameter, for an optimizer.
    /// Gradients are those of the last [`Sequential::backward`]; backward
    /// overwrites them, so there is no `zero_grad`.
    pub fn params_mut(&mut self) -> impl Iterator<Item = ParamMut<'_>> + '_ {
        self.stages.iter_mut().flat_map(Stage::params_mut)
    }

    /// Number of trainable values.
    pub fn parameter_count(&self) -> usize {
        self.params().map(|(_, _, v)| v.len()).sum()
    }

    /// The forward pass: `X` `[B, I]` (`I = C*H*W` for images) to the
    /// output `[B, O]` (logits when the output activation is the identity).
    /// `X` is a `&Matrix` or a view of one (`x.rows_range(..)`), here as in
    /// every method that takes rows.
    pub fn forward<'x>(&mut self, input: impl Into<MatrixRef<'x>>) -> Result<&Matrix> {
        let input = input.into();
        if input.cols() != self.spec.inputs() {
            return Err(NnError::InputWidth {
                expected: self.spec.inputs(),
                got: input.cols(),
            });
        }
        let training = self.training;
        self.last_forward = None;
        for k in 0..self.stages.len() {
            let Neighbours {
                previous, current, ..
            } = neighbours(&mut self.stages, k);
            let stage_input = previous.map_or(input, |s| s.output(training).view());
            current.forward(stage_input, training)?;
        }
        self.last_forward = Some((input.rows(), training));
        Ok(self.stages[self.stages.len() - 1].output(training))
    }

    /// The backward pass from `dL/dY` of the output, `[B, O]`, filling every
    /// parameter gradient. `input` must be the `X` of the last forward pass
    /// (it is borrowed again rather than copied). The gradient of the input
    /// itself is never computed: nobody needs it, and it costs a GEMM.
    pub fn backward<'x, 'g>(
        &mut self,
        input: impl Into<MatrixRef<'x>>,
        output_grad: impl Into<MatrixRef<'g>>,
    ) -> Result<()> {
        let (input, output_grad) = (input.into(), output_grad.into());
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
        for k in (0..self.stages.len()).rev() {
            let Neighbours {
                previous,
                current,
                next,
            } = neighbours(&mut self.stages, k);
            let stage_input = previous.map_or(input, |s| s.output(training).view());
            // The first stage's input gradient would be the data's: skipped.
            let want_input_grad = previous.is_some();
            match next {
                // This stage's dL/dY is the next stage's input gradient, ours
                // to scale in place (no copy).
                Some(next) => {
                    let stage_output_grad = next.input_grad_mut().view_mut();
                    current.backward(stage_input, stage_output_grad, training, want_input_grad)?
                }
                None => current.backward_from_output(
                    stage_input,
                    output_grad,
                    training,
                    want_input_grad,
                )?,
            }
        }
        Ok(())
    }

    /// Rows per chunk of a prediction: [`PREDICT_BATCH`], or fewer when one
    /// input's activations are large (a convolution's outputs, each kept
    /// up to three times: the layer's, batch norm's and dropout's).
    pub fn predict_rows(&self) -> usize {
        let per_row: usize = self.spec.placed().iter().map(|p| 3 * p.output.len()).sum();
        (PREDICT_SCRATCH_VALUES / per_row.max(1)).clamp(1, PREDICT_BATCH)
    }

    /// Class probabilities `[N, O]` in evaluation mode, a chunk of rows at
    /// a time: the softmax of the logits when the output activation is the
    /// identity, otherwise the output activation's values.
    pub fn predict_proba<'x>(&mut self, input: impl Into<MatrixRef<'x>>) -> Result<Matrix> {
        let input = input.into();
        let mut out = Matrix::zeros(input.rows(), self.spec.outputs());
        self.in_eval_mode(input, |start, y| {
            let cols = y.cols();
            out.as_mut_slice()[start * cols..start * cols + y.len()].copy_from_slice(y.as_slice());
            Ok(())
        })?;
        if self.spec.output == Activation::Identity {
            tensor::ops::softmax_rows(out.view_mut());
        }
        Ok(out)
    }

    /// The most likely class of every row (argmax of the output), in
    /// evaluation mode, a chunk of rows at a time.
    pub fn predict<'x>(&mut self, input: impl Into<MatrixRef<'x>>) -> Result<Vec<usize>> {
        let input = input.into();
        let mut classes = vec![0; input.rows()];
        self.in_eval_mode(input, |start, y| {
            let rows = start..start + y.rows();
            Ok(tensor::ops::row_argmax(y.view(), &mut classes[rows])?)
        })?;
        Ok(classes)
    }

    /// Runs the forward pass over `input` in chunks, in evaluation mode, and
    /// hands each chunk's output to `visit(first_row, output)`, stopping at
    /// the first error; restores the mode afterwards, also on error.
    pub(crate) fn in_eval_mode(
        &mut self,
        input: MatrixRef<'_>,
        mut visit: impl FnMut(usize, &Matrix) -> Result<()>,
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
        let chunk = self.predict_rows();
        let threads = tensor::threads().min(input.rows().div_ceil(chunk));
        if result.is_ok() && threads > 1 {
            result = self.chunks_on_threads(input, chunk, threads, &mut visit);
        }
        let mut start = 0;
        while result.is_ok() && threads <= 1 && start < input.rows() {
            let end = (start + chunk).min(input.rows());
            match self.forward(input.rows_range(start..end)) {
                Ok(y) => result = visit(start, y),
                Err(e) => result = Err(e),
            }
            start = end;
        }
        self.training = was_training;
        self.last_forward = None;
        result
    }

    /// [`Sequential::in_eval_mode`]'s chunks, `threads` at a time, each
    /// through the whole network on a thread of its own (this model or one
    /// of its [`eval_copies`](Sequential::eval_copies)), so that no thread
    /// waits for another between layers (split layer by layer, 2 threads
    /// ran the 784-100-10 network 1.4 times as fast as one); `visit` sees
    /// the chunks in order. A chunk's outputs are the same bits as on one
    /// thread: a layer's result does not depend on its thread count.
    fn chunks_on_threads(
        &mut self,
        input: MatrixRef<'_>,
        chunk: usize,
        threads: usize,
        visit: &mut impl FnMut(usize, &Matrix) -> Result<()>,
    ) -> Result<()> {
        let mut copies = std::mem::take(&mut self.eval_copies);
        copies.truncate(threads - 1);
        while copies.len() < threads - 1 {
            copies.push(self.clone());
        }
        for copy in &mut copies {
            copy.training = false;
            let from = self.stages.iter().flat_map(Stage::tensors);
            for ((_, _, to), (_, _, values)) in copy
                .stages
                .iter_mut()
                .flat_map(Stage::tensors_mut)
                .zip(from)
            {
                to.copy_from_slice(values);
            }
        }
        let mut result = Ok(());
        let mut start = 0;
        while result.is_ok() && start < input.rows() {
            let mut wave: Vec<(&mut Sequential, std::ops::Range<usize>, Result<()>)> =
                std::iter::once(&mut *self)
                    .chain(copies.iter_mut())
                    .enumerate()
                    .map(|(t, model)| {
                        let first = (start + t * chunk).min(input.rows());
                        (model, first..(first + chunk).min(input.rows()), Ok(()))
                    })
                    .filter(|(_, rows, _)| !rows.is_empty())
                    .collect();
            tensor::parallel::for_each_part(&mut wave, &|(model, rows, outcome)| {
                *outcome = model.forward(input.rows_range(rows.clone())).map(|_| ());
            });
            for (model, rows, outcome) in wave {
                start = rows.end;
                result = outcome.and_then(|()| visit(rows.start, model.last_output()));
                if result.is_err() {
                    break;
                }
            }
        }
        for copy in &mut copies {
            copy.last_forward = None;
        }
        self.eval_copies = copies;
        result
    }

    /// The output of the last forward pass.
    fn last_output(&self) -> &Matrix {
        self.stages[self.stages.len() - 1].output(self.training)
    }

    pub(crate) fn stages_mut(&mut self) -> &mut [Stage] {
        &mut self.stages
    }

    pub(crate) fn forget_forward(&mut self) {
        self.last_forward = None;
    }
}

/// Stage `k` and the stages either side of it, borrowed at once: the one
/// before holds its input (its output), the one after holds its output
/// gradient (that stage's input gradient).
struct Neighbours<'a> {
    previous: Option<&'a Stage>,
    current: &'a mut Stage,
    next: Option<&'a mut Stage>,
}

/// Stage `k`'s [`Neighbours`]; `k` must be a stage.
fn neighbours(stages: &mut [Stage], k: usize) -> Neighbours<'_> {
    let (before, rest) = stages.split_at_mut(k);
    let (current, after) = rest.split_first_mut().expect("k is a stage");
    Neighbours {
        previous: before.last(),
        current,
        next: after.first_mut(),
    }
}

/// Batch norm's running statistics are saved, but no optimizer touches them.
fn is_trainable(name: &str) -> bool {
    !(name.ends_with(".running_mean")
        || name.ends_with(".running_var")
        || name.ends_with(".num_batches_tracked"))
}

fn dense_layer(inputs: usize, outputs: usize, name: &str, init: Init, rng: &mut StdRng) -> Dense {
    let mut dense = Dense::new(inputs, outputs).with_names(name);
    init.fill(dense.weight_mut().as_mut_slice(), inputs, outputs, rng);
    dense
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
