//! Every setting of a training run, resolved from a preset (or a resumed
//! run's config) plus the flags that override it, and checked once here so
//! the rest of the program can trust it. Saved as the run's `config.json`.

use crate::cli::TrainArgs;
use crate::error::Error;
use crate::options::{ActivationName, InitName, OptimizerName};
use crate::presets::{self, Preset};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// MNIST's image size (28 x 28) and number of classes.
pub const INPUTS: usize = 784;
pub const CLASSES: usize = 10;
/// More parameters than this is a typo in `--layers`, not a network: 2^28
/// is 1 GiB of f32 weights, about 4 GiB with gradients and Adam's moments
/// (the best preset has 1.9 million). Beyond it the allocation would abort
/// the program, or take the machine's memory, instead of a clear error.
pub const MAX_PARAMETERS: u128 = 1 << 28;
/// At about 215 bytes of escaped JSON per epoch in a checkpoint's header,
/// 100 000 epochs stay near 22 MB, well inside the 100 MB that safetensors readers
/// (ours and the reference) accept: what the writer writes, the reader reads.
pub const MAX_EPOCHS: usize = 100_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DataSource {
    /// A folder of IDX files; `None` means the bundled data/mnist.
    Idx {
        dir: Option<PathBuf>,
    },
    Csv {
        train: PathBuf,
        test: PathBuf,
    },
}

/// Random distortions of training images beyond whole-pixel shifts: the
/// strengths of `augment::AugmentConfig`, zero when off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Distortion {
    /// Rotation up to this many degrees either way.
    pub rotate: f32,
    /// Scaling by a factor in `[1 - scale, 1 + scale]`.
    pub scale: f32,
    /// Horizontal shear up to this many degrees either way.
    pub shear: f32,
    /// Elastic distortion's strength `alpha` (Simard et al. 2003); 0 is off.
    pub elastic_alpha: f32,
    /// Elastic distortion's smoothness `sigma`, in pixels.
    pub elastic_sigma: f32,
}

impl Distortion {
    pub const NONE: Distortion = Distortion {
        rotate: 0.0,
        scale: 0.0,
        shear: 0.0,
        elastic_alpha: 0.0,
        elastic_sigma: 0.0,
    };

    pub fn is_none(&self) -> bool {
        *self == Distortion::NONE
    }

    /// The augmenter's settings, with `max_shift` pixels of translation.
    pub fn augment_config(&self, max_shift: usize) -> crate::augment::AugmentConfig {
        crate::augment::AugmentConfig {
            max_shift: max_shift as f32,
            rotation_degrees: self.rotate,
            scale: self.scale,
            shear_degrees: self.shear,
            elastic_alpha: self.elastic_alpha,
            elastic_sigma: self.elastic_sigma,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub preset: String,
    pub data: DataSource,
    pub limit: Option<usize>,
    /// The network in `nn`'s spec language; a list of sizes in the
    /// `config.json` of runs from before convolutions reads as `784-100-10`.
    #[serde(deserialize_with = "spec_or_sizes")]
    pub layers: String,
    pub activation: ActivationName,
    pub init: InitName,
    pub dropout: f32,
    /// Random shifts of training images, in pixels (0 = none).
    #[serde(default)]
    pub augment: usize,
    #[serde(default)]
    pub distortion: Distortion,
    pub optimizer: OptimizerName,
    pub lr: f32,
    /// `None`: the optimizer's default (0.9 for momentum/nesterov, beta1 0.9 for Adam).
    pub momentum: Option<f32>,
    pub weight_decay: f32,
    pub schedule: String,
    pub batch_size: usize,
    pub epochs: usize,
    pub val_split: f32,
    pub seed: u64,
    /// `None`: as many as the machine has; recorded after the run starts.
    pub threads: Option<usize>,
    /// The model whose weights the run started from (`--init-from`),
    /// instead of a random initialisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
    /// Measure the test set after every epoch (`--test-every-epoch`).
    #[serde(default)]
    pub test_every_epoch: bool,
    /// Each resumption that changed a setting (`--epochs`, `--lr`,
    /// `--schedule`), oldest first: with the settings above (the latest),
    /// the whole story of how the weights were made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumed: Vec<Resumption>,
}

/// How many values `spec`'s tensors hold, counted without building it (a
/// typo can ask for more than the machine has).
pub fn parameters_of(spec: &nn::ModelSpec) -> u128 {
    spec.tensor_shapes().iter().fold(0u128, |sum, (_, shape)| {
        let values = shape
            .iter()
            .fold(1u128, |n, &d| n.saturating_mul(d as u128));
        sum.saturating_add(values)
    })
}

/// Settings changed when a run was resumed, and where.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resumption {
    /// Epochs finished when the run was resumed.
    pub epoch: usize,
    /// Steps taken when the run was resumed (within an epoch after Ctrl-C).
    pub step: u64,
    /// Each changed setting by name: `[before, after]`.
    pub changed: BTreeMap<String, [Value; 2]>,
}

/// An f32 as the shortest decimal that reads back to it (`0.002`, as
/// config.json shows it), not the f64 it widens to (`0.0020000000949949026`).
fn decimal(value: f32) -> Value {
    value
        .to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// `layers` as written by this version (a spec) or by earlier ones (a
/// list of sizes).
fn spec_or_sizes<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Layers {
        Spec(String),
        Sizes(Vec<usize>),
    }
    Ok(match Layers::deserialize(deserializer)? {
        Layers::Spec(text) => text,
        Layers::Sizes(sizes) => {
            let sizes: Vec<String> = sizes.iter().map(usize::to_string).collect();
            sizes.join("-")
        }
    })
}

impl TrainConfig {
    pub fn from_preset(preset: &Preset) -> TrainConfig {
        TrainConfig {
            preset: preset.name.to_string(),
            data: DataSource::Idx { dir: None },
            limit: None,
            layers: preset.layers.to_string(),
            activation: preset.activation,
            init: preset.init,
            dropout: preset.dropout,
            augment: preset.augment,
            distortion: preset.distortion,
            optimizer: preset.optimizer,
            lr: preset.lr,
            momentum: preset.momentum,
            weight_decay: preset.weight_decay,
            schedule: preset.schedule.to_string(),
            batch_size: preset.batch_size,
            epochs: preset.epochs,
            val_split: 1.0 / 12.0,
            seed: 42,
            threads: None,
            init_from: None,
            test_every_epoch: false,
            resumed: Vec::new(),
        }
    }

    /// `base` (a resumed run's config) or the chosen preset, then every flag
    /// the user gave, then validation. A resumed run may change only
    /// the [resumable settings](Self::resumable_settings) and `--threads`.
    pub fn resolve(args: &TrainArgs, base: Option<TrainConfig>) -> Result<TrainConfig, Error> {
        let resumed_from = base.clone();
        let mut config =
            match (base, &args.preset) {
                (Some(_), Some(_)) => return Err(Error::Usage(
                    "--preset cannot be combined with --resume (the checkpoint holds the settings)"
                        .into(),
                )),
                (Some(base), None) => base,
                (None, name) => {
                    let name = name.as_deref().unwrap_or(presets::DEFAULT);
                    let preset = presets::find(name).ok_or_else(|| {
                        Error::Usage(format!(
                            "unknown preset '{name}' (choose one of: {})",
                            presets::names()
                        ))
                    })?;
                    TrainConfig::from_preset(preset)
                }
            };
        if let Some(data) = DataSource::given(&args.source) {
            config.data = data;
        }
        let a = args;
        macro_rules! take {
            ($($field:ident),*) => {$(
                if let Some(value) = a.$field.clone() { config.$field = value; }
            )*};
        }
        take!(layers, activation, optimizer, lr, weight_decay, schedule);
        take!(batch_size, epochs, dropout, augment, init, val_split, seed);
        if a.source.limit.is_some() {
            config.limit = a.source.limit;
        }
        if a.threads.is_some() {
            config.threads = a.threads;
        }
        if a.momentum.is_some() {
            config.momentum = a.momentum;
        }
        if a.init_from.is_some() {
            config.init_from = a.init_from.clone();
        }
        config.test_every_epoch |= a.test_every_epoch;
        let d = &mut config.distortion;
        for (flag, field) in [
            (a.rotate, &mut d.rotate),
            (a.scale, &mut d.scale),
            (a.shear, &mut d.shear),
            (a.elastic, &mut d.elastic_alpha),
            (a.elastic_sigma, &mut d.elastic_sigma),
        ] {
            if let Some(value) = flag {
                *field = value;
            }
        }
        if d.elastic_alpha > 0.0 && d.elastic_sigma == 0.0 {
            // Simard et al.'s choice for 28x28 digits.
            d.elastic_sigma = 4.0;
        }
        if let Some(base) = &resumed_from {
            // The same network spelt another way ("784,32,10" for "784-32-10").
            let network = |c: &TrainConfig| nn::ModelSpec::parse(&c.layers).ok();
            if network(&config).is_some() && network(&config) == network(base) {
                config.layers = base.layers.clone();
            }
            config.refuse_fixed_changes(base)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Each setting that shaped the checkpoint's weights and optimizer
    /// state, by the flag that sets it: a resumed run that changed one
    /// would leave weights no config describes, so it is refused.
    fn fixed_settings(&self) -> [(&'static str, Value); 17] {
        let d = &self.distortion;
        [
            ("--layers", json!(self.layers)),
            ("--activation", json!(self.activation)),
            ("--init", json!(self.init)),
            ("--dropout", decimal(self.dropout)),
            ("--optimizer", json!(self.optimizer)),
            ("--weight-decay", decimal(self.weight_decay)),
            ("--momentum", self.momentum.map_or(Value::Null, decimal)),
            ("--batch-size", json!(self.batch_size)),
            ("--seed", json!(self.seed)),
            ("--data, --csv-train or --csv-test", json!(self.data)),
            ("--limit", json!(self.limit)),
            ("--val-split", decimal(self.val_split)),
            ("--augment", json!(self.augment)),
            ("--rotate", decimal(d.rotate)),
            ("--scale", decimal(d.scale)),
            ("--shear", decimal(d.shear)),
            (
                "--elastic or --elastic-sigma",
                json!([decimal(d.elastic_alpha), decimal(d.elastic_sigma)]),
            ),
        ]
    }

    /// The settings a resumed run may change, by name in `config.json`.
    fn resumable_settings(&self) -> [(&'static str, Value); 3] {
        [
            ("epochs", json!(self.epochs)),
            ("lr", decimal(self.lr)),
            ("schedule", json!(self.schedule)),
        ]
    }

    fn refuse_fixed_changes(&self, base: &TrainConfig) -> Result<(), Error> {
        let changed = (self.fixed_settings().into_iter())
            .zip(base.fixed_settings())
            .find(|((_, now), (_, before))| now != before);
        match changed {
            Some(((flag, now), (_, before))) => Err(Error::Usage(format!(
                "{flag} cannot change when resuming: the checkpoint was trained with {before}, \
                 not {now} (start a new run to change it; --epochs, --lr, --schedule and \
                 --threads may change)"
            ))),
            None => Ok(()),
        }
    }

    /// Records in [`TrainConfig::resumed`] what this resumed run changes
    /// from `base`, the checkpoint's config, resumed after `epoch` epochs
    /// and `step` steps. `--threads` is not recorded: it changes no bit.
    pub fn note_resumption(&mut self, base: &TrainConfig, epoch: usize, step: u64) {
        let changed: BTreeMap<String, [Value; 2]> = (self.resumable_settings().into_iter())
            .zip(base.resumable_settings())
            .filter(|((_, now), (_, before))| now != before)
            .map(|((name, now), (_, before))| (name.to_string(), [before, now]))
            .collect();
        if !changed.is_empty() {
            self.resumed.push(Resumption {
                epoch,
                step,
                changed,
            });
        }
    }

    pub fn validate(&self) -> Result<(), Error> {
        let usage = |message: String| Err(Error::Usage(message));
        let spec = nn::ModelSpec::parse(&self.layers)
            .map_err(|e| Error::Usage(format!("--layers: {e}")))?;
        let input = spec.input;
        let image = nn::Shape::image(1, 28, 28);
        if input != nn::Shape::flat(INPUTS) && input != image {
            return usage(format!(
                "--layers must start with the input {INPUTS} (28x28 pixels, for dense layers) \
                 or {image} (for convolutions), not {input}"
            ));
        }
        if spec.outputs() != CLASSES {
            return usage(format!(
                "--layers must end with the number of classes {CLASSES}, not {}",
                spec.outputs()
            ));
        }
        let parameters = parameters_of(&spec);
        if parameters > MAX_PARAMETERS {
            return usage(format!(
                "--layers {} would have {parameters} parameters, more than the {MAX_PARAMETERS} \
                 this trainer accepts (the best preset has about 1.9 million)",
                self.layers
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return usage(format!("--lr must be a positive number, not {}", self.lr));
        }
        if let Some(momentum) = self.momentum {
            if !(0.0..1.0).contains(&momentum) {
                return usage(format!("--momentum must be in [0, 1), not {momentum}"));
            }
            use OptimizerName::{Adadelta, Adagrad, Rmsprop};
            if matches!(self.optimizer, Adagrad | Adadelta | Rmsprop) {
                return usage(format!(
                    "--momentum does not apply to {}; it sets sgd/momentum/nesterov's momentum \
                     or adam/adamw's beta1",
                    self.optimizer.as_str()
                ));
            }
        }
        if let Err(e) = self.schedule.parse::<optim::Schedule>() {
            return usage(format!("--schedule: {e}"));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return usage(format!(
                "--weight-decay must be >= 0, not {}",
                self.weight_decay
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return usage(format!("--dropout must be in [0, 1), not {}", self.dropout));
        }
        if !(0.0..1.0).contains(&self.val_split) {
            return usage(format!(
                "--val-split must be in [0, 1), not {}",
                self.val_split
            ));
        }
        if self.batch_size == 0 {
            return usage("--batch-size must be at least 1".into());
        }
        if self.augment > 8 {
            return usage(format!(
                "--augment {} would move digits off the 28x28 image; use 0 to 8 (2 is typical)",
                self.augment
            ));
        }
        if self.epochs == 0 {
            return usage("--epochs must be at least 1".into());
        }
        if self.epochs > MAX_EPOCHS {
            return usage(format!(
                "--epochs {} is more than the {MAX_EPOCHS} a checkpoint can record (each \
                 epoch's metrics live in its header, which readers cap at 100 MB)",
                self.epochs
            ));
        }
        if let Err(problem) = self.distortion.augment_config(self.augment).validate() {
            // Name the flag, not the field.
            let flags = [
                ("rotation_degrees", "--rotate"),
                ("scale", "--scale"),
                ("shear_degrees", "--shear"),
                ("elastic_alpha", "--elastic"),
                ("elastic_sigma", "--elastic-sigma"),
                ("max_shift", "--augment"),
            ];
            let problem = flags
                .iter()
                .fold(problem, |text, (field, flag)| text.replace(field, flag));
            return usage(problem);
        }
        if self.threads == Some(0) {
            return usage("--threads must be at least 1".into());
        }
        if self.limit == Some(0) {
            return usage("--limit must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn resolve(flags: &[&str]) -> Result<TrainConfig, Error> {
        let argv = ["trainer", "train"].iter().chain(flags);
        let Some(Command::Train(args)) = Cli::try_parse_from(argv).unwrap().command else {
            unreachable!()
        };
        TrainConfig::resolve(&args, None)
    }

    #[test]
    fn no_flags_give_the_default_preset() {
        let config = resolve(&[]).unwrap();
        assert_eq!(
            config,
            TrainConfig::from_preset(presets::find("default").unwrap())
        );
    }

    #[test]
    fn flags_override_single_preset_settings() {
        let config = resolve(&[
            "--preset",
            "softmax-regression",
            "--epochs",
            "2",
            "--seed",
            "7",
        ])
        .unwrap();
        assert_eq!(config.preset, "softmax-regression");
        assert_eq!(config.layers, "784-10");
        assert_eq!(config.lr, 0.05);
        assert_eq!((config.epochs, config.seed), (2, 7));
        let config = resolve(&[
            "--csv-train",
            "a.csv",
            "--csv-test",
            "b.csv",
            "--limit",
            "9",
        ])
        .unwrap();
        assert_eq!(
            config.data,
            DataSource::Csv {
                train: "a.csv".into(),
                test: "b.csv".into()
            }
        );
        assert_eq!(config.limit, Some(9));
    }

    #[test]
    fn a_resumed_config_is_kept_unless_overridden() {
        let mut base = TrainConfig::from_preset(presets::find("best").unwrap());
        base.seed = 99;
        let args = TrainArgs {
            epochs: Some(40),
            ..TrainArgs::default()
        };
        let config = TrainConfig::resolve(&args, Some(base.clone())).unwrap();
        assert_eq!(config, TrainConfig { epochs: 40, ..base });
    }

    #[test]
    fn a_resumed_run_keeps_its_data() {
        let mut base = TrainConfig::from_preset(presets::find("default").unwrap());
        base.data = DataSource::Csv {
            train: "a.csv".into(),
            test: "b.csv".into(),
        };
        let kept = TrainConfig::resolve(&TrainArgs::default(), Some(base.clone())).unwrap();
        assert_eq!((&kept.data, kept.limit), (&base.data, None));
        // Other data would make weights no config describes (issue 21, item 14).
        let mut args = TrainArgs::default();
        args.source.data = Some("elsewhere".into());
        let error = TrainConfig::resolve(&args, Some(base)).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("--data, --csv-train or --csv-test cannot change"),
            "{error}"
        );
    }

    fn resume_with(base: &TrainConfig, flags: &[&str]) -> Result<TrainConfig, Error> {
        let argv = ["trainer", "train"].iter().chain(flags);
        let Some(Command::Train(args)) = Cli::try_parse_from(argv).unwrap().command else {
            unreachable!()
        };
        TrainConfig::resolve(&args, Some(base.clone()))
    }

    /// --optimizer, --weight-decay and --momentum were written to config.json
    /// and the checkpoint on --resume, but not used.
    #[test]
    fn settings_that_made_the_weights_cannot_change_on_resume() {
        let base = TrainConfig::from_preset(presets::find("mlp").unwrap());
        let refused: &[(&[&str], &str)] = &[
            (&["--layers", "784-50-10"], "--layers"),
            (&["--activation", "tanh"], "--activation"),
            (&["--init", "xavier"], "--init"),
            (&["--dropout", "0.3"], "--dropout"),
            (&["--optimizer", "sgd"], "--optimizer"),
            (&["--weight-decay", "0.1"], "--weight-decay"),
            (&["--momentum", "0.5"], "--momentum"),
            (&["--batch-size", "7"], "--batch-size"),
            (&["--seed", "1"], "--seed"),
            (&["--data", "x"], "--data, --csv-train or --csv-test"),
            (&["--limit", "100"], "--limit"),
            (&["--val-split", "0.2"], "--val-split"),
            (&["--augment", "2"], "--augment"),
            (&["--rotate", "5"], "--rotate"),
            (&["--scale", "0.1"], "--scale"),
            (&["--shear", "5"], "--shear"),
            (&["--elastic", "30"], "--elastic or --elastic-sigma"),
        ];
        for (flags, flag) in refused {
            let error = resume_with(&base, flags).unwrap_err();
            assert_eq!(error.exit_code(), 2);
            let message = error.to_string();
            assert!(
                message.starts_with(&format!("{flag} cannot change when resuming")),
                "{flags:?}: {message}"
            );
        }
        // The same values again are no change; nor is the network spelt otherwise.
        let layers = base.layers.replace('-', ",");
        let same = [
            "--optimizer",
            base.optimizer.as_str(),
            "--seed",
            "42",
            "--layers",
            &layers,
        ];
        assert_eq!(resume_with(&base, &same).unwrap(), base);
        // What may change is applied.
        let changed = resume_with(
            &base,
            &[
                "--epochs",
                "9",
                "--lr",
                "0.5",
                "--schedule",
                "cosine",
                "--threads",
                "1",
            ],
        )
        .unwrap();
        assert_eq!((changed.epochs, changed.lr), (9, 0.5));
        assert_eq!(
            (changed.schedule.as_str(), changed.threads),
            ("cosine", Some(1))
        );
    }

    #[test]
    fn config_json_keeps_the_history_of_resumed_changes() {
        let base = TrainConfig::from_preset(presets::find("mlp").unwrap());
        let mut once = resume_with(&base, &["--epochs", "6", "--threads", "1"]).unwrap();
        once.note_resumption(&base, 2, 500);
        let mut twice = resume_with(&once, &["--lr", "0.25"]).unwrap();
        twice.note_resumption(&once, 6, 1500);
        let mut unchanged = resume_with(&twice, &["--threads", "2"]).unwrap();
        unchanged.note_resumption(&twice, 6, 1500);
        let json = serde_json::to_value(&unchanged).unwrap();
        let expected = json!([
            {"epoch": 2, "step": 500, "changed": {"epochs": [base.epochs, 6]}},
            {"epoch": 6, "step": 1500, "changed": {"lr": [0.002, 0.25]}},
        ]);
        assert_eq!(json["resumed"], expected);
        let back: TrainConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, unchanged);
        // A run never resumed has no such entry.
        let fresh = serde_json::to_value(&base).unwrap();
        assert!(fresh.get("resumed").is_none(), "{fresh}");
    }

    #[test]
    fn a_network_too_large_for_memory_is_a_usage_error_not_an_abort() {
        // 784-h-10 has 785 h + 10 (h + 1) = 795 h + 10 parameters; 2^28 = 268 435 456.
        assert!(resolve(&["--layers", "784,337636,10"]).is_ok());
        let message = resolve(&["--layers", "784,337655,10"])
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("--layers 784,337655,10 would have 268435735 parameters"),
            "{message}"
        );
        // Sizes whose product overflows 64 bits are refused the same way.
        let huge = format!("784,{},{},10", usize::MAX, usize::MAX);
        let error = resolve(&["--layers", &huge]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("parameters"), "{error}");
        assert!(resolve(&["--preset", "best"]).is_ok());
        // Both spellings of a network, and a convolutional one.
        for layers in [
            "784-64-10",
            "784,64,10",
            "784 f64 10",
            "1x28x28 c8k3 p2 f32 10",
        ] {
            assert_eq!(resolve(&["--layers", layers]).unwrap().layers, layers);
        }
    }

    #[test]
    fn bad_values_are_usage_errors_naming_the_flag() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--layers", "100,10"],
                "--layers must start with the input 784 (28x28 pixels, for dense layers) or 1x28x28",
            ),
            (
                &["--layers", "784,30"],
                "--layers must end with the number of classes 10",
            ),
            (&["--layers", "784"], "--layers: invalid model spec \"784\": need at least"),
            (&["--layers", "784,0,10"], "at least 1"),
            (
                &["--layers", "1x28x28 c8k3 p2 c8k15 10"],
                "token 4 \"c8k15\": a 15x15 kernel does not fit in a 13x13 image",
            ),
            (&["--layers", "3x28x28 c8k3 10"], "not 3x28x28"),
            (&["--lr", "0"], "--lr must be a positive"),
            (&["--lr=-1"], "--lr must be a positive"),
            (&["--lr", "NaN"], "--lr must be a positive"),
            (&["--momentum", "1"], "--momentum"),
            (
                &["--optimizer", "rmsprop", "--momentum", "0.5"],
                "--momentum does not apply",
            ),
            (
                &["--schedule", "sometimes"],
                "--schedule: learning-rate schedule 'sometimes'",
            ),
            (&["--dropout", "1.5"], "--dropout"),
            (&["--val-split", "1"], "--val-split"),
            (&["--batch-size", "0"], "--batch-size"),
            (&["--epochs", "0"], "--epochs"),
            (&["--augment", "9"], "--augment 9 would move digits off"),
            (&["--threads", "0"], "--threads"),
            (&["--epochs", "100001"], "--epochs 100001 is more than the 100000"),
            (
                &["--preset", "huge"],
                "unknown preset 'huge' (choose one of: softmax-regression",
            ),
        ];
        for (flags, expected) in cases {
            let error = resolve(flags).unwrap_err();
            assert_eq!(error.exit_code(), 2);
            let message = error.to_string();
            assert!(message.contains(expected), "{flags:?}: {message}");
        }
    }

    #[test]
    fn the_config_round_trips_through_json() {
        let config = resolve(&["--data", "somewhere", "--dropout", "0.1"]).unwrap();
        let json = serde_json::to_string(&config).unwrap();
        assert!(
            json.contains("\"activation\":\"relu\"") && json.contains("\"optimizer\":\"adam\"")
        );
        assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), config);
    }
}
