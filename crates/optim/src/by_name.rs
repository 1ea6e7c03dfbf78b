//! Building an optimizer from the trainer's `--optimizer` name, or from a
//! saved state when resuming.

use crate::{
    AdaGrad, AdaGradConfig, Adadelta, AdadeltaConfig, Adam, AdamConfig, OptimError, Optimizer,
    OptimizerState, RmsProp, RmsPropConfig, Sgd, SgdConfig,
};

/// Every name [`optimizer_by_name`] accepts.
pub const OPTIMIZER_NAMES: [&str; 8] = [
    "sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamw",
];

/// The settings a command line sets for any optimizer; `None` keeps the
/// optimizer's own default (lr 0.01 for the SGD family, AdaGrad and RMSProp,
/// 1 for Adadelta, 0.001 for Adam; weight decay 0, or 0.01 for AdamW; no
/// clipping).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CommonSettings {
    /// The learning rate.
    pub lr: Option<f32>,
    /// Weight decay: L2, or decoupled for AdamW.
    pub weight_decay: Option<f32>,
    /// Clip the global gradient norm to this.
    pub clip_norm: Option<f32>,
    /// The momentum coefficient of `sgd` (default 0), `momentum` and
    /// `nesterov` (default 0.9), and `beta1` of `adam` and `adamw` (default
    /// 0.9); the other optimizers have none and refuse it.
    pub momentum: Option<f32>,
}

/// `"momentum"` and `"nesterov"` use momentum 0.9 unless `settings` says
/// otherwise; everything else not in `settings` is the config's `Default`.
///
/// ```
/// let opt = optim::optimizer_by_name("adam", &optim::CommonSettings::default()).unwrap();
/// assert_eq!(opt.learning_rate(), 1e-3);
/// let settings = optim::CommonSettings { momentum: Some(0.5), ..Default::default() };
/// let state = optim::optimizer_by_name("nesterov", &settings).unwrap().state();
/// assert!(state.hyper.contains(&("momentum".to_string(), 0.5)));
/// let err = optim::optimizer_by_name("rmsprop", &settings).err().unwrap();
/// assert!(err.to_string().contains("momentum"));
/// let err = optim::optimizer_by_name("lbfgs", &Default::default()).err().unwrap();
/// assert!(err.to_string().contains("sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam, adamw"));
/// ```
pub fn optimizer_by_name(
    name: &str,
    settings: &CommonSettings,
) -> Result<Box<dyn Optimizer>, OptimError> {
    let CommonSettings {
        lr,
        weight_decay,
        clip_norm,
        momentum,
    } = *settings;
    let sgd = |default_momentum: f32, nesterov: bool| -> Result<Box<dyn Optimizer>, OptimError> {
        let d = SgdConfig::default();
        Ok(Box::new(Sgd::new(SgdConfig {
            lr: lr.unwrap_or(d.lr),
            momentum: momentum.unwrap_or(default_momentum),
            nesterov,
            weight_decay: weight_decay.unwrap_or(d.weight_decay),
            clip_norm,
        })?))
    };
    let adam = |d: AdamConfig| -> Result<Box<dyn Optimizer>, OptimError> {
        Ok(Box::new(Adam::new(AdamConfig {
            lr: lr.unwrap_or(d.lr),
            weight_decay: weight_decay.unwrap_or(d.weight_decay),
            clip_norm,
            beta1: momentum.unwrap_or(d.beta1),
            ..d
        })?))
    };
    if let (Some(value), "adagrad" | "adadelta" | "rmsprop") = (momentum, name) {
        let kind = OPTIMIZER_NAMES
            .iter()
            .find(|n| **n == name)
            .copied()
            .unwrap_or("?");
        return Err(OptimError::BadHyper {
            kind,
            name: "momentum",
            value,
            expected: "unset: this optimizer has no momentum",
        });
    }
    match name {
        "sgd" => sgd(0.0, false),
        "momentum" => sgd(0.9, false),
        "nesterov" => sgd(0.9, true),
        "adagrad" => {
            let d = AdaGradConfig::default();
            Ok(Box::new(AdaGrad::new(AdaGradConfig {
                lr: lr.unwrap_or(d.lr),
                weight_decay: weight_decay.unwrap_or(d.weight_decay),
                clip_norm,
                ..d
            })?))
        }
        "adadelta" => {
            let d = AdadeltaConfig::default();
            Ok(Box::new(Adadelta::new(AdadeltaConfig {
                lr: lr.unwrap_or(d.lr),
                weight_decay: weight_decay.unwrap_or(d.weight_decay),
                clip_norm,
                ..d
            })?))
        }
        "rmsprop" => {
            let d = RmsPropConfig::default();
            Ok(Box::new(RmsProp::new(RmsPropConfig {
                lr: lr.unwrap_or(d.lr),
                weight_decay: weight_decay.unwrap_or(d.weight_decay),
                clip_norm,
                ..d
            })?))
        }
        "adam" => adam(AdamConfig::default()),
        "adamw" => adam(AdamConfig::adamw()),
        _ => Err(OptimError::UnknownOptimizer {
            name: name.to_string(),
        }),
    }
}

/// The optimizer a saved state came from, with that state loaded: resuming
/// needs no flags, the state carries kind and hyper-parameters.
pub fn optimizer_from_state(state: &OptimizerState) -> Result<Box<dyn Optimizer>, OptimError> {
    let mut optimizer = optimizer_by_name(&state.kind, &CommonSettings::default())?;
    optimizer.load_state(state)?;
    Ok(optimizer)
}
