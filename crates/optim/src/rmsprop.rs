use crate::rule::{
    field_hyper_parameters, require, require_positive_eps, validate_common, with_simd, UpdateRule,
};
use crate::{OptimError, RuleOptimizer};

/// RMSProp (Tieleman & Hinton 2012, Coursera "Neural Networks for Machine
/// Learning", lecture 6.5), in PyTorch's form: like AdaGrad, but the squares
/// are a moving average so old gradients are forgotten,
/// `s = alpha * s + (1 - alpha) * g^2;  p -= lr * g / (sqrt(s) + eps)`.
///
/// `g` includes L2 weight decay: `g = grad + weight_decay * p`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsPropConfig {
    /// Learning rate (the base rate a schedule scales).
    pub lr: f32,
    /// How much of the old average of squares survives each step.
    pub alpha: f32,
    /// Added to the root, so that a zero average does not divide by zero.
    pub eps: f32,
    /// L2 weight decay: the rule sees `g = grad + weight_decay * p`.
    pub weight_decay: f32,
    /// Clip the global gradient norm to this before stepping (`None`: never).
    pub clip_norm: Option<f32>,
}

impl Default for RmsPropConfig {
    /// PyTorch's defaults.
    fn default() -> Self {
        RmsPropConfig {
            lr: 0.01,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            clip_norm: None,
        }
    }
}

/// The RMSProp optimizer: [`RmsPropConfig`]'s rule with the shared machinery.
pub type RmsProp = RuleOptimizer<RmsPropConfig>;

impl UpdateRule for RmsPropConfig {
    field_hyper_parameters!(alpha, eps);

    fn kind(&self) -> &'static str {
        "rmsprop"
    }

    fn buffer_names(&self) -> &'static [&'static str] {
        &["mean_sq"]
    }

    fn non_negative_buffers(&self) -> &'static [&'static str] {
        &["mean_sq"]
    }

    fn l2_weight_decay(&self) -> f32 {
        self.weight_decay
    }

    fn validate(&self) -> Result<(), OptimError> {
        validate_common("rmsprop", self.lr, self.weight_decay, self.clip_norm)?;
        let alpha = self.alpha;
        require(
            (0.0..1.0).contains(&alpha),
            "rmsprop",
            "alpha",
            alpha,
            "in [0, 1)",
        )?;
        require_positive_eps("rmsprop", self.eps)
    }

    fn update(&self, _step: u64, value: &mut [f32], grad: &[f32], buffers: &mut [&mut [f32]]) {
        let [mean_sq] = buffers else {
            unreachable!("RMSProp keeps one buffer, mean_sq")
        };
        let (lr, alpha, eps) = (self.lr, self.alpha, self.eps);
        with_simd(
            #[inline(always)]
            || {
                for ((p, &g), s) in value.iter_mut().zip(grad).zip(mean_sq.iter_mut()) {
                    *s = alpha * *s + (1.0 - alpha) * g * g;
                    *p -= lr * g / (s.sqrt() + eps);
                }
            },
        );
    }
}
