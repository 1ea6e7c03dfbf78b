//! The `checkpoint` file: everything needed to continue a run exactly where
//! it stopped, in one safetensors file written with `nn`'s writer.
//!
//! - tensors: the model's parameters under their own names
//!   (`layers.0.weight`, ...) and the optimizer's buffers under
//!   `optimizer.<buffer name>` (`optimizer.adam.m.layers.0.weight`, ...);
//! - metadata: the architecture (so `eval` and `predict` can read a
//!   checkpoint too), the run's config, the position (epoch, step within it),
//!   the optimizer's kind, step count and hyper-parameters, the metrics so far.
//!
//! What the run state holds beyond that, and why it is enough, is in
//! `run_state`.

use crate::config::TrainConfig;
use crate::error::Error;
use crate::report::EpochMetrics;
use crate::run_state::{EpochTally, Position, RunState};
use nn::safetensors::write_tensors;
use nn::Sequential;
use optim::OptimizerState;
use std::collections::BTreeMap;
use std::path::Path;

const FORMAT: &str = "trainer.checkpoint.v1";
const OPTIMIZER_PREFIX: &str = "optimizer.";
/// The bound on a checkpoint's epoch and step counters (see `load`).
const MAX_POSITION: u64 = 1 << 48;

/// Whether a safetensors file's metadata says it is a trainer checkpoint
/// (rather than a plain model file).
pub fn is_checkpoint(metadata: &BTreeMap<String, String>) -> bool {
    metadata
        .get("format")
        .is_some_and(|format| format == FORMAT)
}

/// Writes a run's state as a checkpoint, atomically (nn's writer: temp
/// file, then rename).
pub fn save(path: &Path, run: &RunState) -> Result<(), Error> {
    let RunState {
        config,
        model,
        optimizer,
        position,
        history,
        tally,
    } = run;
    let state = optimizer.state();
    let mut metadata = model.metadata();
    fn json(value: &impl serde::Serialize) -> String {
        serde_json::to_string(value).expect("plain data serialises")
    }
    metadata.insert("format".into(), FORMAT.into());
    metadata.insert("config".into(), json(config));
    metadata.insert("epoch".into(), position.epoch.to_string());
    metadata.insert("step_in_epoch".into(), position.step_in_epoch.to_string());
    metadata.insert("global_step".into(), position.global_step.to_string());
    // For a person reading the header: where the randomness comes from.
    metadata.insert(
        "rng".into(),
        format!(
            "seed {}: data order of epoch e = mnist_data::epoch_order(seed, e); dropout \
             reseeded before every step from (seed, global_step)",
            config.seed
        ),
    );
    metadata.insert("history".into(), json(&history));
    metadata.insert("epoch_tally".into(), json(&tally));
    metadata.insert("optimizer.kind".into(), state.kind.clone());
    metadata.insert("optimizer.step".into(), state.step.to_string());
    // Hyper-parameters as text: JSON has no infinity (clip_norm = inf), and
    // Rust prints the shortest text that reads back to the same f32.
    let hyper: BTreeMap<&str, String> = state
        .hyper
        .iter()
        .map(|(name, value)| (name.as_str(), value.to_string()))
        .collect();
    metadata.insert("optimizer.hyper".into(), json(&hyper));

    let buffer_names: Vec<String> = state
        .buffers
        .iter()
        .map(|(name, _)| format!("{OPTIMIZER_PREFIX}{name}"))
        .collect();
    let buffer_shapes: Vec<[usize; 1]> = state.buffers.iter().map(|(_, v)| [v.len()]).collect();
    let tensors = model.tensors().chain(
        state
            .buffers
            .iter()
            .zip(&buffer_names)
            .zip(&buffer_shapes)
            .map(|(((_, values), name), shape)| (name.as_str(), &shape[..], values.as_slice())),
    );
    // A checkpoint with NaN in it resumes into NaN: refused, naming the tensor.
    let tensors: Vec<_> = tensors.collect();
    nn::check_finite(path, tensors.iter().copied())?;
    write_tensors(path, tensors, &metadata)?;
    Ok(())
}

/// Reads a checkpoint written by [`save`]; every missing or malformed part
/// is an error naming the file.
pub fn load(path: &Path) -> Result<RunState, Error> {
    let bytes = crate::files::read_bounded(path, crate::files::MAX_MODEL_BYTES, "a checkpoint")?;
    let file = nn::safetensors::decode(&bytes, path)?;
    let bad = |problem: String| Error::model(path, problem);
    let meta = |key: &str| {
        file.metadata.get(key).ok_or_else(|| {
            bad(format!(
                "not a trainer checkpoint: no {key:?} in its metadata"
            ))
        })
    };
    if meta("format")? != FORMAT {
        return Err(bad(format!(
            "not a trainer checkpoint (format {:?}; a model.safetensors cannot be resumed)",
            meta("format")?
        )));
    }
    let number = |key: &str| -> Result<u64, Error> {
        meta(key)?
            .parse()
            .map_err(|_| bad(format!("{key} is not a number")))
    };
    let config: TrainConfig = serde_json::from_str(meta("config")?)
        .map_err(|e| bad(format!("unreadable config: {e}")))?;
    let history: Vec<EpochMetrics> = serde_json::from_str(meta("history")?)
        .map_err(|e| bad(format!("unreadable history: {e}")))?;
    let tally: EpochTally = serde_json::from_str(meta("epoch_tally")?)
        .map_err(|e| bad(format!("unreadable epoch tally: {e}")))?;
    let hyper: BTreeMap<String, String> = serde_json::from_str(meta("optimizer.hyper")?)
        .map_err(|e| bad(format!("unreadable optimizer settings: {e}")))?;
    let hyper = hyper
        .into_iter()
        .map(|(name, text)| match text.parse::<f32>() {
            Ok(value) => Ok((name, value)),
            Err(_) => Err(bad(format!(
                "optimizer setting {name} = {text:?} is not a number"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;

    let kind = meta("optimizer.kind")?.clone();
    let step = number("optimizer.step")?;
    // The loop adds one to these counters: a damaged file must not take
    // them to where that overflows. No run gets near 2^48 steps (nine
    // years at a million steps a second).
    let counter = |key: &str| -> Result<u64, Error> {
        let value = number(key)?;
        if value >= MAX_POSITION {
            return Err(bad(format!(
                "{key} = {value} is more than any run reaches: the file is damaged"
            )));
        }
        Ok(value)
    };
    let position = Position {
        epoch: counter("epoch")? as usize,
        step_in_epoch: counter("step_in_epoch")? as usize,
        global_step: counter("global_step")?,
    };
    // Every step moves both counters by one: a mismatch is damage.
    if step != position.global_step {
        return Err(bad(format!(
            "optimizer.step = {step} but global_step = {}: the file is damaged",
            position.global_step
        )));
    }
    // The model's tensors, then the optimizer's (the rest) moved out, not copied.
    let model = Sequential::from_tensor_file(&file, path, true)?;
    let buffers = file
        .tensors
        .into_iter()
        .filter_map(|t| {
            let name = t.name.strip_prefix(OPTIMIZER_PREFIX)?.to_string();
            Some((name, t.data))
        })
        .collect();
    let optimizer = OptimizerState {
        kind,
        step,
        hyper,
        buffers,
    };
    let optimizer = optim::optimizer_from_state(&optimizer).map_err(|e| bad(e.to_string()))?;
    Ok(RunState {
        config,
        model,
        optimizer,
        position,
        history,
        tally,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::tests::temp_dir;
    use crate::presets;
    use nn::{Init, ModelSpec};
    use optim::{optimizer_by_name, CommonSettings, Param};

    #[test]
    fn the_longest_run_a_config_allows_writes_a_checkpoint_it_can_read() {
        // Every epoch's metrics go into the header: with as many epochs as
        // `--epochs` accepts, each with the longest numbers JSON prints,
        // the header must stay within what the reader accepts.
        let dir = temp_dir("long-history");
        let path = dir.join("checkpoint");
        let mut config = TrainConfig::from_preset(presets::find("mlp").unwrap());
        config.layers = "784-2-10".into();
        config.epochs = crate::config::MAX_EPOCHS;
        let model =
            Sequential::new(&ModelSpec::parse("784-2-10").unwrap(), Init::HeNormal, 1).unwrap();
        let optimizer = optimizer_by_name("adam", &CommonSettings::default()).unwrap();
        let mut run = RunState::start(config, model, optimizer);
        run.history = (1..=crate::config::MAX_EPOCHS)
            .map(|epoch| EpochMetrics {
                epoch,
                train_loss: -1.234_567_9e-30,
                train_accuracy: 0.123_456_79,
                val_loss: Some(-1.234_567_9e-30),
                val_accuracy: Some(0.123_456_79),
                // --test-every-epoch: the longest lines.
                test_loss: Some(-1.234_567_9e-30),
                test_accuracy: Some(0.123_456_79),
                lr: -1.234_567_9e-30,
                seconds: -1.234_567_890_123_456_7e-200,
                samples_per_second: -1.234_567_890_123_456_7e-200,
            })
            .collect();
        run.position.epoch = crate::config::MAX_EPOCHS;
        save(&path, &run).unwrap();
        let restored = load(&path).unwrap();
        assert_eq!(restored.history.len(), crate::config::MAX_EPOCHS);
        let last = restored.history.last().unwrap();
        assert_eq!(
            (last.epoch, last.train_accuracy),
            (crate::config::MAX_EPOCHS, 0.123_456_79)
        );
    }

    /// The state's buffer and setting order is not part of its meaning.
    fn sorted(mut state: OptimizerState) -> OptimizerState {
        state.buffers.sort_by(|a, b| a.0.cmp(&b.0));
        state.hyper.sort_by(|a, b| a.0.cmp(&b.0));
        state
    }

    /// Every tensor of a model, by value.
    fn values(model: &Sequential) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        (model.params())
            .map(|(n, s, v)| (n.to_string(), s.to_vec(), v.to_vec()))
            .collect()
    }

    #[test]
    fn a_checkpoint_restores_model_optimizer_position_and_history_exactly() {
        let dir = temp_dir("checkpoint");
        let path = dir.join("checkpoint");
        let mut config = TrainConfig::from_preset(presets::find("default").unwrap());
        config.layers = "784-8-10".into();
        let spec = ModelSpec::parse("784-8-10 dropout=0.5").unwrap();
        let mut model = Sequential::new(&spec, Init::HeNormal, 5).unwrap();
        let mut optimizer = optimizer_by_name("adam", &CommonSettings::default()).unwrap();
        // Two steps with made-up gradients so the Adam moments are non-zero.
        for step in 0..2 {
            let grads: Vec<Vec<f32>> = model
                .params()
                .map(|(_, _, v)| {
                    v.iter()
                        .enumerate()
                        .map(|(i, _)| (i + step) as f32 * 1e-3)
                        .collect()
                })
                .collect();
            let mut params: Vec<Param> = model
                .params_mut()
                .zip(&grads)
                .map(|((name, value, _), grad)| Param { name, value, grad })
                .collect();
            optimizer.step(&mut params).unwrap();
        }
        let mut run = RunState::start(config, model, optimizer);
        // The optimizer has taken two steps: so has the run.
        run.position = Position {
            epoch: 0,
            step_in_epoch: 2,
            global_step: 2,
        };
        run.history = crate::report::tests::sample_history();
        run.tally = EpochTally {
            loss_sum: 12.5,
            correct: 1000,
            samples: 2176,
            seconds: 0.75,
        };
        save(&path, &run).unwrap();

        let restored = load(&path).unwrap();
        assert_eq!(restored.config, run.config);
        assert_eq!(restored.position, run.position);
        assert_eq!(restored.history, run.history);
        assert_eq!(restored.tally, run.tally);
        let (expected, found) = (
            sorted(run.optimizer.state()),
            sorted(restored.optimizer.state()),
        );
        assert_eq!(
            (&found.kind, found.step, &found.hyper),
            (&expected.kind, 2, &expected.hyper)
        );
        assert!(
            found.buffers == expected.buffers,
            "optimizer buffers differ"
        );
        assert!(
            values(&run.model) == values(&restored.model),
            "parameters differ"
        );
        assert_eq!(restored.model.spec(), &spec);

        // A model file is not a checkpoint; a damaged checkpoint is an error.
        let model_path = dir.join("model.safetensors");
        run.model.save(&model_path).unwrap();
        let error = load(&model_path).err().unwrap().to_string();
        assert!(
            error.contains("model.safetensors") && error.contains("not a trainer checkpoint"),
            "{error}"
        );
        // A position no run reaches, whose next step overflowed (a panic).
        let position = run.position;
        run.position.global_step = u64::MAX;
        let at_the_end = dir.join("at-the-end");
        save(&at_the_end, &run).unwrap();
        let error = load(&at_the_end).err().unwrap().to_string();
        assert!(
            error.starts_with(&at_the_end.display().to_string())
                && error.contains("global_step = 18446744073709551615"),
            "{error}"
        );

        // Optimizer and run counting different steps: one of them is damaged.
        let mismatched = dir.join("mismatched");
        run.position = Position {
            global_step: 3,
            ..position
        };
        save(&mismatched, &run).unwrap();
        let error = load(&mismatched).err().unwrap().to_string();
        assert!(
            error.starts_with(&mismatched.display().to_string())
                && error.contains("optimizer.step = 2 but global_step = 3"),
            "{error}"
        );
        // Non-finite weights are not saved: resumed, they train into NaN.
        run.position = position;
        run.model.params_mut().next().unwrap().1[3] = f32::NAN;
        let nan_path = dir.join("nan");
        let error = save(&nan_path, &run).err().unwrap().to_string();
        assert!(
            error.starts_with(&nan_path.display().to_string())
                && error.contains("\"layers.0.weight\" holds NaN at index 3"),
            "{error}"
        );
        assert!(!nan_path.exists());

        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let error = load(&path).err().unwrap().to_string();
        assert!(error.contains("checkpoint"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
