//! The command line: subcommands, flags, help texts with examples. Parsing
//! only; `config` turns train flags into a checked configuration.

use crate::options::{ActivationName, InitName, OptimizerName};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "trainer",
    version,
    about = "Train, evaluate and try out MNIST digit classifiers built from scratch.",
    long_about = "Train, evaluate and try out MNIST digit classifiers built from scratch.\n\
                  With no command, trains the default network on the bundled MNIST.",
    after_help = "Examples:\n  \
        trainer                                   train the default network (>= 98% in < 30 s)\n  \
        trainer train --preset best --out runs/best\n  \
        trainer eval --model runs/best/model.safetensors\n  \
        trainer predict --model runs/best/model.safetensors my-seven.png --show\n  \
        trainer data\n\n\
        Exit codes: 0 ok, 1 failure (data, model, picture, file), 2 bad usage,\n\
        3 training diverged, 130 interrupted by Ctrl-C, 143 by SIGTERM, 129 by SIGHUP\n\
        (the step is finished and a checkpoint saved; a second signal quits at once),\n\
        141 the reader of the output closed the pipe (e.g. `| head -1`), quietly, as `cat` does."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

// Parsed once per process: the size of the train variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a network and save the model, a checkpoint, metrics and plots.
    Train(TrainArgs),
    /// Measure a saved model on the test set: accuracy, per class, confusion matrix.
    Eval(EvalArgs),
    /// Recognise digits in PNG or JPEG pictures.
    Predict(PredictArgs),
    /// Summarise a dataset and draw a few of its images in the terminal.
    Data(DataArgs),
    /// Write a model as ONNX, for onnxruntime and other tools.
    Export(ExportArgs),
    /// Describe a model: architecture, parameters, tensors; or PyTorch source for it.
    Info(InfoArgs),
    /// Serve a page to draw digits on and watch the network's answer change live.
    Serve(ServeArgs),
}

/// Where the images come from: a folder of IDX files or a pair of CSV files.
#[derive(Debug, Clone, Default, Args)]
pub struct DataSourceArgs {
    /// Folder with the four MNIST IDX files (gzipped or not) [default: the bundled data/mnist]
    #[arg(long, value_name = "DIR", conflicts_with_all = ["csv_train", "csv_test"])]
    pub data: Option<PathBuf>,
    /// Training set as CSV, one image a line: label then 784 pixels (0-255)
    #[arg(long, value_name = "FILE", requires = "csv_test")]
    pub csv_train: Option<PathBuf>,
    /// Test set as CSV, in the same layout as --csv-train
    #[arg(long, value_name = "FILE", requires = "csv_train")]
    pub csv_test: Option<PathBuf>,
    /// Use only the first N training and N test images (quick experiments, tests)
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub limit: Option<usize>,
}

/// `--limit 0` would leave nothing to train on or to measure (eval printed
/// "accuracy 0.00% on 0 test images"): refused while parsing, for every
/// command that reads data.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Debug, Clone, Default, Args)]
// Negative numbers are values (`--lr -1` gets the range check, not "unexpected argument").
#[command(after_help = train_after_help(), allow_negative_numbers = true)]
pub struct TrainArgs {
    #[command(flatten)]
    pub source: DataSourceArgs,
    /// Start from a preset's settings; other flags override single settings [default: default]
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// The network: sizes like 784,256,10 or a spec like "1x28x28 c32k3 p2 f128 10" (see below)
    #[arg(long, visible_alias = "arch", value_name = "SPEC")]
    pub layers: Option<String>,
    /// Activation of the hidden layers
    #[arg(long, value_enum)]
    pub activation: Option<ActivationName>,
    /// Update rule
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerName>,
    /// Learning rate (peak value when a schedule is used)
    #[arg(long)]
    pub lr: Option<f32>,
    /// Momentum coefficient for momentum and nesterov (also beta1 for adam/adamw)
    #[arg(long)]
    pub momentum: Option<f32>,
    /// L2 penalty (decoupled for adamw)
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// Learning-rate schedule: constant, cosine[:FLOOR], step:EPOCHS:GAMMA, exp:GAMMA, warmup:STEPS[+SCHEDULE]
    #[arg(long, value_name = "SCHEDULE")]
    pub schedule: Option<String>,
    /// Images per step
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Passes over the training set
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Fraction of hidden activations dropped while training (0 = off)
    #[arg(long)]
    pub dropout: Option<f32>,
    /// Shift training images randomly by up to N pixels each way (0 = off)
    #[arg(long, value_name = "N")]
    pub augment: Option<usize>,
    /// Rotate training images randomly by up to DEG degrees either way (0 = off)
    #[arg(long, value_name = "DEG")]
    pub rotate: Option<f32>,
    /// Scale training images randomly by a factor in [1 - S, 1 + S] (0 = off)
    #[arg(long, value_name = "S")]
    pub scale: Option<f32>,
    /// Shear training images randomly by up to DEG degrees either way (0 = off)
    #[arg(long, value_name = "DEG")]
    pub shear: Option<f32>,
    /// Elastic distortion of training images with strength ALPHA (Simard et al. 2003; 34 is theirs; 0 = off)
    #[arg(long, value_name = "ALPHA")]
    pub elastic: Option<f32>,
    /// Smoothness of the elastic distortion, in pixels [default: 4]
    #[arg(long, value_name = "SIGMA")]
    pub elastic_sigma: Option<f32>,
    /// Weight initialisation (auto: He for ReLU-like, Xavier for sigmoid/tanh)
    #[arg(long, value_enum)]
    pub init: Option<InitName>,
    /// Fraction of the training set held out for validation
    #[arg(long)]
    pub val_split: Option<f32>,
    /// Seed for initialisation, shuffling and dropout (same seed = same run, whatever --threads)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Threads for matrix multiplication [default: all cores]
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run folder for the model, checkpoint, metrics and plots [default: runs/<date-time>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue a run from its checkpoint file; only --epochs, --lr, --schedule and --threads may change
    #[arg(long, value_name = "CHECKPOINT")]
    pub resume: Option<PathBuf>,
    /// Let --out name a folder that already holds a run: its files are replaced
    #[arg(long)]
    pub overwrite: bool,
    /// Start from the weights of a saved model (fine-tuning): a model.safetensors, checkpoint or
    /// run folder, or a PyTorch state_dict; its network must be the run's (--arch/--layers)
    #[arg(long, value_name = "MODEL", conflicts_with = "resume")]
    pub init_from: Option<PathBuf>,
    /// Train and report, but write nothing: no run folder, model or checkpoint
    #[arg(long, conflicts_with_all = ["out", "overwrite", "resume"])]
    pub no_save: bool,
    /// Measure the test set after every epoch (as PyTorch's MNIST example prints it)
    #[arg(long)]
    pub test_every_epoch: bool,
    /// Print one JSON object with the results on stdout (progress goes to stderr)
    #[arg(long)]
    pub json: bool,
    /// Without a progress bar (output not a terminal, or --json): a progress line every SECONDS, 0 for none [default: 10]
    #[arg(long, value_name = "SECONDS", value_parser = non_negative_seconds)]
    pub log_every: Option<f64>,
}

fn non_negative_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds >= 0.0 && seconds.is_finite() => Ok(seconds),
        Ok(_) => Err("must be a number of seconds, 0 or more".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn train_after_help() -> String {
    format!(
        "{}\nNetworks (--layers): tokens separated by spaces, '-' or ',', the input first and\n\
         the number of classes last:\n  \
         784 or 1x28x28     the input: 784 pixels for dense layers, a 1x28x28 image for convolutions\n  \
         c32k3, c32k5p2     convolution: 32 filters of 3x3 (5x5 with 2 pixels of zero padding);\n                     \
         s2 for stride 2, bn for batch norm before the activation\n  \
         p2, p3s2           max pooling over 2x2 windows (3x3 moved by 2)\n  \
         a2, gap            average pooling over 2x2 windows, or over the whole image\n  \
         f128, 128, f128bn  a hidden dense layer of 128 units (with batch norm)\n  \
         d0.25              dropout after the layer before\n  \
         hidden=tanh        the activation of hidden layers (else --activation)\n\
         e.g. --layers 784,256,10  or  --layers \"1x28x28 c32k3 c32k3 p2 c64k3 p2 f256 10\"\n\n\
         Examples:\n  \
         trainer train                                         the default preset\n  \
         trainer train --preset softmax-regression             the classic baseline\n  \
         trainer train --layers 784,512,256,10 --optimizer momentum --lr 0.05 --schedule cosine\n  \
         trainer train --layers \"1x28x28 c16k5p2bn p2 c32k5bn p2 f128 10\" --rotate 10 --epochs 5\n  \
         trainer train --csv-train train.csv --csv-test test.csv --epochs 3\n  \
         trainer train --resume runs/2026-11-22T12-00-00/checkpoint\n  \
         trainer train --init-from runs/2026-11-22T12-00-00 --lr 1e-4 --epochs 2   fine-tune\n  \
         trainer train --init-from torch.safetensors --arch \"1x28x28 c16k3bn p2 c32k3bn p2 10\"\n  \
         trainer train --epochs 3 --no-save --test-every-epoch   try a setting, keep nothing\n  \
         trainer train --json --out runs/quick --epochs 1 | jq .test_accuracy",
        crate::presets::help_table()
    )
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:\n  \
    trainer eval --model runs/best/model.safetensors\n  \
    trainer eval --model model.safetensors --data ~/datasets/mnist --json\n  \
    trainer eval --model torch.safetensors --arch \"1x28x28 c16k3bn p2 c32k3bn p2 10\"")]
pub struct EvalArgs {
    /// A model.safetensors written by `trainer train`, its run folder, or a PyTorch state_dict (with --arch)
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// The network, for a file that does not name it (a PyTorch state_dict
    /// saved with safetensors.torch.save_file), e.g. "1x28x28 c16k3bn p2 c32k3bn p2 10"
    #[arg(long, value_name = "SPEC")]
    pub arch: Option<String>,
    #[command(flatten)]
    pub source: DataSourceArgs,
    /// Threads for matrix multiplication [default: all cores]
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print one JSON object (accuracy, per_class, confusion) on stdout
    #[arg(long)]
    pub json: bool,
    /// Also write the model's outputs for every test image as a NumPy .npy
    /// file (float32, N x 10, dataset order): logits unless the output
    /// activation is something else
    #[arg(long, value_name = "FILE")]
    pub dump_logits: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "The ONNX graph (opset 13, standard operators only):\n  \
    input  \"pixels\": float N x 1 x 28 x 28 for convolutional networks, N x 784 for\n         \
    perceptrons (N free), pixel values 0-255 as float (0 = background); the\n         \
    graph multiplies them by 1/255 first, as the trainer does\n  \
    output \"logits\": float N x 10, logits: softmax is left to the consumer (a network\n         \
    trained with output=softmax gives \"output\", its probabilities, instead)\n\
    metadata_props hold the model card: architecture, parameters, date, trainer_version,\n\
    test_accuracy (with test_images) when known (--measure, or the run folder), and what\n\
    train recorded: training_data and its checksum, trainer_commit, preset, settings...\n\n\
    Examples:\n  \
    trainer export --model runs/best/model.safetensors --onnx mnist.onnx\n  \
    trainer export --model runs/best/checkpoint --onnx mnist.onnx --measure\n\n\
    In Python:\n  \
    import onnxruntime, numpy\n  \
    session = onnxruntime.InferenceSession(\"mnist.onnx\")\n  \
    logits, = session.run(None, {\"pixels\": images.astype(numpy.float32)})")]
pub struct ExportArgs {
    /// A model.safetensors (or checkpoint, or run folder) written by `trainer train`, or a PyTorch state_dict (with --arch)
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// The network, for a file that does not name it (a PyTorch state_dict
    /// saved with safetensors.torch.save_file), e.g. "1x28x28 c16k3bn p2 c32k3bn p2 10"
    #[arg(long, value_name = "SPEC")]
    pub arch: Option<String>,
    /// Where to write the ONNX model (replaced atomically)
    #[arg(long, value_name = "OUT.onnx")]
    pub onnx: PathBuf,
    /// Measure the test accuracy now (on the data below) and record it in the model card
    #[arg(long)]
    pub measure: bool,
    #[command(flatten)]
    pub source: DataSourceArgs,
}

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "With --pytorch, the printed source defines `model` (its `layers` is a\n\
    torch.nn.Sequential numbered as the file's tensors are named) and `prepare(pixels)`,\n\
    which turns uint8 images [N, 1, 28, 28] into the float input the network expects:\n  \
    model.load_state_dict(safetensors.torch.load_file(FILE), strict=True)\n  \
    logits = model(prepare(pixels))\n\
    With --arch and no --model, the module of a spec, to train in PyTorch; its\n\
    safetensors.torch.save_file(model.state_dict(), FILE) then loads here with --arch.\n\n\
    Examples:\n  \
    trainer info --model runs/best/model.safetensors\n  \
    trainer info --model runs/best/model.safetensors --pytorch > network.py\n  \
    trainer info --arch \"1x28x28 c16k3bn p2 c32k3bn p2 10\" --pytorch > network.py"
)]
pub struct InfoArgs {
    /// A model.safetensors (or checkpoint, or run folder) written by `trainer train`, or a PyTorch state_dict (with --arch)
    #[arg(long, value_name = "FILE", required_unless_present = "arch")]
    pub model: Option<PathBuf>,
    /// The network, for a file that does not name it (a PyTorch state_dict
    /// saved with safetensors.torch.save_file), e.g. "1x28x28 c16k3bn p2 c32k3bn p2 10";
    /// without --model, describe this network (freshly initialised)
    #[arg(long, value_name = "SPEC")]
    pub arch: Option<String>,
    /// Print Python source for an equivalent PyTorch module instead
    #[arg(long)]
    pub pytorch: bool,
}

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Pictures may be any size, photos or scans, dark ink on light paper or the\n\
    reverse, grey, RGB or with transparency, a digit or a number of several digits\n\
    in a row: the light is evened out, printed lines, specks and shadows are left\n\
    out, touching digits are cut apart, and each digit is prepared the way MNIST\n\
    was made (cropped to the ink, scaled into 20x20, centred by mass in 28x28).\n\
    A digit the model gives less than 80% is marked \"?\" and \"not sure\"\n\
    (\"confident\": false in JSON); a picture without a digit is an error\n\
    (\"no_digit\": true in JSON).\n\n\
    Examples:\n  \
    trainer predict --model runs/best/model.safetensors seven.png\n  \
    trainer predict --model model.safetensors photo.jpg scan.png --show\n  \
    trainer predict --model model.safetensors *.png --json"
)]
pub struct PredictArgs {
    /// A model.safetensors written by `trainer train`, its run folder, or a PyTorch state_dict (with --arch)
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// The network, for a file that does not name it (a PyTorch state_dict
    /// saved with safetensors.torch.save_file), e.g. "1x28x28 c16k3bn p2 c32k3bn p2 10"
    #[arg(long, value_name = "SPEC")]
    pub arch: Option<String>,
    /// PNG or JPEG pictures of a digit or of a number
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// Draw the picture with a box around each digit found, and each
    /// prepared 28x28 input, in the terminal
    #[arg(long)]
    pub show: bool,
    /// Print one JSON object ({"predictions": [{"file", "text", "confident",
    /// "digits": [{"digit", "probabilities", "box": [x, y, w, h], "confident"}],
    /// and for a single digit "digit" and "probabilities"}]}) on stdout; a
    /// picture that cannot be read gets {"file", "error", "no_digit"} instead,
    /// and the exit code is 1
    #[arg(long)]
    pub json: bool,
    /// Write each digit's 28x28 input, as the model saw it, to
    /// DIR/<picture name>-<n>.png
    #[arg(long, value_name = "DIR")]
    pub save_inputs: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "The page and its API (POST /api/predict, GET /api/models) are described in\n\
    crates/trainer/README.md. Ctrl-C or SIGTERM stops the server (exit status 0).\n\n\
    Examples:\n  \
    trainer serve                                  every run under runs/, on http://127.0.0.1:8000/\n  \
    trainer serve --model runs/best --addr 127.0.0.1:9000\n  \
    curl -H 'Content-Type: image/png' --data-binary @seven.png http://127.0.0.1:8000/api/predict"
)]
pub struct ServeArgs {
    /// Serve only this model (a model.safetensors, a checkpoint or a run folder)
    #[arg(long, value_name = "FILE", conflicts_with = "runs")]
    pub model: Option<PathBuf>,
    /// The network, for a --model file that does not name it (a PyTorch
    /// state_dict saved with safetensors.torch.save_file), e.g. "1x28x28 c16k3bn p2 c32k3bn p2 10"
    #[arg(long, value_name = "SPEC", requires = "model")]
    pub arch: Option<String>,
    /// Offer every run under this folder in the page's model picker
    #[arg(long, value_name = "DIR", default_value = "runs")]
    pub runs: PathBuf,
    /// Where to listen; an address other than loopback lets other machines in (with a warning)
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8000")]
    pub addr: String,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:\n  \
    trainer data\n  \
    trainer data --data ~/datasets/fashion-mnist --show 10")]
pub struct DataArgs {
    #[command(flatten)]
    pub source: DataSourceArgs,
    /// How many training images to draw
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub show: usize,
}

/// Clap's usage errors span several lines (message, usage, tip); the issue
/// wants one line on stderr. Keep the message and any tip, drop the rest.
pub fn one_line_usage_error(rendered: &str) -> String {
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut line = lines
        .next()
        .unwrap_or("error: invalid arguments")
        .to_string();
    let mut rest: Vec<&str> = lines.collect();
    // "the following required arguments were not provided:" lists them below.
    if line.ends_with(':') {
        let listed = rest.iter().take_while(|l| !l.starts_with("Usage:")).count();
        line.push(' ');
        line.push_str(&rest.drain(..listed).collect::<Vec<_>>().join(", "));
    }
    for tip in rest.into_iter().filter(|l| l.starts_with("tip:")) {
        line.push_str("; ");
        line.push_str(tip);
    }
    if !line.starts_with("error:") {
        line.insert_str(0, "error: ");
    }
    line.push_str(" (see --help)");
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn train_flags_parse_into_options() {
        let cli = Cli::try_parse_from([
            "trainer",
            "train",
            "--layers",
            "784,32,10",
            "--optimizer",
            "adamw",
            "--lr",
            "0.01",
            "--activation",
            "leaky-relu",
            "--limit",
            "500",
            "--json",
        ])
        .unwrap();
        let Some(Command::Train(args)) = cli.command else {
            panic!("not train")
        };
        assert_eq!(args.layers, Some("784,32,10".to_string()));
        assert_eq!(args.optimizer, Some(OptimizerName::AdamW));
        assert_eq!(args.activation, Some(ActivationName::LeakyRelu));
        assert_eq!(args.lr, Some(0.01));
        assert_eq!(args.source.limit, Some(500));
        assert!(args.json);
        assert_eq!(args.epochs, None);
    }

    #[test]
    fn no_arguments_means_no_subcommand() {
        assert!(Cli::try_parse_from(["trainer"]).unwrap().command.is_none());
    }

    #[test]
    fn usage_errors_collapse_to_one_line() {
        let error = Cli::try_parse_from(["trainer", "train", "--epoch", "3"]).unwrap_err();
        let line = one_line_usage_error(&error.to_string());
        assert!(!line.contains('\n'));
        assert!(
            line.starts_with("error: unexpected argument '--epoch'"),
            "{line}"
        );
        assert!(line.contains("--epochs"), "{line}");

        let error = Cli::try_parse_from(["trainer", "train", "--lr", "fast"]).unwrap_err();
        let line = one_line_usage_error(&error.to_string());
        assert!(line.contains("'fast'") && line.contains("--lr"), "{line}");

        let error = Cli::try_parse_from(["trainer", "predict", "--model", "m"]).unwrap_err();
        assert!(one_line_usage_error(&error.to_string()).contains("IMAGE"));

        let error = Cli::try_parse_from(["trainer", "train", "--csv-train", "a.csv"]).unwrap_err();
        assert!(one_line_usage_error(&error.to_string()).contains("--csv-test"));
    }

    #[test]
    fn csv_files_come_in_pairs() {
        // Alone, either would be silently ignored in favour of the IDX data.
        let pairs = [
            ("train", "--csv-test", "--csv-train"),
            ("data", "--csv-train", "--csv-test"),
        ];
        for (command, given, missing) in pairs {
            let error = Cli::try_parse_from(["trainer", command, given, "x.csv"]).unwrap_err();
            let line = one_line_usage_error(&error.to_string());
            assert!(
                line.contains(&format!("required arguments were not provided: {missing}")),
                "{line}"
            );
            assert_eq!(error.exit_code(), 2);
        }
    }

    #[test]
    fn a_limit_of_zero_is_refused_by_every_command_that_reads_data() {
        for command in [&["train"][..], &["eval", "--model", "m"], &["data"]] {
            let argv = ["trainer"].iter().chain(command).chain(&["--limit", "0"]);
            let error = Cli::try_parse_from(argv).unwrap_err();
            let line = one_line_usage_error(&error.to_string());
            assert!(
                line.contains("'0' for '--limit <N>': must be at least 1"),
                "{command:?}: {line}"
            );
        }
        let cli = Cli::try_parse_from(["trainer", "data", "--limit", "7"]).unwrap();
        let Some(Command::Data(args)) = cli.command else {
            panic!("not data")
        };
        assert_eq!(args.source.limit, Some(7));
    }

    #[test]
    fn every_subcommand_help_has_examples() {
        let mut cli = Cli::command();
        cli.build();
        for sub in cli.get_subcommands().filter(|s| s.get_name() != "help") {
            let help = sub.clone().render_help().to_string();
            assert!(
                help.contains("Examples:"),
                "{} help has no examples",
                sub.get_name()
            );
        }
    }
}
