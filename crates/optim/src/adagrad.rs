use crate::rule::{
    field_hyper_parameters, require_positive_eps, validate_common, with_simd, UpdateRule,
};
use crate::{OptimError, RuleOptimizer};

/// AdaGrad (Duchi, Hazan & Singer 2011, "Adaptive Subgradient Methods"), in
/// PyTorch's form: each weight's step shrinks with the squares of all its past
/// gradients, `s += g^2;  p -= lr * g / (sqrt(s) + eps)`.
///
/// `g` includes L2 weight decay: `g = grad + weight_decay * p`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaGradConfig {
    /// Learning rate (the base rate a schedule scales).
    pub lr: f32,
    /// Keeps the first division finite when a gradient is 0.
    pub eps: f32,
    /// L2 weight decay: the rule sees `g = grad + weight_decay * p`.
    pub weight_decay: f32,
    /// Clip the global gradient norm to this before stepping (`None`: never).
    pub clip_norm: Option<f32>,
}

impl Default for AdaGradConfig {
    /// PyTorch's defaults.
    fn default() -> Self {
        AdaGradConfig {
            lr: 0.01,
            eps: 1e-10,
            weight_decay: 0.0,
            clip_norm: None,
        }
    }
}

/// The AdaGrad optimizer: [`AdaGradConfig`]'s rule with the shared machinery.
pub type AdaGrad = RuleOptimizer<AdaGradConfig>;

impl UpdateRule for AdaGradConfig {
    field_hyper_parameters!(eps);

    fn kind(&self) -> &'static str {
        "adagrad"
    }

    fn buffer_names(&self) -> &'static [&'static str] {
        &["sum_sq"]
    }

    fn non_negative_buffers(&self) -> &'static [&'static str] {
        &["sum_sq"]
    }

    fn l2_weight_decay(&self) -> f32 {
        self.weight_decay
    }

    fn validate(&self) -> Result<(), OptimError> {
        validate_common("adagrad", self.lr, self.weight_decay, self.clip_norm)?;
        require_positive_eps("adagrad", self.eps)
    }

    fn update(&self, _step: u64, value: &mut [f32], grad: &[f32], buffers: &mut [&mut [f32]]) {
        let [sum_sq] = buffers else {
            unreachable!("AdaGrad keeps one buffer, sum_sq")
        };
        let (lr, eps) = (self.lr, self.eps);
        with_simd(
            #[inline(always)]
            || {
                for ((p, &g), s) in value.iter_mut().zip(grad).zip(sum_sq.iter_mut()) {
                    *s += g * g;
                    *p -= lr * g / (s.sqrt() + eps);
                }
            },
        );
    }
}
