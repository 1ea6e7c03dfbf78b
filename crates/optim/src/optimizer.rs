use crate::OptimError;

/// One named parameter tensor and its gradient, as an optimizer sees it.
/// The name keys the optimizer's per-parameter state ("layers.0.weight").
#[derive(Debug)]
pub struct Param<'a> {
    pub name: &'a str,
    pub value: &'a mut [f32],
    pub grad: &'a [f32],
}

/// What the trainer drives: any optimizer, behind `Box<dyn Optimizer>`.
pub trait Optimizer {
    /// One update of every parameter from its gradient. The first call fixes
    /// the parameters (names, lengths, order); later calls must pass the same
    /// ones or get [`OptimError::ParamsChanged`]. On error nothing is changed.
    fn step(&mut self, params: &mut [Param<'_>]) -> Result<(), OptimError>;

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
    pub buffers: Vec<(String, Vec<f32>)>,
}
