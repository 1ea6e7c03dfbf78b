use crate::rule::{field_hyper_parameters, require, validate_common, with_simd, UpdateRule};
use crate::{OptimError, RuleOptimizer};

/// Stochastic gradient descent (Robbins & Monro 1951), with optional momentum
/// (Polyak 1964) and Nesterov momentum (Sutskever et al. 2013), both in
/// PyTorch's form, where the velocity `v` starts at 0:
///
/// - plain:    `p -= lr * g`
/// - momentum: `v = momentum * v + g;  p -= lr * v`
/// - Nesterov: `v = momentum * v + g;  p -= lr * (g + momentum * v)`
///
/// `g` includes L2 weight decay: `g = grad + weight_decay * p`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    /// Learning rate (the base rate a schedule scales).
    pub lr: f32,
    /// 0 for plain SGD; PyTorch's and the tutorials' usual value is 0.9.
    pub momentum: f32,
    /// Nesterov's look-ahead form; needs `momentum > 0`.
    pub nesterov: bool,
    /// L2 weight decay: the rule sees `g = grad + weight_decay * p`.
    pub weight_decay: f32,
    /// Clip the global gradient norm to this before stepping (`None`: never).
    pub clip_norm: Option<f32>,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 0.01,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            clip_norm: None,
        }
    }
}

/// SGD, with or without (Nesterov) momentum.
/// Stochastic gradient descent, with or without (Nesterov) momentum:
/// [`SgdConfig`]'s rule with the shared machinery.
pub type Sgd = RuleOptimizer<SgdConfig>;

impl UpdateRule for SgdConfig {
    field_hyper_parameters!(momentum);

    fn kind(&self) -> &'static str {
        match (self.nesterov, self.momentum != 0.0) {
            (true, _) => "nesterov",
            (false, true) => "momentum",
            (false, false) => "sgd",
        }
    }

    fn buffer_names(&self) -> &'static [&'static str] {
        if self.momentum != 0.0 {
            &["velocity"]
        } else {
            &[]
        }
    }

    fn l2_weight_decay(&self) -> f32 {
        self.weight_decay
    }

    fn validate(&self) -> Result<(), OptimError> {
        let kind = self.kind();
        validate_common(kind, self.lr, self.weight_decay, self.clip_norm)?;
        let m = self.momentum;
        require((0.0..1.0).contains(&m), kind, "momentum", m, "in [0, 1)")?;
        require(
            !self.nesterov || m > 0.0,
            kind,
            "momentum",
            m,
            "> 0 for Nesterov momentum",
        )
    }

    fn update(&self, _step: u64, value: &mut [f32], grad: &[f32], buffers: &mut [&mut [f32]]) {
        let (lr, mu) = (self.lr, self.momentum);
        if mu == 0.0 {
            with_simd(
                #[inline(always)]
                || {
                    for (p, &g) in value.iter_mut().zip(grad) {
                        *p -= lr * g;
                    }
                },
            );
            return;
        }
        let [velocity] = buffers else {
            unreachable!("SGD with momentum keeps one buffer, the velocity")
        };
        let nesterov = self.nesterov;
        with_simd(
            #[inline(always)]
            || {
                let velocity = velocity.iter_mut();
                if nesterov {
                    for ((p, &g), v) in value.iter_mut().zip(grad).zip(velocity) {
                        *v = mu * *v + g;
                        *p -= lr * (g + mu * *v);
                    }
                } else {
                    for ((p, &g), v) in value.iter_mut().zip(grad).zip(velocity) {
                        *v = mu * *v + g;
                        *p -= lr * *v;
                    }
                }
            },
        );
    }
}
