//! Learning-rate schedules: each a pure function of how far training has got,
//! so a resumed run gets exactly the rates it would have had.
//!
//! String forms, for the trainer's `--schedule` flag:
//!
//! | form                   | learning rate at step `t` (from 0), epoch `e = t / steps_per_epoch` |
//! |------------------------|----------------------------------------------------------------------|
//! | `constant`             | `lr`                                                                 |
//! | `step:EPOCHS:GAMMA`    | `lr * GAMMA^floor(e / EPOCHS)`, e.g. `step:10:0.5` halves every 10 epochs |
//! | `exp:GAMMA`            | `lr * GAMMA^e` (once per epoch)                                      |
//! | `exp:GAMMA:step`       | `lr * GAMMA^t` (once per step)                                       |
//! | `cosine`, `cosine:FLOOR` | `f + (lr - f) * (1 + cos(pi * t / T)) / 2` with `f = FLOOR * lr` (default 0), `T` the total steps; `f` after `T` (Loshchilov & Hutter 2017, SGDR, without restarts) |
//! | `warmup:STEPS+FORM`    | `lr * (t + 1) / STEPS` for `t < STEPS`, then `FORM` as if training began at step `STEPS` (its `T` shrinks by `STEPS`) (Goyal et al. 2017) |
//! | `warmup:STEPS`         | `warmup:STEPS+constant`                                              |
//!
//! ```
//! use optim::{Progress, Schedule};
//! let schedule: Schedule = "warmup:2+cosine".parse().unwrap();
//! let at = |step| Progress { step, steps_per_epoch: 10, total_steps: 6 };
//! assert_eq!(schedule.lr_at(0.1, at(0)), 0.05); // half-way up the ramp
//! assert_eq!(schedule.lr_at(0.1, at(2)), 0.1); // cosine starts at the top
//! assert!((schedule.lr_at(0.1, at(4)) - 0.05).abs() < 1e-8); // half-way down over 4 steps
//! assert_eq!(schedule.to_string(), "warmup:2+cosine");
//! ```

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use crate::OptimError;

/// The forms [`Schedule::from_str`] accepts, for error messages.
pub const SCHEDULE_FORMS: [&str; 6] = [
    "constant",
    "step:EPOCHS:GAMMA",
    "exp:GAMMA",
    "exp:GAMMA:step",
    "cosine[:FLOOR]",
    "warmup:STEPS[+SCHEDULE]",
];

/// How far training has got: all a schedule depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Optimizer steps completed before this one (0 for the first update).
    pub step: u64,
    /// Steps in one epoch (0 is read as 1).
    pub steps_per_epoch: u64,
    /// Steps in the whole run; cosine anneals over it (0 is read as 1).
    pub total_steps: u64,
}

impl Progress {
    fn epoch(&self) -> u64 {
        self.step / self.steps_per_epoch.max(1)
    }
}

/// What `Exponential` multiplies by `gamma` after each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    /// Counted in epochs: the rate changes when an epoch begins.
    Epoch,
    /// Counted in optimizer steps: the rate changes every step.
    Step,
}

/// A learning-rate schedule; see the module docs for each formula.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Times `gamma` every `epochs` epochs.
    StepDecay {
        /// Epochs between two decays.
        epochs: u64,
        /// The factor of each decay.
        gamma: f32,
    },
    /// Times `gamma` every epoch or every step.
    Exponential {
        /// The factor of each decay.
        gamma: f32,
        /// How often it applies.
        every: Every,
    },
    /// Half a cosine from the base rate down to `floor` over the run.
    Cosine {
        /// The last rate, as a fraction of the base learning rate.
        floor: f32,
    },
    /// `lr * (t + 1) / steps` for the first `steps` steps, then `then` as if
    /// training began there.
    Warmup {
        /// Steps of the linear ramp.
        steps: u64,
        /// The schedule after the ramp.
        then: Box<Schedule>,
    },
}

impl Schedule {
    /// The learning rate for the update after `at.step` completed steps,
    /// computed in f64 and rounded once.
    pub fn lr_at(&self, base_lr: f32, at: Progress) -> f32 {
        self.factor_at(at) as f32 * base_lr
    }

    /// The multiplier of the base rate, in f64.
    fn factor_at(&self, at: Progress) -> f64 {
        match self {
            Schedule::Constant => 1.0,
            Schedule::StepDecay { epochs, gamma } => {
                f64::from(*gamma).powf((at.epoch() / epochs.max(&1)) as f64)
            }
            Schedule::Exponential { gamma, every } => {
                let count = match every {
                    Every::Epoch => at.epoch(),
                    Every::Step => at.step,
                };
                f64::from(*gamma).powf(count as f64)
            }
            Schedule::Cosine { floor } => {
                let total = at.total_steps.max(1);
                let fraction = at.step.min(total) as f64 / total as f64;
                let floor = f64::from(*floor);
                floor + (1.0 - floor) * (1.0 + (PI * fraction).cos()) / 2.0
            }
            Schedule::Warmup { steps, then } => {
                if at.step < *steps {
                    (at.step + 1) as f64 / *steps as f64
                } else {
                    then.factor_at(Progress {
                        step: at.step - steps,
                        steps_per_epoch: at.steps_per_epoch,
                        total_steps: at.total_steps.saturating_sub(*steps),
                    })
                }
            }
        }
    }
}

impl FromStr for Schedule {
    type Err = OptimError;

    /// Parses the forms in the module docs, e.g. `"warmup:500+cosine:0.01"`.
    fn from_str(spec: &str) -> Result<Self, OptimError> {
        let bad = |problem: String| OptimError::BadSchedule {
            spec: spec.to_string(),
            problem,
        };
        let (head, rest) = match spec.split_once('+') {
            Some((head, rest)) => (head, Some(rest)),
            None => (spec, None),
        };
        let fields: Vec<&str> = head.trim().split(':').collect();
        let gamma = |text: &str| -> Result<f32, OptimError> {
            match text.parse::<f32>() {
                Ok(g) if g.is_finite() && g > 0.0 => Ok(g),
                _ => Err(bad(format!("GAMMA must be a number > 0, got '{text}'"))),
            }
        };
        let count = |what: &str, text: &str| -> Result<u64, OptimError> {
            match text.parse::<u64>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(bad(format!(
                    "{what} must be a whole number > 0, got '{text}'"
                ))),
            }
        };
        let schedule = match fields[..] {
            ["warmup", steps] => Schedule::Warmup {
                steps: count("STEPS", steps)?,
                then: Box::new(match rest {
                    Some(rest) => rest.parse().map_err(|e| match e {
                        OptimError::BadSchedule { problem, .. } => bad(problem),
                        other => other,
                    })?,
                    None => Schedule::Constant,
                }),
            },
            _ if rest.is_some() => {
                return Err(bad("only warmup:STEPS can be followed by '+'".into()))
            }
            ["constant"] => Schedule::Constant,
            ["step", epochs, g] => Schedule::StepDecay {
                epochs: count("EPOCHS", epochs)?,
                gamma: gamma(g)?,
            },
            ["exp", g] => Schedule::Exponential {
                gamma: gamma(g)?,
                every: Every::Epoch,
            },
            ["exp", g, "step"] => Schedule::Exponential {
                gamma: gamma(g)?,
                every: Every::Step,
            },
            ["cosine"] => Schedule::Cosine { floor: 0.0 },
            ["cosine", floor] => match floor.parse::<f32>() {
                Ok(f) if (0.0..=1.0).contains(&f) => Schedule::Cosine { floor: f },
                _ => {
                    return Err(bad(format!(
                        "FLOOR is a fraction of the learning rate in [0, 1], got '{floor}'"
                    )))
                }
            },
            _ => return Err(bad(format!("'{head}' is not a known form"))),
        };
        Ok(schedule)
    }
}

impl fmt::Display for Schedule {
    /// The string form `from_str` reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Constant => write!(f, "constant"),
            Schedule::StepDecay { epochs, gamma } => write!(f, "step:{epochs}:{gamma}"),
            Schedule::Exponential { gamma, every } => match every {
                Every::Epoch => write!(f, "exp:{gamma}"),
                Every::Step => write!(f, "exp:{gamma}:step"),
            },
            Schedule::Cosine { floor } if *floor == 0.0 => write!(f, "cosine"),
            Schedule::Cosine { floor } => write!(f, "cosine:{floor}"),
            Schedule::Warmup { steps, then } => match **then {
                Schedule::Constant => write!(f, "warmup:{steps}"),
                _ => write!(f, "warmup:{steps}+{then}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_round_trips_through_its_string() {
        for spec in [
            "constant",
            "step:10:0.5",
            "exp:0.95",
            "exp:0.9999:step",
            "cosine",
            "cosine:0.01",
            "warmup:500",
            "warmup:500+cosine",
            "warmup:3+step:2:0.1",
        ] {
            let schedule: Schedule = spec.parse().unwrap();
            assert_eq!(schedule.to_string(), spec);
        }
    }

    #[test]
    fn bad_strings_are_errors_that_list_the_valid_forms() {
        for spec in [
            "",
            "linear",
            "step:10",
            "step:0:0.5",
            "step:ten:0.5",
            "exp:-1",
            "exp:nan",
            "exp:0.9:epoch",
            "cosine:2",
            "warmup:0+cosine",
            "warmup:10+",
            "warmup:10+bogus",
            "cosine+warmup:10",
        ] {
            let err = spec.parse::<Schedule>().unwrap_err();
            let message = err.to_string();
            assert!(message.contains(&format!("'{spec}'")), "{message}");
            assert!(message.contains("step:EPOCHS:GAMMA"), "{message}");
        }
    }
}
