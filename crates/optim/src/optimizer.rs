use crate::OptimError;

/// One named parameter tensor and its gradient, as an optimizer sees it.
/// The name keys the optimizer's per-parameter state ("layers.0.weight").
#[derive(Debug)]
pub struct Param<'a> {
    /// Unique among the parameters of one model.
    pub name: &'a str,
    /// The values the step moves.
    pub value: &'a mut [f32],
    /// `dL/dvalue`, as long as `value`.
    pub grad: &'a [f32],
}

/// `(name, value, gradient)`, the shape in which a model hands over its
/// parameters (`nn::Sequential::params_mut` yields these tuples), so that
/// `model.params_mut().map(Param::from)` feeds [`Optimizer::step_iter`]
/// without this crate knowing the model's.
impl<'a> From<(&'a str, &'a mut [f32], &'a [f32])> for Param<'a> {
    fn from((name, value, grad): (&'a str, &'a mut [f32], &'a [f32])) -> Self {
        Param { name, value, grad }
    }
}

/// How many parameters [`Optimizer::step_iter`] gathers on the stack; a
/// model with more (a deep network: each layer brings two or three) costs
/// that method one allocation per step.
pub const STACK_PARAMS: usize = 64;

/// What the trainer drives: any optimizer, behind `Box<dyn Optimizer>`.
pub trait Optimizer {
    /// One update of every parameter from its gradient. The first call fixes
    /// the parameters (names, lengths, order); later calls must pass the same
    /// ones or get [`OptimError::ParamsChanged`]. On error nothing is changed.
    fn step(&mut self, params: &mut [Param<'_>]) -> Result<(), OptimError>;

    /// [`step`](Optimizer::step) over parameters as an iterator yields them,
    /// gathered on the stack rather than in a `Vec`, so that the glue
    /// between a model and an optimizer allocates nothing either:
    ///
    /// ```
    /// use optim::{Optimizer, Param, Sgd, SgdConfig};
    /// // A model's parameters as `(name, value, gradient)` tuples.
    /// let mut model = vec![("w", vec![1.0_f32, 2.0], vec![0.5_f32, -0.5])];
    /// let mut sgd = Sgd::new(SgdConfig { lr: 0.1, ..Default::default() }).unwrap();
    /// let mut params = model.iter_mut().map(|(n, v, g)| Param::from((*n, &mut v[..], &g[..])));
    /// sgd.step_iter(&mut params).unwrap();
    /// assert_eq!(model[0].1, [0.95, 2.05]);
    /// ```
    fn step_iter(&mut self, params: &mut dyn Iterator<Item = Param<'_>>) -> Result<(), OptimError> {
        let mut on_stack: [Param<'_>; STACK_PARAMS] = std::array::from_fn(|_| Param {
            name: "",
            value: &mut [],
            grad: &[],
        });
        let mut count = 0;
        while let Some(param) = params.next() {
            if count == STACK_PARAMS {
                let mut all: Vec<Param<'_>> = (on_stack.into_iter())
                    .chain(std::iter::once(param))
                    .chain(params)
                    .collect();
                return self.step(&mut all);
            }
            on_stack[count] = param;
            count += 1;
        }
        self.step(&mut on_stack[..count])
    }

    /// The rate the next `step` uses.
    fn learning_rate(&self) -> f32;

    /// Sets the rate the next `step` uses (a schedule calls this every step).
    fn set_learning_rate(&mut self, lr: f32);

    /// Everything needed to resume exactly: kind, step count,
    /// hyper-parameters, per-parameter buffers by name.
    fn state(&self) -> OptimizerState;

    /// Restores a [`state`](Optimizer::state) of the same kind, hyper-parameters
    /// included. On error the optimizer is unchanged.
    fn load_state(&mut self, state: &OptimizerState) -> Result<(), OptimError>;
}

/// An optimizer's state as plain data, so a checkpoint can store it as named
/// f32 tensors (`buffers`) plus string metadata (`kind`, `step`, `hyper`).
///
/// Buffer names are `"{kind}.{buffer}.{parameter}"`, e.g. `"adam.m.layers.0.weight"`.
/// Their order does not matter when loading.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerState {
    /// `"sgd"`, `"momentum"`, `"nesterov"`, `"adagrad"`, `"rmsprop"`, `"adam"` or `"adamw"`.
    pub kind: String,
    /// Number of steps taken (Adam's bias correction needs it).
    pub step: u64,
    /// Every hyper-parameter by name; `clip_norm = inf` means no clipping.
    pub hyper: Vec<(String, f32)>,
    /// Every per-parameter buffer, by its full name.
    pub buffers: Vec<(String, Vec<f32>)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Adam, AdamConfig};

    /// `count` parameters of different lengths, values and gradients.
    fn model(count: usize) -> Vec<(String, Vec<f32>, Vec<f32>)> {
        (0..count)
            .map(|k| {
                let len = 1 + k % 5;
                let value = (0..len).map(|i| (k * 7 + i) as f32 * 0.1).collect();
                let grad = (0..len).map(|i| ((k + i) % 3) as f32 - 1.0).collect();
                (format!("p{k}"), value, grad)
            })
            .collect()
    }

    fn params(model: &mut [(String, Vec<f32>, Vec<f32>)]) -> impl Iterator<Item = Param<'_>> {
        (model.iter_mut())
            .map(|(name, value, grad)| Param::from((&name[..], &mut value[..], &grad[..])))
    }

    #[test]
    fn step_iter_moves_parameters_as_step_does_on_and_off_the_stack() {
        for count in [
            0,
            1,
            STACK_PARAMS - 1,
            STACK_PARAMS,
            STACK_PARAMS + 1,
            3 * STACK_PARAMS,
        ] {
            let (mut by_slice, mut by_iter) = (model(count), model(count));
            let mut slice_adam = Adam::new(AdamConfig::default()).unwrap();
            let mut iter_adam = Adam::new(AdamConfig::default()).unwrap();
            for _ in 0..3 {
                let mut gathered: Vec<Param<'_>> = params(&mut by_slice).collect();
                slice_adam.step(&mut gathered).unwrap();
                iter_adam.step_iter(&mut params(&mut by_iter)).unwrap();
            }
            assert_eq!(by_slice, by_iter, "{count} parameters");
            assert_eq!(slice_adam.state(), iter_adam.state(), "{count} parameters");
            if count > 0 {
                assert_ne!(by_iter, model(count), "the step moved nothing");
            }
        }
    }

    #[test]
    fn step_iter_reports_a_changed_parameter_list() {
        let mut adam = Adam::new(AdamConfig::default()).unwrap();
        let mut parameters = model(STACK_PARAMS + 2);
        adam.step_iter(&mut params(&mut parameters)).unwrap();
        let result = adam.step_iter(&mut params(&mut parameters).take(STACK_PARAMS + 1));
        assert!(
            matches!(result, Err(OptimError::ParamsChanged { index, .. }) if index == STACK_PARAMS + 1)
        );
    }
}
