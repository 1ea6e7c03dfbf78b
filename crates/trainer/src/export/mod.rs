//! A trained network for other tools: an ONNX graph (`trainer export
//! --onnx`), PyTorch source that loads the weights file as it is
//! (`trainer info --pytorch`), and the model card both carry.
//!
//! Both follow one list of modules ([`modules`]), numbered as PyTorch's
//! `nn.Sequential` numbers them, so the ONNX initializers, the PyTorch
//! module indices and the safetensors names (`layers.4.weight`) agree.

pub mod onnx;
mod protobuf;
pub mod pytorch;

use crate::cli::{ExportArgs, InfoArgs};
use crate::config::DataSource;
use crate::error::Error;
use crate::evaluate::{model_pixels, PIXELS};
use mnist_data::{Batch, BatchOptions, Batches, Dataset, Pixels};
use nn::{Activation, LayerSpec, ModelSpec, Sequential, Shape};
use std::path::Path;

/// `trainer export`: the model as ONNX, with its card.
pub fn export_command(args: &ExportArgs) -> Result<(), Error> {
    let loaded = crate::model_file::load(&args.model, args.arch.as_deref())?;
    let (mut model, metadata) = (loaded.model, loaded.metadata);
    only_scaled_pixels(&metadata, &loaded.file, "ONNX")?;
    let test = if args.measure {
        let test = DataSource::from_args(&args.source)
            .load(args.source.limit)?
            .test;
        Some(TestResult {
            accuracy: crate::evaluate::evaluate(&mut model, &test)?.accuracy,
            images: Some(test.len()),
        })
    } else {
        recorded_test_result(&args.model, &metadata)
    };
    let card = ModelCard::new(&model, test).with_training(&metadata);
    let bytes = onnx::encode(&model, &card);
    crate::files::write_atomic(&args.onnx, &bytes)?;
    let accuracy = card.test.map_or(String::new(), |test| {
        format!(", test accuracy {:.2}%", 100.0 * test.accuracy)
    });
    crate::write_stdout(format_args!(
        "wrote {} ({} bytes): {}, {} parameters{accuracy}; input \"{}\" is pixels 0-255\n",
        args.onnx.display(),
        bytes.len(),
        card.architecture,
        card.parameters,
        onnx::INPUT
    ))
}

/// `trainer info`: the model card, or PyTorch source with `--pytorch`.
pub fn info_command(args: &InfoArgs) -> Result<(), Error> {
    let loaded = match (&args.model, &args.arch) {
        (Some(path), arch) => crate::model_file::load(path, arch.as_deref())?,
        (None, Some(arch)) => crate::model_file::fresh(arch)?,
        (None, None) => return Err(Error::Usage("info needs --model or --arch".into())),
    };
    let (model, metadata) = (loaded.model, loaded.metadata);
    if args.pytorch {
        only_scaled_pixels(&metadata, &loaded.file, "PyTorch source")?;
        let weights = loaded.file.display().to_string();
        return crate::write_stdout(format_args!("{}", pytorch::source(model.spec(), &weights)));
    }
    let test = (args.model.as_deref()).and_then(|path| recorded_test_result(path, &metadata));
    let card = ModelCard::new(&model, test).with_training(&metadata);
    crate::write_stdout(format_args!("{}", info_text(&model, &card)))?;
    // The rest of the card `train` saved with the model (data, settings,
    // time, machine), as it was written.
    for (key, value) in &card.training {
        crate::write_stdout(format_args!("{}: {value}\n", key.replace('_', " ")))?;
    }
    Ok(())
}

/// The exported graph and the PyTorch source scale pixels by 1/255 (see
/// `onnx.rs` and `pytorch.rs`): a model that wants other inputs is refused
/// rather than exported to give wrong answers.
fn only_scaled_pixels(
    metadata: &std::collections::BTreeMap<String, String>,
    path: &Path,
    what: &str,
) -> Result<(), Error> {
    let pixels = model_pixels(metadata, path)?;
    if pixels == PIXELS {
        return Ok(());
    }
    Err(Error::model(
        path,
        format!(
            "it takes {} pixels; {what} export handles models of pixels / 255 only",
            pixels.to_metadata()
        ),
    ))
}

/// The model-card entries of a trained model's metadata that `info_text`
/// does not already show.
const TRAINING_CARD_KEYS: &[&str] = &[
    "training_data",
    "training_data_checksum",
    "trainer_commit",
    "init_from",
    "preset",
    "epochs",
    "training_seconds",
    "machine",
    "settings",
];

/// Writes the model's outputs (evaluation mode) for every image of `set`,
/// in order, as a NumPy `.npy` file of float32 `[N, O]`.
pub fn dump_outputs(
    model: &mut Sequential,
    set: &Dataset,
    pixels: Pixels,
    path: &Path,
) -> Result<(), Error> {
    let options = BatchOptions {
        batch_size: model.predict_rows(),
        pixels,
        ..BatchOptions::default()
    };
    let mut batches = Batches::new(set, options).map_err(|e| Error::Data(e.to_string()))?;
    let mut batch = Batch::new();
    let mut values = Vec::with_capacity(set.len() * model.spec().outputs);
    let was_training = model.is_training();
    model.set_training(false);
    let result = (|| -> Result<(), Error> {
        while batches.next_batch(&mut batch) {
            values.extend_from_slice(model.forward(batch.images().view())?.as_slice());
        }
        Ok(())
    })();
    model.set_training(was_training);
    result?;
    crate::files::write_atomic(path, &npy_f32(&values, set.len(), model.spec().outputs))
}

/// A `.npy` file (format 1.0): magic, header length, a Python dict literal
/// padded with spaces to a multiple of 64 bytes and ended by a newline,
/// then the values little-endian, row after row.
/// See <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>.
pub fn npy_f32(values: &[f32], rows: usize, columns: usize) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {columns}), }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    bytes
}

/// One module of the network's `nn.Sequential`, in order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Module {
    /// `Conv2d(in, out, kernel, stride, padding, bias)`, square and zero-padded.
    Conv2d {
        inputs: usize,
        outputs: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        bias: bool,
    },
    /// `BatchNorm2d(features)` after a convolution, `BatchNorm1d` after a
    /// dense layer (eps 1e-5, momentum 0.1: PyTorch's defaults).
    BatchNorm { features: usize, image: bool },
    /// `Linear(inputs, outputs, bias)`.
    Linear {
        inputs: usize,
        outputs: usize,
        bias: bool,
    },
    /// An activation over the output of shape `shape` (softmax is taken
    /// over a whole row, all of an image's values, as `nn` does).
    Activation {
        activation: Activation,
        shape: Shape,
    },
    /// `MaxPool2d(kernel, stride)`.
    MaxPool2d { kernel: usize, stride: usize },
    /// `AvgPool2d(kernel, stride)`.
    AvgPool2d { kernel: usize, stride: usize },
    /// `Flatten()`: `[B, C, H, W]` to `[B, C*H*W]`.
    Flatten,
    /// `Dropout(rate)`: the identity at inference.
    Dropout(f32),
}

/// The modules of `spec`'s `nn.Sequential`; module `k` is `layers.k`. The
/// output activation is the last module unless it is the identity.
pub fn modules(spec: &ModelSpec) -> Vec<Module> {
    let mut modules = Vec::new();
    let hidden = |shape: Shape| Module::Activation {
        activation: spec.hidden,
        shape,
    };
    for placed in spec.placed() {
        let (input, output) = (placed.input, placed.output);
        match placed.layer {
            LayerSpec::Conv {
                filters,
                kernel,
                stride,
                padding,
                batch_norm,
            } => {
                modules.push(Module::Conv2d {
                    inputs: input.channels,
                    outputs: filters,
                    kernel,
                    stride,
                    padding,
                    bias: !batch_norm,
                });
                if batch_norm {
                    modules.push(Module::BatchNorm {
                        features: filters,
                        image: true,
                    });
                }
                modules.push(hidden(output));
            }
            LayerSpec::MaxPool { kernel, stride } => {
                modules.push(Module::MaxPool2d { kernel, stride })
            }
            // `gap`: the window is the whole (square) image.
            LayerSpec::AvgPool { kernel: 0, .. } => modules.push(Module::AvgPool2d {
                kernel: input.height,
                stride: input.height,
            }),
            LayerSpec::AvgPool { kernel, stride } => {
                modules.push(Module::AvgPool2d { kernel, stride })
            }
            LayerSpec::Dense { units, batch_norm } => {
                if input.is_image() {
                    modules.push(Module::Flatten);
                }
                modules.push(Module::Linear {
                    inputs: input.len(),
                    outputs: units,
                    bias: !batch_norm,
                });
                if batch_norm {
                    modules.push(Module::BatchNorm {
                        features: units,
                        image: false,
                    });
                }
                modules.push(hidden(output));
            }
            LayerSpec::Dropout(rate) => modules.push(Module::Dropout(rate)),
        }
    }
    let last = spec.last_hidden_shape();
    if last.is_image() {
        modules.push(Module::Flatten);
    }
    modules.push(Module::Linear {
        inputs: last.len(),
        outputs: spec.outputs,
        bias: true,
    });
    if spec.output != Activation::Identity {
        modules.push(Module::Activation {
            activation: spec.output,
            shape: Shape::flat(spec.outputs),
        });
    }
    modules
}

/// What a model is, for a person and for a file's metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelCard {
    /// The spec line (`1x28x28 c8k3 p2 10`), which `train --layers` reads back.
    pub architecture: String,
    pub parameters: usize,
    /// When the card was written, UTC, ISO 8601 (`2026-12-07T13:45:00Z`).
    pub date: String,
    pub trainer_version: String,
    /// The test accuracy, when the run folder or `--measure` tells it.
    pub test: Option<TestResult>,
    /// What `train` recorded with the model (data and its checksum, the
    /// trainer's commit, preset, settings, time, machine), as the file
    /// holds it; empty for a file from elsewhere.
    pub training: Vec<(String, String)>,
}

/// How a model did on a test set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TestResult {
    /// The fraction of test images classified correctly.
    pub accuracy: f32,
    /// How many test images, when known (`--limit` measures fewer).
    pub images: Option<usize>,
}

impl ModelCard {
    pub fn new(model: &Sequential, test: Option<TestResult>) -> ModelCard {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        ModelCard {
            architecture: model.spec().summary(),
            parameters: model.parameter_count(),
            date: iso_date(&crate::files::utc_timestamp(seconds)),
            trainer_version: env!("CARGO_PKG_VERSION").to_string(),
            test,
            training: Vec::new(),
        }
    }

    /// The card with the training record of a model file's `metadata`.
    pub fn with_training(mut self, metadata: &std::collections::BTreeMap<String, String>) -> Self {
        self.training = (TRAINING_CARD_KEYS.iter())
            .filter_map(|key| Some((key.to_string(), metadata.get(*key)?.clone())))
            .collect();
        self
    }

    /// `(key, value)` pairs, for ONNX's `metadata_props`.
    pub fn entries(&self) -> Vec<(String, String)> {
        let mut entries = vec![
            ("architecture".to_string(), self.architecture.clone()),
            ("parameters".to_string(), self.parameters.to_string()),
            ("date".to_string(), self.date.clone()),
            ("trainer_version".to_string(), self.trainer_version.clone()),
        ];
        if let Some(test) = self.test {
            entries.push(("test_accuracy".to_string(), format!("{:.4}", test.accuracy)));
            if let Some(images) = test.images {
                entries.push(("test_images".to_string(), images.to_string()));
            }
        }
        entries.extend(self.training.iter().cloned());
        entries
    }
}

/// ISO 8601 (`2026-12-07T13:45:00Z`) from a run folder's timestamp
/// (`2026-12-07T13-45-00`, dashes for file names).
fn iso_date(timestamp: &str) -> String {
    match timestamp.split_once('T') {
        Some((day, time)) => format!("{day}T{}Z", time.replace('-', ":")),
        None => timestamp.to_string(),
    }
}

/// The test result a run folder records for the model at `path` (a file,
/// or the run folder itself): the last line of the folder's `metrics.jsonl`
/// with a `test_accuracy` (and `test_images`, if it says), or the file's own
/// metadata (`test_accuracy`, `test_images`), else `None`.
pub fn recorded_test_result(
    path: &Path,
    metadata: &std::collections::BTreeMap<String, String>,
) -> Option<TestResult> {
    let number = |key: &str| metadata.get(key)?.trim().parse::<f64>().ok();
    let from_metadata = number("test_accuracy").map(|accuracy| TestResult {
        accuracy: accuracy as f32,
        images: number("test_images").map(|n| n as usize),
    });
    let folder = match path.is_dir() {
        true => path,
        false => path.parent().unwrap_or(Path::new(".")),
    };
    let metrics = std::fs::read_to_string(folder.join("metrics.jsonl")).unwrap_or_default();
    let from_metrics = metrics
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|value| {
            Some(TestResult {
                accuracy: value.get("test_accuracy")?.as_f64()? as f32,
                images: value
                    .get("test_images")
                    .and_then(serde_json::Value::as_u64)
                    .map(|n| n as usize),
            })
        });
    from_metrics
        .or(from_metadata)
        .filter(|test| (0.0..=1.0).contains(&test.accuracy))
}

/// `PyTorch`-style text of one module (`Conv2d(1, 8, kernel_size=3)`).
pub fn describe(module: &Module) -> String {
    pytorch::module_source(module).replace("nn.", "")
}

/// What `trainer info` prints: the card, the modules and the tensors.
pub fn info_text(model: &Sequential, card: &ModelCard) -> String {
    let spec = model.spec();
    let mut text = format!(
        "architecture: {}\nparameters: {}\ninput: {} (pixels / 255)\noutputs: {} ({})\n",
        card.architecture,
        card.parameters,
        spec.input,
        spec.outputs,
        match spec.output {
            Activation::Identity => "logits".to_string(),
            other => other.name(),
        }
    );
    text.push_str(&format!("trainer version: {}\n", card.trainer_version));
    if let Some(test) = card.test {
        let images = test
            .images
            .map_or(String::new(), |n| format!(" on {n} test images"));
        text.push_str(&format!(
            "test accuracy: {:.2}%{images}\n",
            100.0 * test.accuracy
        ));
    }
    text.push_str("modules (nn.Sequential \"layers\"):\n");
    for (index, module) in modules(spec).iter().enumerate() {
        text.push_str(&format!("  {index:>3}  {}\n", describe(module)));
    }
    text.push_str("tensors:\n");
    for (name, shape, _) in model.tensors() {
        text.push_str(&format!("  {name:<28} {shape:?}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tensor names the modules imply are those `nn` saves.
    #[test]
    fn module_indices_name_the_saved_tensors() {
        for text in [
            "784-32-10",
            "784-100-10 hidden=sigmoid dropout=0.5",
            "1x28x28 c4k3bn p2 10",
            "1x28x28 c32k3 c64k3bn p2 d0.25 f128 10",
            "3x32x32 c16k3s2p1bn d0.1 p3s2 gap f10bn d0.5 10 output=softmax",
            "1x28x28 10",
            "784 f64bn 10 hidden=identity",
        ] {
            let spec = ModelSpec::parse(text).unwrap();
            let mut names = Vec::new();
            for (index, module) in modules(&spec).iter().enumerate() {
                let mut add = |name: &str, shape: Vec<usize>| {
                    names.push((format!("layers.{index}.{name}"), shape))
                };
                match *module {
                    Module::Conv2d {
                        inputs,
                        outputs,
                        kernel,
                        bias,
                        ..
                    } => {
                        add("weight", vec![outputs, inputs, kernel, kernel]);
                        if bias {
                            add("bias", vec![outputs]);
                        }
                    }
                    Module::Linear {
                        inputs,
                        outputs,
                        bias,
                    } => {
                        add("weight", vec![outputs, inputs]);
                        if bias {
                            add("bias", vec![outputs]);
                        }
                    }
                    Module::BatchNorm { features, .. } => {
                        for name in ["weight", "bias", "running_mean", "running_var"] {
                            add(name, vec![features]);
                        }
                        add("num_batches_tracked", vec![]);
                    }
                    _ => {}
                }
            }
            assert_eq!(names, spec.tensor_shapes(), "{text}");
        }
    }

    #[test]
    fn the_card_holds_the_accuracy_only_when_known() {
        let spec = ModelSpec::parse("784-8-10").unwrap();
        let model = Sequential::new(&spec, nn::Init::HeNormal, 1).unwrap();
        let card = ModelCard::new(&model, None);
        let keys: Vec<String> = card.entries().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["architecture", "parameters", "date", "trainer_version"]
        );
        assert_eq!(card.parameters, 784 * 8 + 8 + 8 * 10 + 10);
        let test = TestResult {
            accuracy: 0.9877,
            images: Some(10_000),
        };
        let entries = ModelCard::new(&model, Some(test)).entries();
        assert_eq!(entries[4], ("test_accuracy".into(), "0.9877".into()));
        assert_eq!(entries[5], ("test_images".into(), "10000".into()));
        assert_eq!(iso_date("2026-12-07T13-45-00"), "2026-12-07T13:45:00Z");
    }
}
