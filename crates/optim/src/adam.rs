use crate::rule::{
    field_hyper_parameters, require, require_positive_eps, validate_common, with_simd, UpdateRule,
};
use crate::{OptimError, RuleOptimizer};

/// Adam (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization",
/// Algorithm 1): moving averages of the gradient and its square, corrected for
/// starting at zero, at step `t` (from 1):
/// `m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;  p -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)`.
///
/// Weight decay comes in two kinds:
/// - Adam (`decoupled_weight_decay: false`): L2, `g = grad + weight_decay * p`
///   goes into the averages, so Adam's scaling weakens it on weights with big gradients.
/// - AdamW (`true`; Loshchilov & Hutter 2019, "Decoupled Weight Decay
///   Regularization", Algorithm 2, in PyTorch's form): the decay skips the
///   averages, `p *= 1 - lr * weight_decay` before the Adam step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// Learning rate (the base rate a schedule scales).
    pub lr: f32,
    /// How much of the old average of gradients survives each step.
    pub beta1: f32,
    /// How much of the old average of squared gradients survives each step.
    pub beta2: f32,
    /// Added to the root, so that a zero average does not divide by zero.
    pub eps: f32,
    /// Weight decay: L2, or decoupled (AdamW) as `decoupled_weight_decay` says.
    pub weight_decay: f32,
    /// AdamW when true.
    pub decoupled_weight_decay: bool,
    /// Clip the global gradient norm to this before stepping (`None`: never).
    pub clip_norm: Option<f32>,
}

impl Default for AdamConfig {
    /// The paper's (and PyTorch's) defaults; no weight decay.
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            clip_norm: None,
        }
    }
}

impl AdamConfig {
    /// AdamW with PyTorch's defaults (`weight_decay = 0.01`).
    pub fn adamw() -> Self {
        AdamConfig {
            weight_decay: 0.01,
            decoupled_weight_decay: true,
            ..AdamConfig::default()
        }
    }
}

/// Adam or AdamW, as its config says.
pub type Adam = RuleOptimizer<AdamConfig>;

impl UpdateRule for AdamConfig {
    field_hyper_parameters!(beta1, beta2, eps);

    fn kind(&self) -> &'static str {
        if self.decoupled_weight_decay {
            "adamw"
        } else {
            "adam"
        }
    }

    fn buffer_names(&self) -> &'static [&'static str] {
        &["m", "v"]
    }

    fn non_negative_buffers(&self) -> &'static [&'static str] {
        &["v"]
    }

    fn l2_weight_decay(&self) -> f32 {
        if self.decoupled_weight_decay {
            0.0
        } else {
            self.weight_decay
        }
    }

    fn validate(&self) -> Result<(), OptimError> {
        let kind = self.kind();
        validate_common(kind, self.lr, self.weight_decay, self.clip_norm)?;
        let (b1, b2) = (self.beta1, self.beta2);
        require((0.0..1.0).contains(&b1), kind, "beta1", b1, "in [0, 1)")?;
        require((0.0..1.0).contains(&b2), kind, "beta2", b2, "in [0, 1)")?;
        require_positive_eps(kind, self.eps)
    }

    fn update(&self, step: u64, value: &mut [f32], grad: &[f32], buffers: &mut [&mut [f32]]) {
        let [m, v] = buffers else {
            unreachable!("Adam keeps two buffers, m and v")
        };
        let (lr, b1, b2, eps) = (self.lr, self.beta1, self.beta2, self.eps);
        // Bias corrections 1 - beta^t, in f64: for beta2 = 0.999 and small t,
        // f32 would lose most digits of the difference. As PyTorch does, they
        // are folded into two per-step constants, so each weight pays one
        // division and one square root instead of three divisions:
        // lr * (m / c1) / (sqrt(v / c2) + eps) = step_size * m / (sqrt(v) / sqrt(c2) + eps).
        let t = step as f64;
        let correction1 = 1.0 - f64::from(b1).powf(t);
        let correction2 = 1.0 - f64::from(b2).powf(t);
        let step_size = (f64::from(lr) / correction1) as f32;
        let inv_sqrt_correction2 = (1.0 / correction2.sqrt()) as f32;
        let decay = if self.decoupled_weight_decay {
            1.0 - lr * self.weight_decay
        } else {
            1.0
        };
        with_simd(
            #[inline(always)]
            || {
                let (m, v) = (m.iter_mut(), v.iter_mut());
                for (((p, &g), m), v) in value.iter_mut().zip(grad).zip(m).zip(v) {
                    *m = b1 * *m + (1.0 - b1) * g;
                    *v = b2 * *v + (1.0 - b2) * g * g;
                    *p *= decay;
                    *p -= step_size * *m / (v.sqrt() * inv_sqrt_correction2 + eps);
                }
            },
        );
    }
}
