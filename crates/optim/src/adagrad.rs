use crate::rule::{
    clip_norm_from_hyper, clip_norm_to_hyper, require, validate_common, with_avx2, UpdateRule,
};
use crate::{OptimError, RuleOptimizer};

/// AdaGrad (Duchi, Hazan & Singer 2011, "Adaptive Subgradient Methods"), in
/// PyTorch's form: each weight's step shrinks with the squares of all its past
/// gradients, `s += g^2;  p -= lr * g / (sqrt(s) + eps)`.
///
/// `g` includes L2 weight decay: `g = grad + weight_decay * p`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaGradConfig {
    pub lr: f32,
    /// Keeps the first division finite when a gradient is 0.
    pub eps: f32,
    pub weight_decay: f32,
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

pub type AdaGrad = RuleOptimizer<AdaGradConfig>;

impl UpdateRule for AdaGradConfig {
    fn kind(&self) -> &'static str {
        "adagrad"
    }

    fn buffer_names(&self) -> &'static [&'static str] {
        &["sum_sq"]
    }

    fn learning_rate(&self) -> f32 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.lr = lr;
    }

    fn l2_weight_decay(&self) -> f32 {
        self.weight_decay
    }

    fn clip_norm(&self) -> Option<f32> {
        self.clip_norm
    }

    fn hyper(&self) -> Vec<(&'static str, f32)> {
        vec![
            ("lr", self.lr),
            ("eps", self.eps),
            ("weight_decay", self.weight_decay),
            ("clip_norm", clip_norm_to_hyper(self.clip_norm)),
        ]
    }

    fn set_hyper(&mut self, name: &str, value: f32) -> bool {
        match name {
            "lr" => self.lr = value,
            "eps" => self.eps = value,
            "weight_decay" => self.weight_decay = value,
            "clip_norm" => self.clip_norm = clip_norm_from_hyper(value),
            _ => return false,
        }
        true
    }

    fn validate(&self) -> Result<(), OptimError> {
        validate_common("adagrad", self.lr, self.weight_decay, self.clip_norm)?;
        let eps = self.eps;
        require(
            eps.is_finite() && eps > 0.0,
            "adagrad",
            "eps",
            eps,
            "finite and > 0",
        )
    }

    fn update(&self, _step: u64, value: &mut [f32], grad: &[f32], buffers: &mut [&mut [f32]]) {
        let [sum_sq] = buffers else {
            unreachable!("AdaGrad keeps one buffer, sum_sq")
        };
        let (lr, eps) = (self.lr, self.eps);
        with_avx2(
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
