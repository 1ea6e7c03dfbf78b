//! `trainer train`: set up (config, data, model, optimizer, run folder), then
//! the loop, which fits on a screen: for each epoch, for each batch, forward,
//! loss, backward, step; after each epoch, validate, report, checkpoint.

use crate::augment;
use crate::checkpoint;
use crate::cli::TrainArgs;
use crate::config::TrainConfig;
use crate::error::Error;
use crate::evaluate::{evaluate, Evaluation, PIXELS};
use crate::files::{lock_run_dir, new_run_dir, write_json, RunFolderLock};
use crate::options::{ActivationName, InitName};
use crate::progress::{count_of, short_number, Progress};
use crate::report::{self, EpochMetrics};
use crate::run_state::{EpochTally, RunState};
use mnist_data::{Batch, BatchOptions, Batches, Dataset, Pixels};
use nn::{softmax_cross_entropy, Activation, Init, ModelSpec, Sequential, Targets};
use optim::{optimizer_by_name, CommonSettings, Optimizer, Param, Schedule};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The git commit the trainer was built from (see build.rs), or "unknown".
pub const TRAINER_COMMIT: &str = env!("TRAINER_COMMIT");

/// What `train --json` prints, and the closing summary.
#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    pub test_accuracy: f32,
    pub test_loss: f32,
    pub epochs: usize,
    /// Time spent in training steps only (evaluation excluded), all epochs.
    pub train_seconds: f64,
    pub samples_per_second: f64,
    /// The files written; `None` with `--no-save`.
    pub model: Option<PathBuf>,
    pub checkpoint: Option<PathBuf>,
    pub run_dir: Option<PathBuf>,
    pub preset: String,
    /// The network in the spec language (`--layers` reads it back).
    pub architecture: String,
    pub parameters: usize,
    pub history: Vec<EpochMetrics>,
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

/// The run's optimizer, fresh: `optim` knows every name and setting.
pub fn build_optimizer(config: &TrainConfig) -> Result<Box<dyn Optimizer>, Error> {
    let settings = CommonSettings {
        lr: Some(config.lr),
        weight_decay: Some(config.weight_decay),
        clip_norm: None,
        momentum: config.momentum,
    };
    Ok(optimizer_by_name(config.optimizer.as_str(), &settings)?)
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

/// The run's data, cut to `--limit`, the validation set held out.
fn load_datasets(config: &TrainConfig) -> Result<Datasets, Error> {
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
    Ok(Datasets {
        train,
        validation,
        test: set.test,
    })
}

/// A new run's state: a fresh optimizer, and the model initialised at
/// random or (`--init-from`) from saved weights of the same network.
fn start(config: TrainConfig) -> Result<RunState, Error> {
    let spec = model_spec(&config)?;
    let model = match &config.init_from {
        // Fine-tuning: the file must hold this run's network.
        Some(path) => crate::model_file::load(path, Some(&spec.to_string()))?.model,
        None => Sequential::new(&spec, init(&config), config.seed)?,
    };
    let optimizer = build_optimizer(&config)?;
    Ok(RunState::start(config, model, optimizer))
}

/// A checkpoint's state, carrying on under `config` (its own settings with
/// the changes resuming allows).
fn continue_from(saved: RunState, config: TrainConfig) -> Result<RunState, Error> {
    if saved.model.spec() != &model_spec(&config)? {
        return Err(Error::Usage(format!(
            "the checkpoint holds a {} network; --layers, --activation and --dropout \
             cannot change when resuming",
            saved.model.spec()
        )));
    }
    Ok(RunState { config, ..saved })
}

/// The run folder: --out, else the resumed run's folder, else a new one
/// under `runs/`; none with --no-save.
fn open_folder(args: &TrainArgs) -> Result<Option<RunFolder>, Error> {
    let dir = match (&args.out, &args.resume) {
        _ if args.no_save => return Ok(None),
        (Some(dir), _) => dir.clone(),
        (None, Some(checkpoint)) => checkpoint
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf(),
        (None, None) => new_run_dir(Path::new("runs"))?,
    };
    Ok(Some(RunFolder {
        _lock: lock_run_dir(&dir, args.resume.as_deref(), args.overwrite)?,
        dir,
    }))
}

/// Where step `step` stands in a run of `epochs` epochs, for the schedule.
fn progress_at(step: u64, steps_per_epoch: u64, epochs: usize) -> optim::Progress {
    optim::Progress {
        step,
        steps_per_epoch,
        // Saturating: an absurd --epochs must not overflow (a panic in debug builds).
        total_steps: steps_per_epoch.saturating_mul(epochs as u64),
    }
}

/// A run: its resumable state (what a checkpoint holds) and what is
/// derived from it or belongs to this session.
struct Run {
    state: RunState,
    schedule: Schedule,
    steps_per_epoch: u64,
    /// `DataSource::checksum`, taken once when the run starts.
    data_checksum: String,
    /// Where the run's files go; `None` with `--no-save`.
    folder: Option<RunFolder>,
    progress: Progress,
}

/// A run's folder, locked for as long as the run lasts.
struct RunFolder {
    dir: PathBuf,
    /// Held until the run ends: no other run writes into `dir` meanwhile.
    _lock: RunFolderLock,
}

/// What a step works in, reused from step to step: the batch, the loss
/// gradient, the predicted classes, and for --augment and the distortions
/// a changed copy of the batch.
struct StepBuffers {
    batch: Batch,
    dlogits: tensor::Matrix,
    predicted: Vec<usize>,
    augmented: tensor::Matrix,
    augmenter: augment::Augmenter,
    distortion: augment::AugmentConfig,
}

/// The loop: for each epoch, for each batch, a training step; after each
/// epoch, validate, report, checkpoint. Ctrl-C (`stop`) ends it after the
/// current step with a checkpoint.
pub fn run(args: &TrainArgs, stop: &AtomicBool) -> Result<TrainReport, Error> {
    let (mut run, data) = Run::set_up(args)?;
    let mut batches =
        Batches::new(&data.train, run.batch_options()).map_err(|e| Error::Data(e.to_string()))?;
    let config = &run.state.config;
    let mut buffers = StepBuffers {
        batch: Batch::new(),
        dlogits: tensor::Matrix::zeros(0, 0),
        predicted: Vec::new(),
        augmented: tensor::Matrix::zeros(0, 0),
        augmenter: augment::Augmenter::new(),
        distortion: config.distortion.augment_config(config.augment),
    };
    while run.state.position.epoch < run.state.config.epochs {
        let position = run.state.position;
        batches.start_epoch(position.epoch as u64);
        batches.skip_batches(position.step_in_epoch);
        run.start_epoch();
        // A resumed epoch's time so far is in the tally: add this session's.
        let (resumed_at, seconds_before) = (Instant::now(), run.state.tally.seconds);
        while batches.next_batch(&mut buffers.batch) {
            run.train_step(&mut buffers)?;
            run.state.tally.seconds = seconds_before + resumed_at.elapsed().as_secs_f64();
            if stop.load(Ordering::SeqCst) {
                return Err(run.interrupted()?);
            }
        }
        run.end_epoch(&data)?;
    }
    run.finish(&data.test)
}

impl Run {
    /// Settings (a resumed run's own or a preset's, flags on top), data,
    /// the run's state (fresh or as the checkpoint left it), folder.
    fn set_up(args: &TrainArgs) -> Result<(Run, Datasets), Error> {
        let resumed = match &args.resume {
            Some(path) => Some(checkpoint::load(path)?),
            None => None,
        };
        let mut config = TrainConfig::resolve(args, resumed.as_ref().map(|r| r.config.clone()))?;
        if let Some(saved) = &resumed {
            let at = saved.position;
            config.note_resumption(&saved.config, at.epoch, at.global_step);
        }
        if let Some(threads) = config.threads {
            tensor::set_threads(threads);
        }
        let schedule: Schedule = config.schedule.parse()?;
        let data = load_datasets(&config)?;
        let data_checksum = config.data.checksum()?;
        config.threads = Some(tensor::threads());
        let state = match resumed {
            Some(saved) => continue_from(saved, config)?,
            None => start(config)?,
        };
        // Last, so that a mistake found above leaves no folder behind.
        let folder = open_folder(args)?;
        // A resumed run's config.json is rewritten with its next checkpoint:
        // a run that diverges first leaves it describing the weights there.
        if let (Some(folder), None) = (&folder, &args.resume) {
            write_json(&folder.dir.join("config.json"), &state.config)?;
        }
        let run = Run {
            steps_per_epoch: data.train.len().div_ceil(state.config.batch_size) as u64,
            state,
            schedule,
            data_checksum,
            folder,
            progress: Progress::new(args.json, args.log_every),
        };
        run.describe(&data);
        Ok((run, data))
    }

    /// One step on the batch in `buffers`: forward, loss, backward, update.
    fn train_step(&mut self, buffers: &mut StepBuffers) -> Result<(), Error> {
        let state = &mut self.state;
        let (config, step) = (&state.config, state.position.global_step);
        state.optimizer.set_learning_rate(self.schedule.lr_at(
            config.lr,
            progress_at(step, self.steps_per_epoch, config.epochs),
        ));
        state.model.reseed_dropout(dropout_seed(config.seed, step));
        let seed = augment_seed(config.seed, step);
        let (batch, blank) = (&buffers.batch, PIXELS.table()[0]);
        let images = match (config.augment, config.distortion.is_none()) {
            (0, true) => batch.images().view(),
            // Whole-pixel shifts alone keep their own, faster path.
            (max_shift, true) => {
                let augmented = &mut buffers.augmented;
                augment::shift_batch(batch.images(), augmented, max_shift, seed, blank);
                buffers.augmented.view()
            }
            (_, false) => {
                let side = crate::picture::SIDE;
                buffers.augmenter.augment_batch(
                    batch.images(),
                    &mut buffers.augmented,
                    side,
                    &buffers.distortion,
                    seed,
                    blank,
                );
                buffers.augmented.view()
            }
        };
        let logits = state.model.forward(images)?;
        let loss = softmax_cross_entropy(
            logits.view(),
            Targets::Classes(batch.labels()),
            &mut buffers.dlogits,
        )?;
        if !loss.is_finite() {
            let step = state.position.step_in_epoch + 1;
            return Err(self.diverged(step, format!("the loss became {loss}")));
        }
        buffers.predicted.resize(batch.len(), 0);
        tensor::ops::row_argmax(logits.view(), &mut buffers.predicted)
            .map_err(nn::NnError::from)?;
        state.model.backward(images, buffers.dlogits.view())?;
        (state.optimizer).step_iter(&mut state.model.params_mut().map(Param::from))?;
        self.count_step(loss, &buffers.predicted, batch.labels());
        Ok(())
    }

    fn describe(&self, data: &Datasets) {
        let config = &self.state.config;
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
            self.state.model.spec().summary(),
            self.state.model.parameter_count(),
            config.optimizer.as_str(),
            short_number(config.lr),
            config.schedule,
            config.batch_size,
            count_of(config.epochs, "epoch"),
            tensor::threads()
        ));
        let folder = self.folder.as_ref();
        let folder = folder.map_or("none, nothing is saved (--no-save)".into(), |f| {
            f.dir.display().to_string()
        });
        self.progress.line(&format!("run folder: {folder}"));
        if let Some(path) = &config.init_from {
            self.progress
                .line(&format!("starting from the weights of {}", path.display()));
        }
    }

    /// Shuffled each epoch by (seed, epoch); every batch full but the last.
    fn batch_options(&self) -> BatchOptions {
        BatchOptions {
            batch_size: self.state.config.batch_size,
            shuffle_seed: Some(self.state.config.seed),
            pixels: PIXELS,
            ..BatchOptions::default()
        }
    }

    fn checkpoint_path(&self) -> Option<PathBuf> {
        Some(self.folder.as_ref()?.dir.join("checkpoint"))
    }

    /// `dir/name` in the run folder, `None` with `--no-save`.
    fn file(&self, name: &str) -> Option<PathBuf> {
        Some(self.folder.as_ref()?.dir.join(name))
    }

    fn start_epoch(&mut self) {
        let (epoch, done) = (
            self.state.position.epoch,
            self.state.position.step_in_epoch as u64,
        );
        self.progress
            .start_epoch(epoch, self.state.config.epochs, self.steps_per_epoch, done);
    }

    fn count_step(&mut self, loss: f32, predicted: &[usize], labels: &[usize]) {
        let tally = &mut self.state.tally;
        tally.correct += predicted.iter().zip(labels).filter(|(p, l)| p == l).count() as u64;
        tally.loss_sum += f64::from(loss) * labels.len() as f64;
        tally.samples += labels.len() as u64;
        self.state.position.step_in_epoch += 1;
        self.state.position.global_step += 1;
        let running_loss = (tally.loss_sum / tally.samples as f64) as f32;
        self.progress.step(labels.len(), running_loss);
    }

    /// The checkpoint, and `config.json` beside it saying how it was made.
    fn save_checkpoint(&self) -> Result<(), Error> {
        let (Some(checkpoint_path), Some(config_path)) =
            (self.checkpoint_path(), self.file("config.json"))
        else {
            return Ok(());
        };
        checkpoint::save(&checkpoint_path, &self.state)?;
        write_json(&config_path, &self.state.config)
    }

    /// Training has gone wrong (`cause`) by `step` of the current epoch:
    /// the error, naming the last good checkpoint (written at the end of the
    /// previous epoch), which is left as it is.
    fn diverged(&self, step: usize, cause: String) -> Error {
        let checkpoint = self.checkpoint_path().filter(|path| path.exists());
        Error::Diverged {
            epoch: self.state.position.epoch + 1,
            step,
            cause,
            suggested_lr: self
                .state
                .config
                .lr
                .to_string()
                .parse::<f64>()
                .unwrap_or(0.0)
                / 10.0,
            checkpoint,
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
        }) = nn::check_finite(Path::new(""), self.state.model.tensors())
        {
            let cause = format!("the weights became non-finite ({name}[{index}] = {value})");
            return Err(self.diverged(self.state.position.step_in_epoch, cause));
        }
        let chance = (crate::config::CLASSES as f32).ln();
        let (first, which) = match self.state.history.first() {
            Some(m) => (m.train_loss, "the first epoch's"),
            None => (chance, "chance level, ln(10) ="),
        };
        match mean_loss {
            Some(loss) if loss > 3.0 * chance && loss > 10.0 * first => {
                let cause = format!(
                    "the epoch's mean training loss {loss:.4e} is more than 10 times {which} \
                     {first:.4}"
                );
                Err(self.diverged(self.state.position.step_in_epoch, cause))
            }
            _ => Ok(()),
        }
    }

    /// Ctrl-C: checkpoint where we are, then report it.
    fn interrupted(&self) -> Result<Error, Error> {
        self.check_divergence(None)?;
        self.save_checkpoint()?;
        Ok(self
            .checkpoint_path()
            .map_or(Error::InterruptedUnsaved, Error::Interrupted))
    }

    /// Validate (and test, with `--test-every-epoch`), report, checkpoint.
    fn end_epoch(&mut self, data: &Datasets) -> Result<(), Error> {
        let validated = (data.validation.as_ref())
            .map(|v| evaluate(&mut self.state.model, v))
            .transpose()?;
        let tested = (self.state.config.test_every_epoch)
            .then(|| evaluate(&mut self.state.model, &data.test))
            .transpose()?;
        let tally = self.state.tally;
        let metrics = EpochMetrics {
            epoch: self.state.position.epoch + 1,
            train_loss: (tally.loss_sum / tally.samples.max(1) as f64) as f32,
            train_accuracy: (tally.correct as f64 / tally.samples.max(1) as f64) as f32,
            val_loss: validated.as_ref().map(|v| v.loss),
            val_accuracy: validated.as_ref().map(|v| v.accuracy),
            test_loss: tested.as_ref().map(|t| t.loss),
            test_accuracy: tested.as_ref().map(|t| t.accuracy),
            lr: self.state.optimizer.learning_rate(),
            seconds: tally.seconds,
            samples_per_second: tally.samples as f64 / tally.seconds.max(1e-9),
        };
        self.progress
            .finish_epoch(&epoch_line(&metrics, self.state.config.epochs));
        self.check_divergence(Some(metrics.train_loss))?;
        self.state.history.push(metrics);
        self.state.position.epoch += 1;
        self.state.position.step_in_epoch = 0;
        self.state.tally = EpochTally::default();
        self.save_checkpoint()?;
        let Some(folder) = &self.folder else {
            return Ok(());
        };
        report::write_metrics(&folder.dir.join("metrics.jsonl"), &self.state.history)?;
        let curves = report::learning_curves_svg(&self.state.history);
        crate::files::write_atomic(&folder.dir.join("learning_curves.svg"), curves.as_bytes())
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
        let config = &self.state.config;
        let mut card = BTreeMap::from([
            (
                "input_scaling".to_string(),
                "pixel / 255 (0-255 becomes 0-1)".to_string(),
            ),
            (Pixels::METADATA_KEY.to_string(), PIXELS.to_metadata()),
            (
                "parameters".to_string(),
                self.state.model.parameter_count().to_string(),
            ),
            ("training_data".to_string(), config.data.describe()),
            (
                "training_data_checksum".to_string(),
                self.data_checksum.clone(),
            ),
            ("preset".to_string(), config.preset.clone()),
            (
                "settings".to_string(),
                serde_json::to_string(config).expect("plain data serialises"),
            ),
            ("epochs".to_string(), self.state.history.len().to_string()),
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
            ("trainer_commit".to_string(), TRAINER_COMMIT.to_string()),
        ]);
        if let Some(path) = &config.init_from {
            card.insert("init_from".to_string(), path.display().to_string());
        }
        card
    }

    fn finish(mut self, test: &Dataset) -> Result<TrainReport, Error> {
        let tested = evaluate(&mut self.state.model, test)?;
        let model_path = self.file("model.safetensors");
        let train_seconds: f64 = self.state.history.iter().map(|m| m.seconds).sum();
        if let (Some(folder), Some(model_path)) = (&self.folder, &model_path) {
            let card = self.model_card(&tested, test.len(), train_seconds);
            self.state.model.save_with(model_path, &card)?;
            report::write_metrics(&folder.dir.join("metrics.jsonl"), &self.state.history)?;
            write_test_pictures(
                &folder.dir,
                &self.state.history,
                test,
                &tested,
                &self.state.model,
            )?;
        }
        let samples: f64 = (self.state.history.iter())
            .map(|m| m.samples_per_second * m.seconds)
            .sum();
        Ok(TrainReport {
            test_accuracy: tested.accuracy,
            test_loss: tested.loss,
            epochs: self.state.history.len(),
            train_seconds,
            samples_per_second: samples / train_seconds.max(1e-9),
            model: model_path,
            checkpoint: self.checkpoint_path(),
            preset: self.state.config.preset.clone(),
            architecture: self.state.model.spec().summary(),
            parameters: self.state.model.parameter_count(),
            run_dir: self.folder.map(|folder| folder.dir),
            history: self.state.history,
        })
    }
}

fn epoch_line(m: &EpochMetrics, epochs: usize) -> String {
    let validation = match (m.val_loss, m.val_accuracy) {
        (Some(loss), Some(accuracy)) => format!("val loss {loss:.4} acc {:.2}%", 100.0 * accuracy),
        _ => "no validation set".to_string(),
    };
    let test = match (m.test_loss, m.test_accuracy) {
        (Some(loss), Some(accuracy)) => {
            format!(", test loss {loss:.4} acc {:.2}%", 100.0 * accuracy)
        }
        _ => String::new(),
    };
    format!(
        "epoch {}/{epochs}: train loss {:.4} acc {:.2}%, {validation}{test}, lr {}, {:.1} s ({:.0} samples/s)",
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
    use crate::options::OptimizerName;

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
