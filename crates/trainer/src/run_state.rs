//! Everything a training run carries from step to step, in one value: what
//! a checkpoint saves and loads whole, so resuming is loading it and
//! carrying on. Randomness has no state of its own here: the data order of
//! an epoch is a function of (seed, epoch) and dropout is reseeded from
//! (seed, step), so the position is the RNG state.

use crate::config::TrainConfig;
use crate::report::EpochMetrics;
use nn::Sequential;
use optim::Optimizer;
use serde::{Deserialize, Serialize};

/// Where a run stands: `epoch` (from 0) is the one in progress, of which
/// `step_in_epoch` steps are done; `(epochs, 0)` means finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub epoch: usize,
    pub step_in_epoch: usize,
    /// Steps since the run began (drives the schedule and dropout seeds).
    pub global_step: u64,
}

/// The running sums of the epoch in progress (saved in a checkpoint, so an
/// interrupted epoch's metrics cover all of its steps).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochTally {
    pub loss_sum: f64,
    pub correct: u64,
    pub samples: u64,
    pub seconds: f64,
}

/// A run's resumable state.
pub struct RunState {
    /// The run's settings (a resumed run's, with the changes it allows).
    pub config: TrainConfig,
    pub model: Sequential,
    pub optimizer: Box<dyn Optimizer>,
    pub position: Position,
    /// The metrics of every finished epoch.
    pub history: Vec<EpochMetrics>,
    /// Sums over the steps of the epoch in progress.
    pub tally: EpochTally,
}

impl RunState {
    /// A run about to take its first step.
    pub fn start(config: TrainConfig, model: Sequential, optimizer: Box<dyn Optimizer>) -> Self {
        RunState {
            config,
            model,
            optimizer,
            position: Position::default(),
            history: Vec::new(),
            tally: EpochTally::default(),
        }
    }
}
