//! `optim`: the optimizers that turn gradients into weight updates, and the
//! learning-rate schedules that steer them. It knows nothing of layers: a
//! model hands over its parameters as named `(value, gradient)` slices
//! ([`Param`]), and any [`Optimizer`] updates them in place. A model that
//! yields `(name, value, gradient)` tuples, as `nn::Sequential::params_mut`
//! does, plugs in with no glue that allocates:
//! `optimizer.step_iter(&mut model.params_mut().map(Param::from))`.
//!
//! Each optimizer is a small config struct with the update rule (its doc
//! comment gives the rule in one line and cites the paper); the shared
//! machinery (per-parameter buffers keyed by name, gradient clipping, L2
//! weight decay, saving and restoring state) lives once, in [`RuleOptimizer`].
//! After the first step, which creates the buffers, a step allocates nothing.
//! A large parameter's update is shared between the threads the GEMMs use
//! ([`tensor::threads`], through `tensor::parallel`), one contiguous chunk
//! each, with the same bits as on one thread.
//!
//! The trainer's path: [`optimizer_by_name`] for `--optimizer`, a [`Schedule`]
//! parsed from `--schedule` giving [`Optimizer::set_learning_rate`] its value
//! before each step, [`Optimizer::state`] into the checkpoint, and
//! [`optimizer_from_state`] to resume exactly where it stopped.
//!
//! Shape legend: `p` a parameter, `g` its gradient, `lr` the learning rate,
//! `t` the step count; every formula is element by element.
//!
//! ```
//! use optim::{Optimizer, Param, Sgd, SgdConfig};
//! let mut sgd = Sgd::new(SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() }).unwrap();
//! let mut weight = [1.0_f32, -2.0];
//! for _ in 0..2 {
//!     let grad = [0.5, 0.5];
//!     sgd.step(&mut [Param { name: "w", value: &mut weight, grad: &grad }]).unwrap();
//! }
//! // v = 0.5, then 0.9 * 0.5 + 0.5 = 0.95; p = 1 - 0.1 * (0.5 + 0.95) = 0.855
//! assert!((weight[0] - 0.855).abs() < 1e-6);
//! assert_eq!(sgd.state().buffers[0].0, "momentum.velocity.w");
//! ```

#![warn(missing_docs)]

mod adadelta;
mod adagrad;
mod adam;
mod by_name;
mod clip;
mod error;
mod optimizer;
mod rmsprop;
mod rule;
mod schedule;
mod sgd;

pub use error::OptimError;
pub use optimizer::{Optimizer, OptimizerState, Param, STACK_PARAMS};
pub use rule::{RuleOptimizer, UpdateRule, MAX_BUFFERS, MAX_STEP};

pub use adadelta::{Adadelta, AdadeltaConfig};
pub use adagrad::{AdaGrad, AdaGradConfig};
pub use adam::{Adam, AdamConfig};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use sgd::{Sgd, SgdConfig};

pub use by_name::{optimizer_by_name, optimizer_from_state, CommonSettings, OPTIMIZER_NAMES};
pub use clip::{clip_factor, global_grad_norm};
pub use schedule::{Every, Progress, Schedule, SCHEDULE_FORMS};
