//! `trainer train`: set up (config, data, model, optimizer, run folder), then
//! the loop, which fits on a screen: for each epoch, for each batch, forward,
//! loss, backward, step; after each epoch, validate, report, checkpoint.

use crate::checkpoint::{self, Position};
use crate::cli::{ActivationName, InitName, OptimizerName, TrainArgs};
use crate::config::TrainConfig;
use crate::error::Error;
use crate::evaluate::{confusion_matrix, evaluate, PIXELS};
use crate::files::{create_dir, new_run_dir, write_json};
use crate::progress::Progress;
use crate::report::{self, EpochMetrics, GridDigit};
use mnist_data::{Batch, BatchOptions, Batches, Dataset};
use nn::{softmax_cross_entropy, Activation, Init, ModelSpec, Sequential, Targets};
use optim::{optimizer_by_name, AdamConfig, CommonSettings, Optimizer, Param, Schedule, SgdConfig};
use serde::{Deserialize, Serialize};
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

pub fn model_spec(config: &TrainConfig) -> ModelSpec {
    let hidden = match config.activation {
        ActivationName::Relu => Activation::Relu,
        ActivationName::Sigmoid => Activation::Sigmoid,
        ActivationName::Tanh => Activation::Tanh,
        ActivationName::LeakyRelu => Activation::LeakyRelu(0.01),
    };
    ModelSpec {
        sizes: config.layers.clone(),
        hidden,
        output: Activation::Identity,
        dropout: config.dropout,
    }
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

/// Dropout's seed for global step `step`: SplitMix64's finaliser of
/// (seed, step), so masks are a function of the position in the run.
fn dropout_seed(seed: u64, step: u64) -> u64 {
    let mut z = seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn run(args: &TrainArgs, stop: &AtomicBool) -> Result<TrainReport, Error> {
    // Settings: a resumed run's own, or a preset's, with the flags on top.
    let resumed = match &args.resume {
        Some(path) => Some(checkpoint::load(path)?),
        None => None,
    };
    let config = TrainConfig::resolve(args, resumed.as_ref().map(|c| c.config.clone()))?;
    if let Some(threads) = config.threads {
        tensor::set_threads(threads);
    }
    let schedule: Schedule = config.schedule.parse()?;
    let progress_style_json = args.json;
    let mut progress = Progress::new(progress_style_json);

    // The data, split into training and validation sets.
    let set = config.data.load(config.limit)?;
    let (train, validation) = if config.val_split > 0.0 {
        let (train, validation) = crate::data::split_validation(set.train, config.val_split)?;
        (train, Some(validation))
    } else {
        (set.train, None)
    };
    if train.is_empty() {
        return Err(Error::Data("the training set is empty".into()));
    }
    let test = set.test;

    // The model and optimizer: fresh, or as the checkpoint left them.
    let spec = model_spec(&config);
    let (mut model, mut optimizer, mut position, mut history, mut tally) = match resumed {
        Some(saved) => {
            if saved.model.spec() != &spec {
                return Err(Error::Usage(format!(
                    "the checkpoint holds a {} network; --layers, --activation and --dropout \
                     cannot change when resuming",
                    saved.model.spec()
                )));
            }
            let optimizer = optim::optimizer_from_state(&saved.optimizer)?;
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
            let optimizer = build_optimizer(&config)?;
            let start = Position {
                epoch: 0,
                step_in_epoch: 0,
                global_step: 0,
            };
            (model, optimizer, start, Vec::new(), EpochTally::default())
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
    create_dir(&run_dir)?;
    let checkpoint_path = run_dir.join("checkpoint");
    let model_path = run_dir.join("model.safetensors");
    let mut recorded = config.clone();
    recorded.threads = Some(tensor::threads());
    write_json(&run_dir.join("config.json"), &recorded)?;

    let batch_options = BatchOptions {
        batch_size: config.batch_size,
        shuffle_seed: Some(config.seed),
        pixels: PIXELS,
        ..BatchOptions::default()
    };
    let mut batches =
        Batches::new(&train, batch_options).map_err(|e| Error::Data(e.to_string()))?;
    let steps_per_epoch = batches.batches_per_epoch() as u64;
    let total_steps = steps_per_epoch * config.epochs as u64;
    progress.line(&format!(
        "{} training, {} validation, {} test images; network {} ({} parameters), {} lr {} {}, \
         batch {}, {} epochs, {} threads; run folder {}",
        train.len(),
        validation.as_ref().map_or(0, Dataset::len),
        test.len(),
        spec,
        model.parameter_count(),
        config.optimizer.as_str(),
        config.lr,
        config.schedule,
        config.batch_size,
        config.epochs,
        tensor::threads(),
        run_dir.display()
    ));

    let save_checkpoint = |model: &Sequential,
                           optimizer: &dyn Optimizer,
                           at: Position,
                           history: &[EpochMetrics],
                           tally: EpochTally| {
        checkpoint::save(
            &checkpoint_path,
            &recorded,
            model,
            optimizer,
            at,
            history,
            tally,
        )
    };
    let (mut batch, mut dlogits, mut predicted) =
        (Batch::new(), tensor::Matrix::zeros(0, 0), Vec::new());
    while position.epoch < config.epochs {
        let epoch = position.epoch;
        batches.start_epoch(epoch as u64);
        batches.skip_batches(position.step_in_epoch);
        progress.start_epoch(
            epoch,
            config.epochs,
            steps_per_epoch,
            position.step_in_epoch as u64,
        );
        let epoch_start = Instant::now();
        let seconds_before = tally.seconds;
        while batches.next_batch(&mut batch) {
            let lr = schedule.lr_at(
                config.lr,
                optim::Progress {
                    step: position.global_step,
                    steps_per_epoch,
                    total_steps,
                },
            );
            optimizer.set_learning_rate(lr);
            model.reseed_dropout(dropout_seed(config.seed, position.global_step));
            let images = batch.images().view();
            let logits = model.forward(images)?;
            let loss = softmax_cross_entropy(
                logits.view(),
                Targets::Classes(batch.labels()),
                &mut dlogits,
            )?;
            if !loss.is_finite() {
                return Err(Error::Diverged {
                    epoch: epoch + 1,
                    step: position.step_in_epoch + 1,
                    loss,
                    suggested_lr: config.lr / 10.0,
                    checkpoint: checkpoint_path.exists().then(|| checkpoint_path.clone()),
                });
            }
            predicted.resize(batch.len(), 0);
            tensor::ops::row_argmax(logits.view(), &mut predicted).map_err(nn::NnError::from)?;
            tally.correct += predicted
                .iter()
                .zip(batch.labels())
                .filter(|(p, l)| p == l)
                .count() as u64;
            model.backward(images, dlogits.view())?;
            let mut params: Vec<Param> = model
                .params_mut()
                .map(|(name, value, grad)| Param { name, value, grad })
                .collect();
            optimizer.step(&mut params)?;

            tally.loss_sum += f64::from(loss) * batch.len() as f64;
            tally.samples += batch.len() as u64;
            position.step_in_epoch += 1;
            position.global_step += 1;
            progress.step(batch.len(), (tally.loss_sum / tally.samples as f64) as f32);
            if stop.load(Ordering::SeqCst) {
                tally.seconds = seconds_before + epoch_start.elapsed().as_secs_f64();
                save_checkpoint(&model, optimizer.as_ref(), position, &history, tally)?;
                return Err(Error::Interrupted(checkpoint_path));
            }
        }
        tally.seconds = seconds_before + epoch_start.elapsed().as_secs_f64();

        // The epoch is done: validate, report, checkpoint.
        let validated = validation
            .as_ref()
            .map(|v| evaluate(&mut model, v))
            .transpose()?;
        let metrics = EpochMetrics {
            epoch: epoch + 1,
            train_loss: (tally.loss_sum / tally.samples.max(1) as f64) as f32,
            train_accuracy: (tally.correct as f64 / tally.samples.max(1) as f64) as f32,
            val_loss: validated.as_ref().map(|v| v.loss),
            val_accuracy: validated.as_ref().map(|v| v.accuracy),
            lr: optimizer.learning_rate(),
            seconds: tally.seconds,
            samples_per_second: tally.samples as f64 / tally.seconds.max(1e-9),
        };
        progress.finish_epoch(&epoch_line(&metrics, config.epochs));
        history.push(metrics);
        (position.epoch, position.step_in_epoch, tally) = (epoch + 1, 0, EpochTally::default());
        save_checkpoint(&model, optimizer.as_ref(), position, &history, tally)?;
        report::write_metrics(&run_dir.join("metrics.jsonl"), &history)?;
        crate::files::write_atomic(
            &run_dir.join("learning_curves.svg"),
            report::learning_curves_svg(&history).as_bytes(),
        )?;
    }

    // Done: test, save the model and the pictures.
    let tested = evaluate(&mut model, &test)?;
    model.save(&model_path)?;
    report::write_metrics(&run_dir.join("metrics.jsonl"), &history)?;
    write_test_pictures(&run_dir, &history, &test, &tested.predictions)?;
    let train_seconds: f64 = history.iter().map(|m| m.seconds).sum();
    let samples: f64 = history
        .iter()
        .map(|m| m.samples_per_second * m.seconds)
        .sum();
    Ok(TrainReport {
        test_accuracy: tested.accuracy,
        test_loss: tested.loss,
        epochs: history.len(),
        train_seconds,
        samples_per_second: samples / train_seconds.max(1e-9),
        model: model_path,
        checkpoint: checkpoint_path,
        run_dir,
        preset: config.preset.clone(),
        parameters: model.parameter_count(),
        history,
    })
}

fn epoch_line(m: &EpochMetrics, epochs: usize) -> String {
    let validation = match (m.val_loss, m.val_accuracy) {
        (Some(loss), Some(accuracy)) => format!("val loss {loss:.4} acc {:.2}%", 100.0 * accuracy),
        _ => "no validation set".to_string(),
    };
    format!(
        "epoch {}/{epochs}: train loss {:.4} acc {:.2}%, {validation}, lr {:.3e}, {:.1} s ({:.0} samples/s)",
        m.epoch,
        m.train_loss,
        100.0 * m.train_accuracy,
        m.lr,
        m.seconds,
        m.samples_per_second
    )
}

/// The confusion matrix and the digit grid of the test set.
pub fn write_test_pictures(
    dir: &Path,
    history: &[EpochMetrics],
    test: &Dataset,
    predictions: &[usize],
) -> Result<(), Error> {
    let confusion = confusion_matrix(test.labels(), predictions, test.classes());
    let chosen = report::grid_selection(test.labels(), predictions, 50, 30);
    let digits: Vec<GridDigit> = chosen
        .iter()
        .map(|&i| GridDigit {
            pixels: test.image(i),
            label: usize::from(test.label(i)),
            predicted: predictions[i],
        })
        .collect();
    report::write_plots(dir, history, &confusion, &digits)
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
