//! What every optimizer's config struct shares: validation of its
//! hyper-parameters, their table by name (`field_hyper_parameters!`), and
//! the SIMD build of its update loop.

use super::{UpdateRule, MAX_BUFFERS};
use crate::OptimError;

/// The rule's own checks, plus the one `RuleOptimizer` needs.
pub(super) fn validate_rule(rule: &impl UpdateRule) -> Result<(), OptimError> {
    rule.validate()?;
    let count = rule.buffer_names().len();
    if count > MAX_BUFFERS {
        return Err(OptimError::TooManyBuffers {
            kind: rule.kind(),
            count,
            max: MAX_BUFFERS,
        });
    }
    Ok(())
}

/// Runs `update_loop` through [`tensor::cpu::with_simd`]: compiled for
/// AVX-512 (16 lanes) or AVX2 (8) where the CPU has it. Adam's square root and division are
/// compute-bound while the data is in cache, so wider vectors pay (figures
/// in BENCHMARKS.md, "Measurements behind the code"). Mark the closure
/// `#[inline(always)]`. Tests can force the baseline build, to compare bits.
pub(crate) fn with_simd(update_loop: impl FnOnce()) {
    #[cfg(test)]
    if tests::BASELINE_ONLY.get() {
        return update_loop();
    }
    tensor::cpu::with_simd(update_loop)
}

/// `Err(BadHyper)` unless `ok`; shared by every rule's `validate`.
pub(crate) fn require(
    ok: bool,
    kind: &'static str,
    name: &'static str,
    value: f32,
    expected: &'static str,
) -> Result<(), OptimError> {
    if ok {
        Ok(())
    } else {
        Err(OptimError::BadHyper {
            kind,
            name,
            value,
            expected,
        })
    }
}

/// Checks the settings every rule has: `lr`, `weight_decay`, `clip_norm`.
pub(crate) fn validate_common(
    kind: &'static str,
    lr: f32,
    weight_decay: f32,
    clip_norm: Option<f32>,
) -> Result<(), OptimError> {
    require(
        lr.is_finite() && lr >= 0.0,
        kind,
        "lr",
        lr,
        "finite and >= 0",
    )?;
    require(
        weight_decay.is_finite() && weight_decay >= 0.0,
        kind,
        "weight_decay",
        weight_decay,
        "finite and >= 0",
    )?;
    let clip = clip_norm.unwrap_or(1.0);
    require(
        clip.is_finite() && clip > 0.0,
        kind,
        "clip_norm",
        clip,
        "finite and > 0 (or None for no clipping)",
    )
}

/// The [`UpdateRule`] methods that only read or write a config's fields,
/// written once for every config with `lr`, `weight_decay` and `clip_norm`
/// fields: `learning_rate`, `set_learning_rate`, `clip_norm`, and
/// `hyper`/`set_hyper` over `lr`, the rule's own `f32` fields named here,
/// `weight_decay` and `clip_norm`, in that order (a saved state lists them
/// so). Used inside `impl UpdateRule for ...Config`.
macro_rules! field_hyper_parameters {
    ($($field:ident),*) => {
        fn learning_rate(&self) -> f32 {
            self.lr
        }

        fn set_learning_rate(&mut self, lr: f32) {
            self.lr = lr;
        }

        fn clip_norm(&self) -> Option<f32> {
            self.clip_norm
        }

        fn hyper(&self) -> Vec<(&'static str, f32)> {
            vec![
                ("lr", self.lr),
                $((stringify!($field), self.$field),)*
                ("weight_decay", self.weight_decay),
                ("clip_norm", $crate::rule::config::clip_norm_to_hyper(self.clip_norm)),
            ]
        }

        fn set_hyper(&mut self, name: &str, value: f32) -> bool {
            match name {
                "lr" => self.lr = value,
                $(stringify!($field) => self.$field = value,)*
                "weight_decay" => self.weight_decay = value,
                "clip_norm" => self.clip_norm = $crate::rule::config::clip_norm_from_hyper(value),
                _ => return false,
            }
            true
        }
    };
}
pub(crate) use field_hyper_parameters;

/// `eps`, which keeps a division by a root finite, is finite and > 0.
pub(crate) fn require_positive_eps(kind: &'static str, eps: f32) -> Result<(), OptimError> {
    require(
        eps.is_finite() && eps > 0.0,
        kind,
        "eps",
        eps,
        "finite and > 0",
    )
}

/// `clip_norm` as a hyper-parameter value: `None` is stored as infinity.
pub(crate) fn clip_norm_to_hyper(clip_norm: Option<f32>) -> f32 {
    clip_norm.unwrap_or(f32::INFINITY)
}

pub(crate) fn clip_norm_from_hyper(value: f32) -> Option<f32> {
    (value != f32::INFINITY).then_some(value)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::{AdaGradConfig, AdadeltaConfig, AdamConfig, RmsPropConfig, SgdConfig};
    use std::cell::Cell;

    thread_local! {
        /// Makes `with_simd` run the baseline build of the loop.
        pub(super) static BASELINE_ONLY: Cell<bool> = const { Cell::new(false) };
    }

    /// `(value, buffers)` after 3 updates of a parameter of `len` values, in
    /// one call per update, or one call per element (so only the scalar tail
    /// of the loop runs), on the SIMD build or the baseline one.
    fn three_updates(
        rule: &impl UpdateRule,
        len: usize,
        per_element: bool,
        baseline: bool,
    ) -> Vec<u32> {
        let buffer_count = rule.buffer_names().len();
        let mut value: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut buffers = vec![vec![0.0_f32; len]; buffer_count];
        BASELINE_ONLY.set(baseline);
        for step in 1..=3 {
            let grad: Vec<f32> = (0..len)
                .map(|i| ((step * 7 + i) as f32 * 0.23).cos() * 2.0)
                .collect();
            let ranges: Vec<_> = if per_element {
                (0..len).map(|i| i..i + 1).collect()
            } else {
                std::iter::once(0..len).collect()
            };
            for range in ranges {
                let mut views: Vec<&mut [f32]> =
                    buffers.iter_mut().map(|b| &mut b[range.clone()]).collect();
                let (value, grad) = (&mut value[range.clone()], &grad[range]);
                rule.update(step as u64, value, grad, &mut views);
            }
        }
        BASELINE_ONLY.set(false);
        let all = value.iter().chain(buffers.iter().flatten());
        all.map(|x| x.to_bits()).collect()
    }

    fn assert_every_build_agrees(name: &str, rule: &impl UpdateRule) {
        // Every length up to a few vectors of 8 (full vectors, tails), and one long.
        for len in (0..=40).chain([1000]) {
            let wide = three_updates(rule, len, false, false);
            assert_eq!(wide, three_updates(rule, len, false, true), "{name} {len}");
            assert_eq!(wide, three_updates(rule, len, true, false), "{name} {len}");
        }
    }

    /// The SIMD build of each update loop, its scalar tail and the baseline
    /// build give the same bits.
    #[test]
    fn every_build_of_every_update_loop_gives_the_same_bits() {
        let adamw = AdamConfig::adamw();
        assert_every_build_agrees("adam", &AdamConfig::default());
        assert_every_build_agrees("adamw", &adamw);
        assert_every_build_agrees("sgd", &SgdConfig::default());
        let momentum = SgdConfig {
            momentum: 0.9,
            ..Default::default()
        };
        assert_every_build_agrees("momentum", &momentum);
        let nesterov = SgdConfig {
            nesterov: true,
            ..momentum
        };
        assert_every_build_agrees("nesterov", &nesterov);
        assert_every_build_agrees("adagrad", &AdaGradConfig::default());
        assert_every_build_agrees("adadelta", &AdadeltaConfig::default());
        assert_every_build_agrees("rmsprop", &RmsPropConfig::default());
    }
}
