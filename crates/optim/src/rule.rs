//! What every optimizer shares, written once: the step count, per-parameter
//! buffers created on the first step and checked on every later one, gradient
//! clipping, L2 weight decay, saving/restoring state, and sharing a large
//! parameter's update between threads. An optimizer itself is only an
//! [`UpdateRule`]: how one parameter moves given its gradient.

use tensor::parallel::{for_each_part, part_range};

use crate::clip::{clip_factor, global_grad_norm};
use crate::{OptimError, Optimizer, OptimizerState, Param};

/// The most buffers per parameter an [`UpdateRule`] may keep (Adam keeps 2):
/// a step hands them to the rule as views built in a fixed-size array, so
/// that it allocates nothing.
pub const MAX_BUFFERS: usize = 4;

/// Parameters with fewer values than this are updated on the calling thread
/// alone; longer ones are cut into one chunk per thread ([`tensor::threads`]).
/// Handing chunks to the pool costs 1 to 2 us; on 2 threads here splitting
/// starts to pay at 16k to 32k values for Adam and 32k for plain SGD
/// (`examples/split_threshold.rs`: 32k values take Adam about 10-15 us alone,
/// 8-13 us split, and SGD 3 us alone, 2 us split). Biases and the last
/// layer of an MLP stay on the calling thread.
const SPLIT_MIN_VALUES: usize = 32 * 1024;

/// At most this many threads share one parameter: the chunks' views live in
/// a stack array of this length. More threads than this just use 16.
const MAX_PARTS: usize = 16;

/// Chunk boundaries fall on multiples of 16 values, one 64-byte cache line,
/// so two threads never write the same line.
const CHUNK_ALIGN: usize = 16;

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

    fn learning_rate(&self) -> f32;
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

/// One parameter's name, length and buffers (`buffer_names().len() * len` values).
#[derive(Debug, Clone)]
struct Slot {
    name: String,
    len: usize,
    buffers: Vec<f32>,
}

impl<R: UpdateRule> RuleOptimizer<R> {
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

    pub fn config(&self) -> &R {
        &self.rule
    }

    /// Updates taken so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// Creates the slots on the first step; afterwards checks that `params`
    /// are the same names and lengths, in the same order.
    fn match_slots(&mut self, params: &[Param<'_>]) -> Result<(), OptimError> {
        if self.slots.is_empty() && !self.slots_need_ordering {
            // Names key the state, so two parameters cannot share one.
            for (index, p) in params.iter().enumerate() {
                if params[..index].iter().any(|q| q.name == p.name) {
                    return Err(OptimError::DuplicateName {
                        name: p.name.to_string(),
                    });
                }
            }
            let buffer_count = self.rule.buffer_names().len();
            self.slots = params
                .iter()
                .map(|p| Slot {
                    name: p.name.to_string(),
                    len: p.value.len(),
                    buffers: vec![0.0; buffer_count * p.value.len()],
                })
                .collect();
        } else if self.slots_need_ordering {
            self.order_loaded_slots(params)?;
        }
        if self.grad_scratch.is_empty() {
            let longest = self.slots.iter().map(|s| s.len).max().unwrap_or(0);
            self.grad_scratch = vec![0.0; longest];
        }

        let count = params.len().max(self.slots.len());
        for index in 0..count {
            let (slot, param) = (self.slots.get(index), params.get(index));
            let same = match (slot, param) {
                (Some(s), Some(p)) => s.name == p.name && s.len == p.value.len(),
                _ => false,
            };
            if !same {
                return Err(OptimError::ParamsChanged {
                    index,
                    expected: slot.map_or("no parameter".into(), |s| describe(&s.name, s.len)),
                    found: param.map_or("no parameter".into(), |p| describe(p.name, p.value.len())),
                });
            }
        }
        Ok(())
    }

    /// Reorders slots loaded from a state into the order of `params`.
    fn order_loaded_slots(&mut self, params: &[Param<'_>]) -> Result<(), OptimError> {
        let mut order = Vec::with_capacity(params.len());
        for (index, p) in params.iter().enumerate() {
            match self.slots.iter().position(|s| s.name == p.name) {
                Some(found) if order.contains(&found) => {
                    return Err(OptimError::DuplicateName {
                        name: p.name.to_string(),
                    })
                }
                Some(found) => order.push(found),
                None => {
                    return Err(OptimError::ParamsChanged {
                        index,
                        expected: "a parameter the loaded state has buffers for".into(),
                        found: describe(p.name, p.value.len()),
                    })
                }
            }
        }
        if let Some(extra) = (0..self.slots.len()).find(|i| !order.contains(i)) {
            let s = &self.slots[extra];
            return Err(OptimError::ParamsChanged {
                index: params.len(),
                expected: describe(&s.name, s.len),
                found: "no parameter of that name".into(),
            });
        }
        let mut slots: Vec<Option<Slot>> = self.slots.drain(..).map(Some).collect();
        self.slots = order.iter().map(|&i| slots[i].take().unwrap()).collect();
        self.slots_need_ordering = false;
        Ok(())
    }
}

/// The rule's own checks, plus the one `RuleOptimizer` needs.
fn validate_rule(rule: &impl UpdateRule) -> Result<(), OptimError> {
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

fn describe(name: &str, len: usize) -> String {
    format!("'{name}' ({len} values)")
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

/// One thread's share of one parameter's update: matching ranges of the
/// value, the gradient, the scratch gradient and each buffer.
#[derive(Default)]
struct Chunk<'a> {
    value: &'a mut [f32],
    grad: &'a [f32],
    /// Where the clipped, decayed gradient goes when it differs from `grad`.
    grad_scratch: &'a mut [f32],
    buffers: [&'a mut [f32]; MAX_BUFFERS],
    buffer_count: usize,
}

impl Chunk<'_> {
    /// Feeds the rule `grad_scale * grad + l2 * value` (written to the
    /// scratch unless it is `grad` itself) and lets it move the chunk.
    fn update(&mut self, rule: &impl UpdateRule, step: u64, grad_scale: f32, l2: f32) {
        let grad: &[f32] = if grad_scale == 1.0 && l2 == 0.0 {
            self.grad
        } else {
            let scratch = (self.grad_scratch.iter_mut())
                .zip(self.grad)
                .zip(self.value.iter());
            for ((g, &raw), &p) in scratch {
                *g = grad_scale * raw + l2 * p;
            }
            self.grad_scratch
        };
        rule.update(
            step,
            self.value,
            grad,
            &mut self.buffers[..self.buffer_count],
        );
    }
}

/// Cuts one parameter into `chunks.len()` contiguous chunks, evenly and
/// aligned to [`CHUNK_ALIGN`]. `buffers` holds `buffer_count` buffers of
/// `value.len()` back to back, as a [`Slot`] keeps them.
fn split_into_chunks<'a>(
    mut value: &'a mut [f32],
    mut grad: &'a [f32],
    mut grad_scratch: &'a mut [f32],
    mut buffers: &'a mut [f32],
    buffer_count: usize,
    chunks: &mut [Chunk<'a>],
) {
    let (len, parts) = (value.len(), chunks.len());
    let mut buffer_rests: [&mut [f32]; MAX_BUFFERS] = Default::default();
    for rest in &mut buffer_rests[..buffer_count] {
        (*rest, buffers) = std::mem::take(&mut buffers).split_at_mut(len);
    }
    for (part, chunk) in chunks.iter_mut().enumerate() {
        let n = part_range(len, parts, part, CHUNK_ALIGN).len();
        (chunk.value, value) = std::mem::take(&mut value).split_at_mut(n);
        (chunk.grad, grad) = grad.split_at(n);
        (chunk.grad_scratch, grad_scratch) = std::mem::take(&mut grad_scratch).split_at_mut(n);
        for (buffer, rest) in chunk
            .buffers
            .iter_mut()
            .zip(&mut buffer_rests[..buffer_count])
        {
            (*buffer, *rest) = std::mem::take(rest).split_at_mut(n);
        }
        chunk.buffer_count = buffer_count;
    }
}

/// Runs `update_loop` through [`tensor::cpu::with_avx2`]: compiled for AVX2
/// (8 lanes) where the CPU has it. Adam's loop runs in half the time (401k
/// values: 330 -> 150 us, `examples/split_threshold.rs`); its square root and
/// division are compute-bound while the data is in cache. Mark the closure
/// `#[inline(always)]`. Tests can force the baseline build, to compare bits.
pub(crate) fn with_avx2(update_loop: impl FnOnce()) {
    #[cfg(test)]
    if tests::BASELINE_ONLY.get() {
        return update_loop();
    }
    tensor::cpu::with_avx2(update_loop)
}

/// The most steps a loaded state may claim: 2^48, nine years at a million
/// steps a second. Beyond it the count is damage, not history.
pub const MAX_STEP: u64 = 1 << 48;

/// Every buffer value finite, and those of [`UpdateRule::non_negative_buffers`]
/// at least 0: what a state written by `state` always satisfies. The `Err`
/// names the buffer, the index and the value.
fn check_buffer_values(rule: &impl UpdateRule, slots: &[Slot]) -> Result<(), String> {
    let kind = rule.kind();
    let non_negative = rule.non_negative_buffers();
    for slot in slots {
        for (b, buffer) in rule.buffer_names().iter().enumerate() {
            let values = &slot.buffers[b * slot.len..(b + 1) * slot.len];
            let must_be_non_negative = non_negative.contains(buffer);
            let bad = values
                .iter()
                .position(|v| !v.is_finite() || (must_be_non_negative && *v < 0.0));
            if let Some(index) = bad {
                let value = values[index];
                let rule_broken = if value.is_finite() {
                    "it is a sum or average of squares, never negative"
                } else {
                    "every value must be finite"
                };
                return Err(format!(
                    "buffer '{kind}.{buffer}.{}' holds {value} at index {index}: {rule_broken}; \
                     the state is damaged",
                    slot.name
                ));
            }
        }
    }
    Ok(())
}

/// Rebuilds the slots from a state's `"{kind}.{buffer}.{parameter}"` buffers,
/// in whatever order they come; every parameter needs every buffer, all of
/// one length. The `Err` is the problem, in words.
fn slots_from_buffers(
    kind: &str,
    buffer_names: &[&str],
    state: &OptimizerState,
) -> Result<Vec<Slot>, String> {
    let mut slots: Vec<Slot> = Vec::new();
    let mut filled: Vec<Vec<bool>> = Vec::new();
    for (full_name, values) in &state.buffers {
        let split = (full_name.strip_prefix(kind))
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|rest| rest.split_once('.'));
        let b = split.and_then(|(buffer, _)| buffer_names.iter().position(|n| *n == buffer));
        let (Some((_, param)), Some(b)) = (split, b) else {
            return Err(format!(
                "buffer '{full_name}' is not named '{kind}.BUFFER.PARAMETER' with BUFFER one of [{}]",
                buffer_names.join(", ")
            ));
        };
        let s = match slots.iter().position(|s| s.name == param) {
            Some(s) => s,
            None => {
                slots.push(Slot {
                    name: param.to_string(),
                    len: values.len(),
                    buffers: vec![0.0; buffer_names.len() * values.len()],
                });
                filled.push(vec![false; buffer_names.len()]);
                slots.len() - 1
            }
        };
        let slot = &mut slots[s];
        if values.len() != slot.len {
            return Err(format!(
                "buffer '{full_name}' has {} values, other buffers of '{param}' have {}",
                values.len(),
                slot.len
            ));
        }
        if filled[s][b] {
            return Err(format!("buffer '{full_name}' appears twice"));
        }
        filled[s][b] = true;
        slot.buffers[b * slot.len..(b + 1) * slot.len].copy_from_slice(values);
    }
    for (slot, filled) in slots.iter().zip(&filled) {
        if let Some(b) = filled.iter().position(|f| !f) {
            return Err(format!(
                "buffer '{kind}.{}.{}' is missing",
                buffer_names[b], slot.name
            ));
        }
    }
    if slots.is_empty() && !buffer_names.is_empty() && state.step > 0 {
        return Err(format!(
            "it has taken {} steps but holds no buffers ({} expected per parameter)",
            state.step,
            buffer_names.join(", ")
        ));
    }
    Ok(slots)
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
                ("clip_norm", $crate::rule::clip_norm_to_hyper(self.clip_norm)),
            ]
        }

        fn set_hyper(&mut self, name: &str, value: f32) -> bool {
            match name {
                "lr" => self.lr = value,
                $(stringify!($field) => self.$field = value,)*
                "weight_decay" => self.weight_decay = value,
                "clip_norm" => self.clip_norm = $crate::rule::clip_norm_from_hyper(value),
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
mod tests {
    use super::*;
    use crate::{AdaGradConfig, AdadeltaConfig, AdamConfig, RmsPropConfig, SgdConfig};
    use std::cell::Cell;

    thread_local! {
        /// Makes `with_avx2` run the baseline build of the loop.
        pub(super) static BASELINE_ONLY: Cell<bool> = const { Cell::new(false) };
    }

    /// `(value, buffers)` after 3 updates of a parameter of `len` values, in
    /// one call per update, or one call per element (so only the scalar tail
    /// of the loop runs), on the AVX2 build or the baseline one.
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

    /// The AVX2 build of each update loop, its scalar tail and the baseline
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

    /// Each chunk gets matching ranges of the value, gradient, scratch and
    /// every buffer, and the chunks tile the parameter in order.
    #[test]
    fn chunks_hold_matching_ranges_that_tile_the_parameter() {
        for (len, parts, buffer_count) in [(1000, 3, 2), (17, 2, 1), (0, 2, 2), (100, 1, 0)] {
            // Every array holds its element's index, offset per array.
            let mut value: Vec<f32> = (0..len).map(|i| i as f32).collect();
            let grad: Vec<f32> = (0..len).map(|i| (10_000 + i) as f32).collect();
            let mut scratch: Vec<f32> = (0..len).map(|i| (20_000 + i) as f32).collect();
            let mut buffers: Vec<f32> = (0..buffer_count)
                .flat_map(|b| (0..len).map(move |i| (30_000 + 10_000 * b + i) as f32))
                .collect();
            let mut chunks: [Chunk<'_>; MAX_PARTS] = Default::default();
            let chunks = &mut chunks[..parts];
            split_into_chunks(
                &mut value,
                &grad,
                &mut scratch,
                &mut buffers,
                buffer_count,
                chunks,
            );
            let mut next = 0;
            for (part, chunk) in chunks.iter().enumerate() {
                assert_eq!(chunk.value.len(), part_range(len, parts, part, 16).len());
                assert_eq!(chunk.buffer_count, buffer_count);
                for (i, &v) in chunk.value.iter().enumerate() {
                    let index = next + i;
                    assert_eq!(v, index as f32);
                    assert_eq!(chunk.grad[i], (10_000 + index) as f32);
                    assert_eq!(chunk.grad_scratch[i], (20_000 + index) as f32);
                    for b in 0..buffer_count {
                        assert_eq!(chunk.buffers[b][i], (30_000 + 10_000 * b + index) as f32);
                    }
                }
                next += chunk.value.len();
            }
            assert_eq!(next, len);
        }
    }

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
