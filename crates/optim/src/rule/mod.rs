//! What every optimizer shares, written once: the step count, per-parameter
//! buffers created on the first step and checked on every later one, gradient
//! clipping, L2 weight decay, saving/restoring state, and sharing a large
//! parameter's update between threads. An optimizer itself is only an
//! [`UpdateRule`]: how one parameter moves given its gradient.

mod chunks;
pub(crate) mod config;
mod saved_state;
mod slots;

use tensor::parallel::for_each_part;

use crate::clip::{clip_factor, global_grad_norm};
use crate::{OptimError, Optimizer, OptimizerState, Param};
use chunks::{split_into_chunks, Chunk, MAX_PARTS, SPLIT_MIN_VALUES};
use config::validate_rule;
pub(crate) use config::{
    field_hyper_parameters, require, require_positive_eps, validate_common, with_simd,
};
pub use saved_state::MAX_STEP;
use saved_state::{check_buffer_values, slots_from_buffers};
use slots::Slot;

/// The most buffers per parameter an [`UpdateRule`] may keep (Adam keeps 2):
/// a step hands them to the rule as views built in a fixed-size array, so
/// that it allocates nothing.
pub const MAX_BUFFERS: usize = 4;

/// The part that differs between optimizers. Implemented by each config
/// struct ([`SgdConfig`](crate::SgdConfig), [`AdamConfig`](crate::AdamConfig), ...);
/// [`RuleOptimizer`] turns it into an [`Optimizer`].
///
/// `Sync` because threads share the rule while each updates its own chunk
/// of a large parameter.
pub trait UpdateRule: Clone + Sync {
    /// The optimizer's name, as `--optimizer` spells it and as it prefixes
    /// state buffer names (`"adam"`).
    fn kind(&self) -> &'static str;

    /// The per-parameter buffers this rule keeps, each as long as the
    /// parameter (`["m", "v"]` for Adam; none for plain SGD); at most
    /// [`MAX_BUFFERS`].
    fn buffer_names(&self) -> &'static [&'static str];

    /// The rate of the next update.
    fn learning_rate(&self) -> f32;
    /// Sets the rate of the next update.
    fn set_learning_rate(&mut self, lr: f32);

    /// L2 weight decay `wd`: the rule sees `g + wd * p` instead of `g`.
    /// AdamW returns 0 here and decays the weights itself (decoupled).
    fn l2_weight_decay(&self) -> f32;

    /// Clip the global gradient norm to this before stepping (`None`: never).
    fn clip_norm(&self) -> Option<f32>;

    /// Every hyper-parameter by name, for [`OptimizerState::hyper`].
    fn hyper(&self) -> Vec<(&'static str, f32)>;

    /// Sets one hyper-parameter by name; `false` if the name is not ours.
    fn set_hyper(&mut self, name: &str, value: f32) -> bool;

    /// Every hyper-parameter in its valid range.
    fn validate(&self) -> Result<(), OptimError>;

    /// The buffers that are never negative (running sums or averages of
    /// squares): a loaded state with a negative value in one is damaged,
    /// and would take a square root of it. Every buffer must be finite.
    fn non_negative_buffers(&self) -> &'static [&'static str] {
        &[]
    }

    /// Moves one parameter, or one contiguous chunk of it: every element
    /// must move by its own value, gradient and buffers alone, so that a
    /// parameter cut into chunks on several threads ends bit for bit where
    /// it would on one. `grad` is already clipped and L2-decayed; `buffers`
    /// holds the `buffer_names().len()` buffers' matching chunks, each as
    /// long as `value`; `step` counts from 1 (this is the `step`-th update).
    fn update(&self, step: u64, value: &mut [f32], grad: &[f32], buffers: &mut [&mut [f32]]);
}

/// An [`UpdateRule`] plus the machinery every optimizer needs.
/// `Sgd`, `AdaGrad`, `Adadelta`, `RmsProp` and `Adam` are this type with their rule.
#[derive(Debug, Clone)]
pub struct RuleOptimizer<R> {
    rule: R,
    /// Updates taken so far.
    step: u64,
    /// One per parameter, in the order `step` receives them.
    slots: Vec<Slot>,
    /// `load_state` fills `slots` in the order the state listed them; the
    /// next `step` puts them in parameter order, matching by name.
    slots_need_ordering: bool,
    /// The clipped, decayed gradient of one parameter; as long as the
    /// longest parameter, allocated once.
    grad_scratch: Vec<f32>,
}

impl<R: UpdateRule> RuleOptimizer<R> {
    /// An optimizer with `rule`, which must be valid; it has taken no step.
    pub fn new(rule: R) -> Result<Self, OptimError> {
        validate_rule(&rule)?;
        Ok(RuleOptimizer {
            rule,
            step: 0,
            slots: Vec::new(),
            slots_need_ordering: false,
            grad_scratch: Vec::new(),
        })
    }

    /// The rule and its hyper-parameters.
    pub fn config(&self) -> &R {
        &self.rule
    }

    /// Updates taken so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }
}

impl<R: UpdateRule> Optimizer for RuleOptimizer<R> {
    fn step(&mut self, params: &mut [Param<'_>]) -> Result<(), OptimError> {
        for p in params.iter() {
            if p.grad.len() != p.value.len() {
                return Err(OptimError::GradientLength {
                    param: p.name.to_string(),
                    value_len: p.value.len(),
                    grad_len: p.grad.len(),
                });
            }
        }
        // Refused before `match_slots`, which makes the buffers on a first
        // step: a step not taken must leave no trace.
        let grad_scale = match self.rule.clip_norm() {
            None => 1.0,
            Some(max_norm) => {
                let norm = global_grad_norm(params);
                if !norm.is_finite() {
                    return Err(OptimError::NonFiniteGradient { norm });
                }
                clip_factor(norm, max_norm)
            }
        };
        self.match_slots(params)?;
        let l2 = self.rule.l2_weight_decay();

        self.step += 1;
        let (rule, step) = (&self.rule, self.step);
        let threads = tensor::threads().clamp(1, MAX_PARTS);
        let buffer_count = rule.buffer_names().len();
        for (param, slot) in params.iter_mut().zip(&mut self.slots) {
            let len = param.value.len();
            let parts = if len >= SPLIT_MIN_VALUES { threads } else { 1 };
            let mut chunks: [Chunk<'_>; MAX_PARTS] = Default::default();
            let chunks = &mut chunks[..parts];
            split_into_chunks(
                &mut *param.value,
                param.grad,
                &mut self.grad_scratch[..len],
                &mut slot.buffers[..buffer_count * len],
                buffer_count,
                chunks,
            );
            for_each_part(chunks, &|chunk| chunk.update(rule, step, grad_scale, l2));
        }
        Ok(())
    }

    fn learning_rate(&self) -> f32 {
        self.rule.learning_rate()
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.rule.set_learning_rate(lr);
    }

    fn state(&self) -> OptimizerState {
        let kind = self.rule.kind();
        let mut buffers = Vec::new();
        for slot in &self.slots {
            for (b, buffer) in self.rule.buffer_names().iter().enumerate() {
                let values = &slot.buffers[b * slot.len..(b + 1) * slot.len];
                buffers.push((format!("{kind}.{buffer}.{}", slot.name), values.to_vec()));
            }
        }
        OptimizerState {
            kind: kind.to_string(),
            step: self.step,
            hyper: (self.rule.hyper().into_iter())
                .map(|(name, value)| (name.to_string(), value))
                .collect(),
            buffers,
        }
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<(), OptimError> {
        let kind = self.rule.kind();
        let bad = |problem: String| Err(OptimError::BadState { problem });
        if state.kind != kind {
            return bad(format!(
                "it is for a '{}' optimizer, this one is '{kind}'",
                state.kind
            ));
        }

        let mut rule = self.rule.clone();
        for (name, value) in &state.hyper {
            if !rule.set_hyper(name, *value) {
                return bad(format!("'{kind}' has no hyper-parameter '{name}'"));
            }
        }
        for (name, _) in self.rule.hyper() {
            if !state.hyper.iter().any(|(n, _)| n == name) {
                return bad(format!("hyper-parameter '{name}' of '{kind}' is missing"));
            }
        }
        validate_rule(&rule)?;
        if rule.kind() != kind {
            return bad(format!(
                "its hyper-parameters make a '{}' optimizer, not '{kind}'",
                rule.kind()
            ));
        }

        if state.step > MAX_STEP {
            return bad(format!(
                "it claims {} steps, more than any run takes (at most {MAX_STEP}): it is damaged",
                state.step
            ));
        }
        let slots = slots_from_buffers(kind, rule.buffer_names(), state)
            .map_err(|problem| OptimError::BadState { problem })?;
        check_buffer_values(&rule, &slots).map_err(|problem| OptimError::BadState { problem })?;

        self.rule = rule;
        self.step = state.step;
        self.slots_need_ordering = !slots.is_empty();
        self.slots = slots;
        self.grad_scratch = Vec::new();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule keeping more buffers than a step can hand over is refused
    /// when the optimizer is made, not by a panic in its first step.
    #[test]
    fn a_rule_with_too_many_buffers_is_an_error() {
        #[derive(Debug, Clone)]
        struct Hoarder;
        impl UpdateRule for Hoarder {
            fn kind(&self) -> &'static str {
                "hoarder"
            }
            fn buffer_names(&self) -> &'static [&'static str] {
                &["a", "b", "c", "d", "e"]
            }
            fn learning_rate(&self) -> f32 {
                0.1
            }
            fn set_learning_rate(&mut self, _: f32) {}
            fn l2_weight_decay(&self) -> f32 {
                0.0
            }
            fn clip_norm(&self) -> Option<f32> {
                None
            }
            fn hyper(&self) -> Vec<(&'static str, f32)> {
                Vec::new()
            }
            fn set_hyper(&mut self, _: &str, _: f32) -> bool {
                false
            }
            fn validate(&self) -> Result<(), OptimError> {
                Ok(())
            }
            fn update(&self, _: u64, _: &mut [f32], _: &[f32], _: &mut [&mut [f32]]) {}
        }
        let error = RuleOptimizer::new(Hoarder).unwrap_err();
        assert_eq!(
            error,
            OptimError::TooManyBuffers {
                kind: "hoarder",
                count: 5,
                max: MAX_BUFFERS
            }
        );
        assert!(error
            .to_string()
            .starts_with("hoarder: the update rule keeps 5 buffers"));
    }
}
