use std::fmt;

use crate::by_name::OPTIMIZER_NAMES;
use crate::schedule::SCHEDULE_FORMS;

/// The one error type of this crate. Nothing here reads files, so each
/// variant names the parameter, hyper-parameter or string at fault instead.
#[derive(Debug, Clone, PartialEq)]
pub enum OptimError {
    /// `--optimizer` named something we do not have.
    UnknownOptimizer {
        /// The name given.
        name: String,
    },
    /// A `--schedule` string that does not parse.
    BadSchedule {
        /// The string given.
        spec: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A hyper-parameter outside its valid range (`lr = -1`, `beta1 = 1`).
    BadHyper {
        /// The optimizer (`"adam"`).
        kind: &'static str,
        /// The hyper-parameter (`"beta1"`).
        name: &'static str,
        /// Its value.
        value: f32,
        /// The valid range, in words.
        expected: &'static str,
    },
    /// A parameter whose gradient is not as long as its value.
    GradientLength {
        /// The parameter's name.
        param: String,
        /// Its values.
        value_len: usize,
        /// Its gradient's values.
        grad_len: usize,
    },
    /// Two parameters passed to `step` share a name.
    DuplicateName {
        /// The shared name.
        name: String,
    },
    /// The parameters passed to `step` are not the ones the state was built for.
    ParamsChanged {
        /// The position of the first that differs.
        index: usize,
        /// The parameter the state has there.
        expected: String,
        /// The parameter given there.
        found: String,
    },
    /// The global gradient norm is NaN or infinite, so clipping cannot fix it.
    NonFiniteGradient {
        /// The norm.
        norm: f32,
    },
    /// A saved state that does not fit this optimizer.
    BadState {
        /// What does not fit, in words.
        problem: String,
    },
    /// An [`UpdateRule`](crate::UpdateRule) that keeps more buffers per
    /// parameter than [`RuleOptimizer`](crate::RuleOptimizer) can hand it.
    TooManyBuffers {
        /// The rule's name.
        kind: &'static str,
        /// The buffers it keeps.
        count: usize,
        /// The most a rule may keep ([`MAX_BUFFERS`](crate::MAX_BUFFERS)).
        max: usize,
    },
}

impl fmt::Display for OptimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptimError::UnknownOptimizer { name } => write!(
                f,
                "unknown optimizer '{name}'; valid names: {}",
                OPTIMIZER_NAMES.join(", ")
            ),
            OptimError::BadSchedule { spec, problem } => write!(
                f,
                "learning-rate schedule '{spec}': {problem}; valid forms: {}",
                SCHEDULE_FORMS.join(", ")
            ),
            OptimError::BadHyper {
                kind,
                name,
                value,
                expected,
            } => write!(f, "{kind}: {name} = {value}, but it must be {expected}"),
            OptimError::GradientLength {
                param,
                value_len,
                grad_len,
            } => write!(
                f,
                "parameter '{param}' has {value_len} values but its gradient has {grad_len}"
            ),
            OptimError::DuplicateName { name } => write!(
                f,
                "two parameters are both named '{name}'; names key the optimizer state"
            ),
            OptimError::ParamsChanged {
                index,
                expected,
                found,
            } => write!(
                f,
                "parameter {index}: the optimizer state was built for {expected}, but step got {found}"
            ),
            OptimError::NonFiniteGradient { norm } => write!(
                f,
                "the global gradient norm is {norm}; refusing to clip and step on a non-finite gradient"
            ),
            OptimError::BadState { problem } => write!(f, "optimizer state: {problem}"),
            OptimError::TooManyBuffers { kind, count, max } => write!(
                f,
                "{kind}: the update rule keeps {count} buffers per parameter, more than the {max} an optimizer step can hand it"
            ),
        }
    }
}

impl std::error::Error for OptimError {}
