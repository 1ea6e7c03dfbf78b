use crate::rule::{
    field_hyper_parameters, require, require_positive_eps, validate_common, with_simd, UpdateRule,
};
use crate::{OptimError, RuleOptimizer};

/// Adadelta (Zeiler 2012, "ADADELTA: An Adaptive Learning Rate Method",
/// Algorithm 1), in PyTorch's form with a learning rate in front: each
/// weight's step is its gradient rescaled by the RMS of its past steps over
/// the RMS of its past gradients, so the step has the units of the weight,
/// `v = rho*v + (1-rho)*g^2;  delta = sqrt(u + eps)/sqrt(v + eps) * g;
/// u = rho*u + (1-rho)*delta^2;  p -= lr*delta`.
///
/// The paper has no `lr` (it is 1, the default here). `eps` is not only a
/// guard against division by zero: `sqrt(eps)` is the size of the very first
/// steps, and `u` grows from it, so Adadelta starts slowly (steps of about
/// `1e-3` with the default `eps`). `g` includes L2 weight decay:
/// `g = grad + weight_decay * p`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdadeltaConfig {
    /// Learning rate (the base rate a schedule scales).
    pub lr: f32,
    /// How much of the old averages (of squared gradients and squared steps)
    /// survives each step.
    pub rho: f32,
    /// Inside both square roots: `sqrt(eps)` sizes the very first steps.
    pub eps: f32,
    /// L2 weight decay: the rule sees `g = grad + weight_decay * p`.
    pub weight_decay: f32,
    /// Clip the global gradient norm to this before stepping (`None`: never).
    pub clip_norm: Option<f32>,
}

impl Default for AdadeltaConfig {
    /// PyTorch's defaults. The paper's MNIST runs (section 4.1) used
    /// `rho = 0.95`, `eps = 1e-6`.
    fn default() -> Self {
        AdadeltaConfig {
            lr: 1.0,
            rho: 0.9,
            eps: 1e-6,
            weight_decay: 0.0,
            clip_norm: None,
        }
    }
}

/// The Adadelta optimizer: [`AdadeltaConfig`]'s rule with the shared machinery.
pub type Adadelta = RuleOptimizer<AdadeltaConfig>;

impl UpdateRule for AdadeltaConfig {
    field_hyper_parameters!(rho, eps);

    fn kind(&self) -> &'static str {
        "adadelta"
    }

    /// PyTorch's names for `v` and `u`.
    fn buffer_names(&self) -> &'static [&'static str] {
        &["square_avg", "acc_delta"]
    }

    fn non_negative_buffers(&self) -> &'static [&'static str] {
        &["square_avg", "acc_delta"]
    }

    fn l2_weight_decay(&self) -> f32 {
        self.weight_decay
    }

    fn validate(&self) -> Result<(), OptimError> {
        validate_common("adadelta", self.lr, self.weight_decay, self.clip_norm)?;
        // rho = 1 would keep both averages at 0 forever (plain SGD with
        // steps lr * g); PyTorch allows it, we refuse it as RMSProp's alpha.
        let rho = self.rho;
        require(
            (0.0..1.0).contains(&rho),
            "adadelta",
            "rho",
            rho,
            "in [0, 1)",
        )?;
        require_positive_eps("adadelta", self.eps)
    }

    fn update(&self, _step: u64, value: &mut [f32], grad: &[f32], buffers: &mut [&mut [f32]]) {
        let [square_avg, acc_delta] = buffers else {
            unreachable!("Adadelta keeps two buffers, square_avg and acc_delta")
        };
        let (lr, rho, eps) = (self.lr, self.rho, self.eps);
        with_simd(
            #[inline(always)]
            || {
                let (v, u) = (square_avg.iter_mut(), acc_delta.iter_mut());
                for (((p, &g), v), u) in value.iter_mut().zip(grad).zip(v).zip(u) {
                    *v = rho * *v + (1.0 - rho) * g * g;
                    // sqrt(u + eps) / sqrt(v + eps) as one root of the ratio:
                    // the same number within rounding, one square root less
                    // per weight.
                    let delta = ((*u + eps) / (*v + eps)).sqrt() * g;
                    *u = rho * *u + (1.0 - rho) * delta * delta;
                    *p -= lr * delta;
                }
            },
        );
    }
}
