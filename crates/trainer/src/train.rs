//! `trainer train`: set up (config, data, model, optimizer, run folder), then
//! the loop, which fits on a screen: for each epoch, for each batch, forward,
//! loss, backward, step; after each epoch, validate, report, checkpoint.

use crate::augment;
use crate::checkpoint::{self, Position};
use crate::cli::{ActivationName, InitName, OptimizerName, TrainArgs};
use crate::config::{DataSource, TrainConfig};
use crate::error::Error;
use crate::evaluate::{evaluate, Evaluation, PIXELS};
use crate::files::{lock_run_dir, new_run_dir, write_json, RunFolderLock};
use crate::progress::{count_of, short_number, Progress};
use crate::report::{self, EpochMetrics};
use mnist_data::{Batch, BatchOptions, Batches, Dataset, Pixels};
use nn::{softmax_cross_entropy, Activation, Init, ModelSpec, Sequential, Targets};
use optim::{optimizer_by_name, AdamConfig, CommonSettings, Optimizer, Param, Schedule, SgdConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What `train --json` prints, and the closing summary.
#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    pub test_accuracy: f32,
    pub test_loss: f32,
    pub epochs: usize,
    /// Time spent in training steps only (evaluation excluded), all epochs.
    pub train_seconds: f64,
    pub samples_per_second: f64,
    pub model: PathBuf,
    pub checkpoint: PathBuf,
    pub run_dir: PathBuf,
    pub preset: String,
    /// The network in the spec language (`--layers` reads it back).
    pub architecture: String,
    pub parameters: usize,
    pub history: Vec<EpochMetrics>,
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

/// The network of `config`: its `--layers` spec, with `--activation` as
/// the hidden activation unless the spec names one (`hidden=`), and
/// `--dropout` after every hidden dense layer when set.
pub fn model_spec(config: &TrainConfig) -> Result<ModelSpec, Error> {
    let spec = ModelSpec::parse(&config.layers)?;
    let spec = if config.layers.contains("hidden=") {
        spec
    } else {
        spec.hidden(match config.activation {
            ActivationName::Relu => Activation::Relu,
            ActivationName::Sigmoid => Activation::Sigmoid,
            ActivationName::Tanh => Activation::Tanh,
            ActivationName::LeakyRelu => Activation::LeakyRelu(0.01),
        })
    };
    Ok(if config.dropout > 0.0 {
        spec.dropout(config.dropout)
    } else {
        spec
    })
}

fn init(config: &TrainConfig) -> Init {
    match (config.init, config.activation) {
        (InitName::He, _) => Init::HeNormal,
        (InitName::Xavier, _) => Init::XavierNormal,
        // He et al. 2015 for rectifiers, Glorot & Bengio 2010 for saturating units.
        (InitName::Auto, ActivationName::Relu | ActivationName::LeakyRelu) => Init::HeNormal,
        (InitName::Auto, ActivationName::Sigmoid | ActivationName::Tanh) => Init::XavierNormal,
    }
}

/// `optim`'s constructor by name, except when `--momentum` is set, which
/// `CommonSettings` does not carry: then the SGD or Adam config is built here.
pub fn build_optimizer(config: &TrainConfig) -> Result<Box<dyn Optimizer>, Error> {
    let (lr, weight_decay) = (config.lr, config.weight_decay);
    use OptimizerName as Name;
    Ok(match (config.optimizer, config.momentum) {
        (Name::Sgd | Name::Momentum | Name::Nesterov, Some(momentum)) => {
            Box::new(optim::Sgd::new(SgdConfig {
                lr,
                momentum,
                nesterov: config.optimizer == Name::Nesterov,
                weight_decay,
                clip_norm: None,
            })?)
        }
        (Name::Adam | Name::AdamW, Some(beta1)) => {
            let defaults = if config.optimizer == Name::AdamW {
                AdamConfig::adamw()
            } else {
                AdamConfig::default()
            };
            Box::new(optim::Adam::new(AdamConfig {
                lr,
                beta1,
                weight_decay,
                ..defaults
            })?)
        }
        (kind, _) => {
            let settings = CommonSettings {
                lr: Some(lr),
                weight_decay: Some(weight_decay),
                clip_norm: None,
            };
            optimizer_by_name(kind.as_str(), &settings)?
        }
    })
}

/// Dropout's seed for global step `step`, so masks are a function of the
/// position in the run. `A + 256 * step`, plus the layer index that
/// `reseed_dropout` adds, is distinct for every step and (up to 256) layer;
/// `StdRng::seed_from_u64` scrambles its input (PCG32), so no mixing is
/// needed here.
fn dropout_seed(seed: u64, step: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(step << 8)
}

/// The seed of a step's random shifts: the dropout seeds of that step use
/// `dropout_seed + layer` for layers below 255, so `+ 255` is its own.
fn augment_seed(seed: u64, step: u64) -> u64 {
    dropout_seed(seed, step).wrapping_add(255)
}

/// The three sets a run uses.
struct Datasets {
    train: Dataset,
    validation: Option<Dataset>,
    test: Dataset,
}

/// Everything a run carries from step to step.
struct Run {
    config: TrainConfig,
    schedule: Schedule,
    model: Sequential,
    optimizer: Box<dyn Optimizer>,
    position: Position,
    history: Vec<EpochMetrics>,
    tally: EpochTally,
    steps_per_epoch: u64,
    run_dir: PathBuf,
    /// Held until the run ends: no other run writes into `run_dir` meanwhile.
    _lock: RunFolderLock,
    progress: Progress,
}

/// The loop: for each epoch, for each batch, forward, loss, backward, step;
/// after each epoch, validate, report, checkpoint. Ctrl-C (`stop`) ends it
/// after the current step with a checkpoint.
pub fn run(args: &TrainArgs, stop: &AtomicBool) -> Result<TrainReport, Error> {
    let (mut run, data) = Run::set_up(args)?;
    let mut batches =
        Batches::new(&data.train, run.batch_options()).map_err(|e| Error::Data(e.to_string()))?;
    let (mut batch, mut dlogits, mut predicted) =
        (Batch::new(), tensor::Matrix::zeros(0, 0), Vec::new());
    // For --augment and the distortions: changed copies of the batch,
    // blank pixels where an image leaves the frame.
    let (mut shifted, blank) = (tensor::Matrix::zeros(0, 0), PIXELS.table()[0]);
    let mut augmenter = augment::Augmenter::new();
    let distortion = run.config.distortion.augment_config(run.config.augment);
    while run.position.epoch < run.config.epochs {
        batches.start_epoch(run.position.epoch as u64);
        batches.skip_batches(run.position.step_in_epoch);
        run.start_epoch();
        // A resumed epoch's time so far is in the tally: add this session's.
        let (resumed_at, seconds_before) = (Instant::now(), run.tally.seconds);
        while batches.next_batch(&mut batch) {
            run.optimizer.set_learning_rate(run.learning_rate());
            run.model
                .reseed_dropout(dropout_seed(run.config.seed, run.position.global_step));
            let seed = augment_seed(run.config.seed, run.position.global_step);
            let images = match (run.config.augment, run.config.distortion.is_none()) {
                (0, true) => batch.images().view(),
                // Whole-pixel shifts alone keep their own, faster path.
                (max_shift, true) => {
                    augment::shift_batch(batch.images(), &mut shifted, max_shift, seed, blank);
                    shifted.view()
                }
                (_, false) => {
                    let side = crate::picture::SIDE;
                    augmenter.augment_batch(
                        batch.images(),
                        &mut shifted,
                        side,
                        &distortion,
                        seed,
                        blank,
                    );
                    shifted.view()
                }
            };
            let logits = run.model.forward(images)?;
            let loss = softmax_cross_entropy(
                logits.view(),
                Targets::Classes(batch.labels()),
                &mut dlogits,
            )?;
            if !loss.is_finite() {
                let step = run.position.step_in_epoch + 1;
                return Err(run.diverged(step, format!("the loss became {loss}")));
            }
            predicted.resize(batch.len(), 0);
            tensor::ops::row_argmax(logits.view(), &mut predicted).map_err(nn::NnError::from)?;
            run.model.backward(images, dlogits.view())?;
            (run.optimizer).step_iter(&mut run.model.params_mut().map(Param::from))?;

            run.count_step(loss, &predicted, batch.labels());
            run.tally.seconds = seconds_before + resumed_at.elapsed().as_secs_f64();
            if stop.load(Ordering::SeqCst) {
                return Err(run.interrupted()?);
            }
        }
        run.end_epoch(data.validation.as_ref())?;
    }
    run.finish(&data.test)
}

impl Run {
    /// Settings (a resumed run's own or a preset's, flags on top), data,
    /// model and optimizer (fresh or as the checkpoint left them), folder.
    fn set_up(args: &TrainArgs) -> Result<(Run, Datasets), Error> {
        let resumed = match &args.resume {
            Some(path) => Some(checkpoint::load(path)?),
            None => None,
        };
        let mut config = TrainConfig::resolve(args, resumed.as_ref().map(|c| c.config.clone()))?;
        if let Some(saved) = &resumed {
            config.note_resumption(
                &saved.config,
                saved.position.epoch,
                saved.position.global_step,
            );
        }
        if let Some(threads) = config.threads {
            tensor::set_threads(threads);
        }
        let schedule: Schedule = config.schedule.parse()?;

        let set = config.data.load(config.limit)?;
        let (train, validation) = if config.val_split > 0.0 {
            let (train, validation) = crate::data::split_validation(set.train, config.val_split)?;
            // A tiny --limit can leave nothing to validate on.
            (train, Some(validation).filter(|v| !v.is_empty()))
        } else {
            (set.train, None)
        };
        if train.is_empty() {
            return Err(Error::Data(format!(
                "{}: the training set is empty",
                config.data.describe()
            )));
        }
        let data = Datasets {
            train,
            validation,
            test: set.test,
        };

        let spec = model_spec(&config)?;
        let (model, optimizer, position, history, tally) = match resumed {
            Some(saved) => {
                if saved.model.spec() != &spec {
                    return Err(Error::Usage(format!(
                        "the checkpoint holds a {} network; --layers, --activation and --dropout \
                         cannot change when resuming",
                        saved.model.spec()
                    )));
                }
                // Its problem is the checkpoint's: name the file.
                let optimizer = optim::optimizer_from_state(&saved.optimizer).map_err(|e| {
                    Error::model(
                        args.resume.as_deref().unwrap_or(Path::new("")),
                        e.to_string(),
                    )
                })?;
                (
                    saved.model,
                    optimizer,
                    saved.position,
                    saved.history,
                    saved.tally,
                )
            }
            None => {
                let model = Sequential::new(&spec, init(&config), config.seed)?;
                let start = Position {
                    epoch: 0,
                    step_in_epoch: 0,
                    global_step: 0,
                };
                (
                    model,
                    build_optimizer(&config)?,
                    start,
                    Vec::new(),
                    EpochTally::default(),
                )
            }
        };

        // The run folder: --out, else the resumed run's folder, else a new one.
        let run_dir = match (&args.out, &args.resume) {
            (Some(dir), _) => dir.clone(),
            (None, Some(checkpoint)) => checkpoint
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf(),
            (None, None) => new_run_dir(Path::new("runs"))?,
        };
        let lock = lock_run_dir(&run_dir, args.resume.as_deref(), args.overwrite)?;
        config.threads = Some(tensor::threads());
        // A resumed run's config.json is rewritten with its next checkpoint:
        // a run that diverges first leaves it describing the weights there.
        if args.resume.is_none() {
            write_json(&run_dir.join("config.json"), &config)?;
        }

        let steps_per_epoch = data.train.len().div_ceil(config.batch_size) as u64;
        let run = Run {
            config,
            schedule,
            model,
            optimizer,
            position,
            history,
            tally,
            steps_per_epoch,
            run_dir,
            _lock: lock,
            progress: Progress::new(args.json, args.log_every),
        };
        run.describe(&data);
        Ok((run, data))
    }

    fn describe(&self, data: &Datasets) {
        let config = &self.config;
        self.progress.line(&format!(
            "data: {} training, {} validation, {} test images",
            data.train.len(),
            data.validation.as_ref().map_or(0, Dataset::len),
            data.test.len()
        ));
        let mut extras = String::new();
        if config.augment > 0 {
            extras.push_str(&format!(", shifts up to {} px", config.augment));
        }
        let d = &config.distortion;
        for (value, text) in [
            (d.rotate, format!("rotations up to {} deg", d.rotate)),
            (d.scale, format!("scaling by up to {}%", d.scale * 100.0)),
            (d.shear, format!("shear up to {} deg", d.shear)),
            (
                d.elastic_alpha,
                format!(
                    "elastic alpha {} sigma {}",
                    d.elastic_alpha, d.elastic_sigma
                ),
            ),
        ] {
            if value > 0.0 {
                extras.push_str(&format!(", {text}"));
            }
        }
        self.progress.line(&format!(
            "network: {}{extras} ({} parameters); {} lr {}, {} schedule, batch {}, {}, {} threads",
            self.model.spec().summary(),
            self.model.parameter_count(),
            config.optimizer.as_str(),
            short_number(config.lr),
            config.schedule,
            config.batch_size,
            count_of(config.epochs, "epoch"),
            tensor::threads()
        ));
        self.progress
            .line(&format!("run folder: {}", self.run_dir.display()));
    }

    /// Shuffled each epoch by (seed, epoch); every batch full but the last.
    fn batch_options(&self) -> BatchOptions {
        BatchOptions {
            batch_size: self.config.batch_size,
            shuffle_seed: Some(self.config.seed),
            pixels: PIXELS,
            ..BatchOptions::default()
        }
    }

    fn checkpoint_path(&self) -> PathBuf {
        self.run_dir.join("checkpoint")
    }

    fn start_epoch(&mut self) {
        let (epoch, done) = (self.position.epoch, self.position.step_in_epoch as u64);
        self.progress
            .start_epoch(epoch, self.config.epochs, self.steps_per_epoch, done);
    }

    /// The schedule's rate for the step about to be taken.
    fn learning_rate(&self) -> f32 {
        let at = optim::Progress {
            step: self.position.global_step,
            steps_per_epoch: self.steps_per_epoch,
            // Saturating: an absurd --epochs must not overflow (a panic in debug builds).
            total_steps: self
                .steps_per_epoch
                .saturating_mul(self.config.epochs as u64),
        };
        self.schedule.lr_at(self.config.lr, at)
    }

    fn count_step(&mut self, loss: f32, predicted: &[usize], labels: &[usize]) {
        let tally = &mut self.tally;
        tally.correct += predicted.iter().zip(labels).filter(|(p, l)| p == l).count() as u64;
        tally.loss_sum += f64::from(loss) * labels.len() as f64;
        tally.samples += labels.len() as u64;
        self.position.step_in_epoch += 1;
        self.position.global_step += 1;
        let running_loss = (tally.loss_sum / tally.samples as f64) as f32;
        self.progress.step(labels.len(), running_loss);
    }

    /// The checkpoint, and `config.json` beside it saying how it was made.
    fn save_checkpoint(&self) -> Result<(), Error> {
        checkpoint::save(
            &self.checkpoint_path(),
            &self.config,
            &self.model,
            self.optimizer.as_ref(),
            self.position,
            &self.history,
            self.tally,
        )?;
        write_json(&self.run_dir.join("config.json"), &self.config)
    }

    /// Training has gone wrong (`cause`) by `step` of the current epoch:
    /// the error, naming the last good checkpoint (written at the end of the
    /// previous epoch), which is left as it is.
    fn diverged(&self, step: usize, cause: String) -> Error {
        let checkpoint = self.checkpoint_path();
        Error::Diverged {
            epoch: self.position.epoch + 1,
            step,
            cause,
            suggested_lr: self.config.lr.to_string().parse::<f64>().unwrap_or(0.0) / 10.0,
            checkpoint: checkpoint.exists().then_some(checkpoint),
        }
    }

    /// Divergence as people mean it, beyond a NaN loss (which the loop
    /// catches at once): a weight that is NaN or infinite (ReLU can hide
    /// NaN weights from the loss), or an epoch whose mean training loss is
    /// more than 10 times the first epoch's and more than 3 times chance
    /// level, ln(10) (the loss of a uniform guess). Before the first epoch
    /// ends, chance level stands in for it. Adam at `--lr 1e6` ended
    /// with a loss of 7e21, 11% accuracy and exit 0.
    fn check_divergence(&self, mean_loss: Option<f32>) -> Result<(), Error> {
        if let Err(nn::NnError::NonFinite {
            name, index, value, ..
        }) = nn::check_finite(Path::new(""), self.model.tensors())
        {
            let cause = format!("the weights became non-finite ({name}[{index}] = {value})");
            return Err(self.diverged(self.position.step_in_epoch, cause));
        }
        let chance = (crate::config::CLASSES as f32).ln();
        let (first, which) = match self.history.first() {
            Some(m) => (m.train_loss, "the first epoch's"),
            None => (chance, "chance level, ln(10) ="),
        };
        match mean_loss {
            Some(loss) if loss > 3.0 * chance && loss > 10.0 * first => {
                let cause = format!(
                    "the epoch's mean training loss {loss:.4e} is more than 10 times {which} \
                     {first:.4}"
                );
                Err(self.diverged(self.position.step_in_epoch, cause))
            }
            _ => Ok(()),
        }
    }

    /// Ctrl-C: checkpoint where we are, then report it.
    fn interrupted(&self) -> Result<Error, Error> {
        self.check_divergence(None)?;
        self.save_checkpoint()?;
        Ok(Error::Interrupted(self.checkpoint_path()))
    }

    /// Validate, report, checkpoint.
    fn end_epoch(&mut self, validation: Option<&Dataset>) -> Result<(), Error> {
        let validated = validation
            .map(|v| evaluate(&mut self.model, v))
            .transpose()?;
        let tally = self.tally;
        let metrics = EpochMetrics {
            epoch: self.position.epoch + 1,
            train_loss: (tally.loss_sum / tally.samples.max(1) as f64) as f32,
            train_accuracy: (tally.correct as f64 / tally.samples.max(1) as f64) as f32,
            val_loss: validated.as_ref().map(|v| v.loss),
            val_accuracy: validated.as_ref().map(|v| v.accuracy),
            lr: self.optimizer.learning_rate(),
            seconds: tally.seconds,
            samples_per_second: tally.samples as f64 / tally.seconds.max(1e-9),
        };
        self.progress
            .finish_epoch(&epoch_line(&metrics, self.config.epochs));
        self.check_divergence(Some(metrics.train_loss))?;
        self.history.push(metrics);
        self.position.epoch += 1;
        self.position.step_in_epoch = 0;
        self.tally = EpochTally::default();
        self.save_checkpoint()?;
        report::write_metrics(&self.run_dir.join("metrics.jsonl"), &self.history)?;
        let curves = report::learning_curves_svg(&self.history);
        crate::files::write_atomic(&self.run_dir.join("learning_curves.svg"), curves.as_bytes())
    }

    /// Test, save the model and the pictures, sum up.
    /// What the saved model says about itself beside its architecture: how
    /// its inputs are scaled, what it was trained on and how, how well it
    /// did, and where (`trainer info` and `export` show it).
    fn model_card(
        &self,
        tested: &Evaluation,
        test_images: usize,
        train_seconds: f64,
    ) -> BTreeMap<String, String> {
        let config = &self.config;
        let data = match &config.data {
            DataSource::Idx { dir } => dir
                .as_ref()
                .map_or("the bundled MNIST (data/mnist)".to_string(), |d| {
                    d.display().to_string()
                }),
            DataSource::Csv { train, .. } => train.display().to_string(),
        };
        BTreeMap::from([
            (
                "input_scaling".to_string(),
                "pixel / 255 (0-255 becomes 0-1)".to_string(),
            ),
            (Pixels::METADATA_KEY.to_string(), PIXELS.to_metadata()),
            (
                "parameters".to_string(),
                self.model.parameter_count().to_string(),
            ),
            ("training_data".to_string(), data),
            ("preset".to_string(), config.preset.clone()),
            (
                "settings".to_string(),
                serde_json::to_string(config).expect("plain data serialises"),
            ),
            ("epochs".to_string(), self.history.len().to_string()),
            (
                "test_accuracy".to_string(),
                format!("{:.4}", tested.accuracy),
            ),
            ("test_images".to_string(), test_images.to_string()),
            (
                "training_seconds".to_string(),
                format!("{train_seconds:.1}"),
            ),
            ("machine".to_string(), crate::files::cpu_name()),
            (
                "trainer_version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
        ])
    }

    fn finish(mut self, test: &Dataset) -> Result<TrainReport, Error> {
        let tested = evaluate(&mut self.model, test)?;
        let model_path = self.run_dir.join("model.safetensors");
        let train_seconds: f64 = self.history.iter().map(|m| m.seconds).sum();
        let card = self.model_card(&tested, test.len(), train_seconds);
        self.model.save_with(&model_path, &card)?;
        report::write_metrics(&self.run_dir.join("metrics.jsonl"), &self.history)?;
        write_test_pictures(&self.run_dir, &self.history, test, &tested, &self.model)?;
        let samples: f64 = self
            .history
            .iter()
            .map(|m| m.samples_per_second * m.seconds)
            .sum();
        Ok(TrainReport {
            test_accuracy: tested.accuracy,
            test_loss: tested.loss,
            epochs: self.history.len(),
            train_seconds,
            samples_per_second: samples / train_seconds.max(1e-9),
            model: model_path,
            checkpoint: self.checkpoint_path(),
            preset: self.config.preset.clone(),
            architecture: self.model.spec().summary(),
            parameters: self.model.parameter_count(),
            run_dir: self.run_dir,
            history: self.history,
        })
    }
}

fn epoch_line(m: &EpochMetrics, epochs: usize) -> String {
    let validation = match (m.val_loss, m.val_accuracy) {
        (Some(loss), Some(accuracy)) => format!("val loss {loss:.4} acc {:.2}%", 100.0 * accuracy),
        _ => "no validation set".to_string(),
    };
    format!(
        "epoch {}/{epochs}: train loss {:.4} acc {:.2}%, {validation}, lr {}, {:.1} s ({:.0} samples/s)",
        m.epoch,
        m.train_loss,
        100.0 * m.train_accuracy,
        short_number(m.lr),
        m.seconds,
        m.samples_per_second
    )
}

/// The confusion matrix and the digit grid of the test set.
pub fn write_test_pictures(
    dir: &Path,
    history: &[EpochMetrics],
    test: &Dataset,
    tested: &Evaluation,
    model: &Sequential,
) -> Result<(), Error> {
    let grid = report::DigitGrid::of(test, &tested.predictions, 50, 30);
    report::write_plots(dir, history, &tested.confusion, &grid, model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_seeds_differ_by_step_and_seed() {
        let seeds: Vec<u64> = (0..1000).map(|step| dropout_seed(42, step)).collect();
        let mut unique = seeds.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seeds.len());
        assert_ne!(dropout_seed(1, 0), dropout_seed(2, 0));
        assert_eq!(dropout_seed(7, 9), dropout_seed(7, 9));
    }

    #[test]
    fn momentum_reaches_the_optimizer() {
        let mut config = TrainConfig::from_preset(crate::presets::find("default").unwrap());
        config.optimizer = OptimizerName::Nesterov;
        config.momentum = Some(0.5);
        let state = build_optimizer(&config).unwrap().state();
        assert_eq!(state.kind, "nesterov");
        assert!(
            state.hyper.contains(&("momentum".to_string(), 0.5)),
            "{:?}",
            state.hyper
        );
        config.optimizer = OptimizerName::AdamW;
        let state = build_optimizer(&config).unwrap().state();
        assert_eq!(state.kind, "adamw");
        assert!(
            state.hyper.contains(&("beta1".to_string(), 0.5)),
            "{:?}",
            state.hyper
        );
        config.momentum = None;
        let state = build_optimizer(&config).unwrap().state();
        assert!(
            state.hyper.contains(&("beta1".to_string(), 0.9)),
            "{:?}",
            state.hyper
        );
    }
}
