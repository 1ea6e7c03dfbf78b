//! The `trainer` binary end to end: every subcommand, every error the issue
//! lists, determinism, resume after Ctrl-C, and accuracy on full MNIST.
//! Small runs use `--limit`; one shared full-MNIST run serves the accuracy,
//! eval and predict checks.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

mod common;
use common::{
    assert_clean_failure, assert_success, path_arg, run, temp_dir, text, trainer, write_idx,
};

/// The tensors of a run folder's model (not the file's bytes: its model
/// card records times and paths, which differ between identical runs).
fn weights(dir: &Path) -> Vec<nn::safetensors::Tensor> {
    nn::safetensors::read_tensors(&dir.join("model.safetensors"))
        .unwrap()
        .tensors
}

fn json_stdout(output: &Output) -> Value {
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "failed: {}", text(&output.stderr));
    assert_eq!(
        stdout.trim_end().lines().count(),
        1,
        "not one JSON line: {stdout}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The bundled test set: 10 000 images and labels (read with our own code
/// from mnist-data, which has its own tests against the published checksums).
fn test_set() -> &'static mnist_data::Dataset {
    static SET: OnceLock<mnist_data::Dataset> = OnceLock::new();
    SET.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
        mnist_data::MnistSet::load_dir(dir, None).unwrap().test
    })
}

/// One full-MNIST run of the default network, cut to 3 epochs, shared by
/// the tests that need a trained model.
struct TrainedRun {
    report: Value,
    dir: PathBuf,
}

fn trained() -> &'static TrainedRun {
    static RUN: OnceLock<TrainedRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = temp_dir("full");
        let out = dir.join("run");
        let output = run(&["train", "--epochs", "3", "--json", "--out", path_arg(&out)]);
        TrainedRun {
            report: json_stdout(&output),
            dir: out,
        }
    })
}

#[test]
fn a_short_preset_reaches_97_percent_on_full_mnist() {
    let trained_run = trained();
    let accuracy = trained_run.report["test_accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.97, "test accuracy {accuracy}");
    assert_eq!(trained_run.report["epochs"], 3);
}

#[test]
fn train_json_has_the_promised_fields_and_the_run_folder_is_complete() {
    let trained_run = trained();
    let report = &trained_run.report;
    let accuracy = report["test_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&accuracy));
    assert!(report["train_seconds"].as_f64().unwrap() > 0.0);
    assert!(report["samples_per_second"].as_f64().unwrap() > 0.0);
    let model = PathBuf::from(report["model"].as_str().unwrap());
    assert_eq!(model, trained_run.dir.join("model.safetensors"));
    // The model file carries its card: how inputs are scaled, how it did.
    let card = nn::safetensors::read_tensors(&model).unwrap().metadata;
    assert_eq!(card["test_accuracy"], format!("{accuracy:.4}"));
    assert_eq!(card["test_images"], "10000");
    assert_eq!(card["epochs"], "3");
    assert_eq!(card["parameters"], report["parameters"].to_string());
    assert!(card["input_scaling"].contains("/ 255"), "{card:?}");
    assert!(card["settings"].contains("\"seed\":42"), "{card:?}");
    for name in [
        "model.safetensors",
        "checkpoint",
        "metrics.jsonl",
        "config.json",
        "learning_curves.svg",
        "confusion_matrix.svg",
        "test_digits.svg",
        "first_layer.svg",
    ] {
        assert!(trained_run.dir.join(name).is_file(), "{name} missing");
    }
    // No temporary files left behind by the atomic writes.
    for entry in std::fs::read_dir(&trained_run.dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(!name.contains(".tmp"), "{name} left behind");
    }
    let metrics = std::fs::read_to_string(trained_run.dir.join("metrics.jsonl")).unwrap();
    let lines: Vec<Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["epoch"], i + 1);
        for key in [
            "train_loss",
            "train_accuracy",
            "val_loss",
            "val_accuracy",
            "seconds",
        ] {
            assert!(line[key].as_f64().is_some(), "{key} missing in {line}");
        }
    }
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(trained_run.dir.join("config.json")).unwrap(),
    )
    .unwrap();
    // The default preset's network, as the report names it.
    assert_eq!(config["layers"], report["architecture"]);
    assert!(config["layers"].as_str().unwrap().starts_with("1x28x28 c"));
    assert_eq!(
        (config["epochs"].as_u64(), config["seed"].as_u64()),
        (Some(3), Some(42))
    );
    for svg in [
        "learning_curves.svg",
        "confusion_matrix.svg",
        "test_digits.svg",
        "first_layer.svg",
    ] {
        let content = std::fs::read_to_string(trained_run.dir.join(svg)).unwrap();
        assert!(content.starts_with("<svg") && content.trim_end().ends_with("</svg>"));
    }
}

#[test]
fn eval_reports_the_same_accuracy_as_training_with_a_consistent_confusion_matrix() {
    let trained_run = trained();
    let model = trained_run.dir.join("model.safetensors");
    let report = json_stdout(&run_eval(&model, &["--json"]));
    let accuracy = report["accuracy"].as_f64().unwrap();
    // Same model, same 10 000 test images: the same figure.
    assert_eq!(
        accuracy,
        trained_run.report["test_accuracy"].as_f64().unwrap()
    );
    let confusion: Vec<Vec<u64>> = serde_json::from_value(report["confusion"].clone()).unwrap();
    let per_class: Vec<f64> = serde_json::from_value(report["per_class"].clone()).unwrap();
    assert_eq!((confusion.len(), per_class.len()), (10, 10));
    // Row sums are the true class counts of the test set.
    let mut class_counts = [0u64; 10];
    for &label in test_set().labels() {
        class_counts[usize::from(label)] += 1;
    }
    for (class, row) in confusion.iter().enumerate() {
        assert_eq!(row.iter().sum::<u64>(), class_counts[class]);
        let expected = row[class] as f64 / class_counts[class] as f64;
        assert!((per_class[class] - expected).abs() < 1e-6);
    }
    let diagonal: u64 = (0..10).map(|c| confusion[c][c]).sum();
    assert!((diagonal as f64 / 10_000.0 - accuracy).abs() < 1e-6);

    // The text form shows the same, and a checkpoint evaluates like the model.
    let human = text(&run_eval(&model, &[]).stdout);
    assert!(
        human.contains(&format!("accuracy {:.2}%", 100.0 * accuracy)),
        "{human}"
    );
    assert!(human.contains("confusion matrix"), "{human}");
    let from_checkpoint = json_stdout(&run_eval(&trained_run.dir.join("checkpoint"), &["--json"]));
    assert_eq!(from_checkpoint["accuracy"], report["accuracy"]);
    // A run folder stands for its model.
    let from_folder = json_stdout(&run_eval(&trained_run.dir, &["--json"]));
    assert_eq!(from_folder["accuracy"], report["accuracy"]);
}

fn run_eval(model: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["eval", "--model", path_arg(model)];
    args.extend_from_slice(extra);
    run(&args)
}

/// Writes an 8-bit PNG (grey or RGB) for the predict tests.
fn write_png(path: &Path, width: usize, height: usize, rgb: bool, data: &[u8]) {
    let colour = if rgb {
        png::ColorType::Rgb
    } else {
        png::ColorType::Grayscale
    };
    let bytes = common::pictures::png(width, height, colour, data);
    std::fs::write(path, bytes).unwrap();
}

/// Test digit `index` enlarged `factor` times (nearest neighbour), pasted
/// at `(x, y)` on a `width x height` sheet; `dark_on_light` turns it into
/// ink on paper as a person would write it.
fn sheet(
    index: usize,
    factor: usize,
    width: usize,
    height: usize,
    x: usize,
    y: usize,
    dark_on_light: bool,
) -> Vec<u8> {
    let digit = test_set().image(index);
    let paper = if dark_on_light { 240u8 } else { 0 };
    let mut pixels = vec![paper; width * height];
    for sy in 0..28 * factor {
        for sx in 0..28 * factor {
            let v = digit[(sy / factor) * 28 + sx / factor];
            pixels[(y + sy) * width + x + sx] = if dark_on_light {
                240 - (u16::from(v) * 220 / 255) as u8
            } else {
                v
            };
        }
    }
    pixels
}

#[test]
fn predict_recognises_test_digits_made_into_pictures() {
    let trained_run = trained();
    let dir = temp_dir("predict");
    let model = trained_run.dir.join("model.safetensors");
    // For the first 12 test digits: as they are, enlarged and inverted,
    // off-centre on a large RGB sheet.
    let mut files = Vec::new();
    let mut labels = Vec::new();
    for index in 0..12 {
        let label = test_set().label(index);
        let plain = dir.join(format!("{index}-plain.png"));
        write_png(&plain, 28, 28, false, test_set().image(index));
        let big = dir.join(format!("{index}-big-inverted.png"));
        write_png(
            &big,
            140,
            140,
            false,
            &sheet(index, 5, 140, 140, 0, 0, true),
        );
        let corner = dir.join(format!("{index}-corner.png"));
        let grey = sheet(index, 3, 300, 200, 200, 10, true);
        let rgb: Vec<u8> = grey
            .iter()
            .flat_map(|&v| [v, v, v.saturating_sub(20)])
            .collect();
        write_png(&corner, 300, 200, true, &rgb);
        for file in [plain, big, corner] {
            files.push(file);
            labels.push(usize::from(label));
        }
    }
    let mut args = vec!["predict", "--model", path_arg(&model), "--json"];
    args.extend(files.iter().map(|f| path_arg(f)));
    let report = json_stdout(&run(&args));
    let predictions = report["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), files.len());
    let mut correct = 0;
    for ((prediction, file), &label) in predictions.iter().zip(&files).zip(&labels) {
        assert_eq!(prediction["file"].as_str().unwrap(), path_arg(file));
        let probabilities: Vec<f64> =
            serde_json::from_value(prediction["probabilities"].clone()).unwrap();
        assert_eq!(probabilities.len(), 10);
        assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-4);
        let digit = prediction["digit"].as_u64().unwrap() as usize;
        let best = (0..10)
            .max_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]))
            .unwrap();
        assert_eq!(digit, best);
        correct += usize::from(digit == label);
    }
    // A 97% model may miss one of 36; more would mean the pictures are
    // not prepared the way MNIST was.
    assert!(correct >= 35, "{correct} of {} right", files.len());

    // JPEG fixtures (greyscale and colour), and the human-readable output
    // with --show drawing the prepared input.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let seven = fixtures.join("seven-grey.jpg");
    let two = fixtures.join("two-rgb.jpg");
    let four = fixtures.join("four-cmyk.jpg");
    let output = run(&[
        "predict",
        "--model",
        path_arg(&model),
        "--show",
        path_arg(&seven),
        path_arg(&two),
        path_arg(&four),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    for (file, digit) in [(&seven, 7), (&two, 2), (&four, 4)] {
        let line = format!("{}: {digit}  ({digit}: ", file.display());
        assert!(stdout.contains(&line), "{line:?} missing: {stdout}");
    }
    // Three drawings of 28 lines of 56 characters (two a pixel, so that a
    // digit keeps its shape in a terminal's cells, twice as tall as wide).
    assert_eq!(
        stdout.lines().filter(|l| l.chars().count() == 56).count(),
        84,
        "{stdout}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_flags_are_one_line_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["train", "--lr", "0"], "--lr must be a positive number"),
        (&["train", "--lr", "fast"], "'fast'"),
        (&["train", "--lr", "-1"], "--lr must be a positive number"),
        (
            &["train", "--layers", "100,10"],
            "--layers must start with the input 784 (28x28 pixels, for dense layers) or 1x28x28",
        ),
        (
            &["train", "--layers", "1x28x28 c8q3 p2 10"],
            "token 2 \"c8q3\": expected a layer like c32k3",
        ),
        (
            &["train", "--arch", "1x28x28 c8k3 p2 p2 p2 p2 p2 10"],
            "token 7 \"p2\": a 2x2 kernel does not fit in a 1x1 image",
        ),
        (&["train", "--rotate", "500"], "--rotate"),
        (&["train", "--epoch", "3"], "unexpected argument '--epoch'"),
        (&["train", "--preset", "nope"], "unknown preset 'nope'"),
        (&["train", "--optimizer", "lbfgs"], "'lbfgs'"),
        (&["train", "--schedule", "often"], "--schedule"),
        (&["predict", "--model", "m.safetensors"], "<IMAGE>"),
        (&["eval"], "--model"),
        (&["fly"], "unrecognized subcommand 'fly'"),
    ];
    for (args, expected) in cases {
        assert_clean_failure(&run(args), 2, &[expected]);
    }
}

#[test]
fn help_shows_examples_for_every_command() {
    for args in [
        &["--help"][..],
        &["train", "--help"],
        &["eval", "--help"],
        &["predict", "--help"],
        &["data", "--help"],
    ] {
        let output = run(args);
        assert!(output.status.success());
        let help = text(&output.stdout);
        assert!(help.contains("Examples:"), "{args:?}: {help}");
    }
    let train_help = text(&run(&["train", "--help"]).stdout);
    for preset in [
        "softmax-regression",
        "tutorial-relu100",
        "tutorial-25x25-adam",
        "book-sigmoid-50-100",
        "default",
        "best",
    ] {
        assert!(train_help.contains(preset), "{preset} not in train --help");
    }
}

#[test]
fn a_missing_dataset_names_the_expected_files_and_the_bundled_data() {
    let dir = temp_dir("no-data");
    for command in ["data", "train", "eval"] {
        let mut args = vec![command, "--data", path_arg(&dir)];
        if command == "eval" {
            args.extend(["--model", "unused.safetensors"]);
        }
        let output = run(&args);
        if command == "eval" {
            // The model is read first: its absence is the error.
            assert_clean_failure(&output, 1, &["unused.safetensors"]);
            continue;
        }
        assert_clean_failure(
            &output,
            1,
            &[
                "train-images-idx3-ubyte",
                path_arg(&dir),
                "bundled MNIST is in",
                "data/mnist",
            ],
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// The first `train` and `test` images of the bundled test set as an IDX folder.
fn small_idx_dir(name: &str, train: usize, test: usize) -> PathBuf {
    let dir = temp_dir(name);
    let set = test_set();
    let (images, labels) = (set.images(), set.labels());
    write_idx(
        &dir.join("train-images-idx3-ubyte"),
        &[train as u32, 28, 28],
        &images[..train * 784],
    );
    write_idx(
        &dir.join("train-labels-idx1-ubyte"),
        &[train as u32],
        &labels[..train],
    );
    write_idx(
        &dir.join("t10k-images-idx3-ubyte"),
        &[test as u32, 28, 28],
        &images[train * 784..(train + test) * 784],
    );
    write_idx(
        &dir.join("t10k-labels-idx1-ubyte"),
        &[test as u32],
        &labels[train..train + test],
    );
    dir
}

#[test]
fn a_malformed_dataset_is_a_one_line_error_naming_the_file() {
    let dir = small_idx_dir("malformed", 200, 100);
    // Cut the training images short.
    let images = dir.join("train-images-idx3-ubyte");
    let bytes = std::fs::read(&images).unwrap();
    std::fs::write(&images, &bytes[..bytes.len() - 100]).unwrap();
    assert_clean_failure(
        &run(&["data", "--data", path_arg(&dir)]),
        1,
        &["train-images-idx3-ubyte"],
    );
    // Garbage in the labels file.
    std::fs::write(&images, &bytes).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), b"not an idx file").unwrap();
    assert_clean_failure(
        &run(&["train", "--data", path_arg(&dir), "--epochs", "1"]),
        1,
        &["train-labels-idx1-ubyte"],
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn data_shows_a_summary_and_drawings() {
    let output = run(&["data", "--show", "2"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("training set: 60000 images of 28x28 pixels, 10 classes"),
        "{stdout}"
    );
    assert!(stdout.contains("test set: 10000 images"), "{stdout}");
    // The first two training labels are 5 and 0.
    assert!(
        stdout.contains("training image 0, label 5:")
            && stdout.contains("training image 1, label 0:")
    );
    // Two drawings of 28 lines, two characters a pixel (square in a terminal).
    assert_eq!(
        stdout.lines().filter(|l| l.chars().count() == 56).count(),
        56
    );
}

#[test]
fn idx_folders_and_csv_files_train_and_evaluate() {
    let dir = small_idx_dir("small-idx", 1000, 300);
    let out = dir.join("run");
    let args = [
        "train",
        "--data",
        path_arg(&dir),
        "--epochs",
        "2",
        "--json",
        "--out",
        path_arg(&out),
    ];
    let report = json_stdout(&run(&args));
    assert_eq!(report["epochs"], 2);
    let summary = text(&run(&["data", "--data", path_arg(&dir), "--show", "0"]).stdout);
    assert!(
        summary.contains("training set: 1000 images") && summary.contains("test set: 300 images"),
        "{summary}"
    );

    // The same images as CSV (label, then 784 pixels).
    let csv = |range: std::ops::Range<usize>| -> String {
        let set = test_set();
        range
            .map(|i| {
                let pixels: Vec<String> = set.image(i).iter().map(u8::to_string).collect();
                format!("{},{}\n", set.label(i), pixels.join(","))
            })
            .collect()
    };
    let (train_csv, test_csv) = (dir.join("train.csv"), dir.join("test.csv"));
    std::fs::write(&train_csv, csv(0..1000)).unwrap();
    std::fs::write(&test_csv, csv(1000..1300)).unwrap();
    let csv_out = dir.join("csv-run");
    let report_csv = json_stdout(&run(&[
        "train",
        "--csv-train",
        path_arg(&train_csv),
        "--csv-test",
        path_arg(&test_csv),
        "--epochs",
        "2",
        "--json",
        "--out",
        path_arg(&csv_out),
    ]));
    // Same pixels, same order, same seed: the same run.
    assert_eq!(report_csv["test_accuracy"], report["test_accuracy"]);
    assert!(
        weights(&csv_out) == weights(&out),
        "IDX and CSV runs differ"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

fn metrics_without_times(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|line| {
            let mut value: Value = serde_json::from_str(line).unwrap();
            let object = value.as_object_mut().unwrap();
            object.remove("seconds");
            object.remove("samples_per_second");
            value
        })
        .collect()
}

#[test]
fn the_same_seed_gives_identical_runs_whatever_the_thread_count() {
    // Every parallel piece (GEMM tiles, the optimizer's chunks, the batch
    // gather) computes each value the same way on any number of threads.
    let dir = temp_dir("determinism");
    let train = |name: &str, seed: &str, threads: &str| {
        let out = dir.join(name);
        let args = [
            "train",
            "--limit",
            "3000",
            "--epochs",
            "2",
            "--dropout",
            "0.1",
            "--threads",
            threads,
            "--seed",
            seed,
            "--json",
            "--out",
            path_arg(&out),
        ];
        json_stdout(&run(&args));
        out
    };
    let (a, b, c) = (
        train("a", "5", "2"),
        train("b", "5", "1"),
        train("c", "6", "2"),
    );
    let d = train("d", "5", "3");
    assert_eq!(metrics_without_times(&a), metrics_without_times(&b));
    assert!(
        weights(&a) == weights(&b),
        "same seed, 2 vs 1 thread: different weights"
    );
    assert!(
        weights(&a) == weights(&d),
        "same seed, 2 vs 3 threads: different weights"
    );
    assert!(weights(&a) != weights(&c), "the seed changed nothing");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn ctrl_c_saves_a_checkpoint_and_resume_ends_with_the_same_weights() {
    let dir = temp_dir("resume");
    // With dropout, random shifts and a cosine schedule, so the RNGs and the
    // schedule must all be restored exactly.
    let common = [
        "--augment",
        "2",
        "--limit",
        "20000",
        "--epochs",
        "4",
        "--dropout",
        "0.2",
        "--threads",
        "2",
        "--seed",
        "9",
    ];
    let whole = dir.join("whole");
    let mut args = vec!["train", "--json", "--out", path_arg(&whole)];
    args.extend(common);
    json_stdout(&run(&args));

    // The same run, interrupted during epoch 2: SIGINT as soon as epoch 1's
    // line appears (plain lines, since stdout is a pipe); three more epochs
    // leave the signal ample time to arrive before the end.
    let parts = dir.join("parts");
    let mut child = trainer()
        .args(["train", "--out", path_arg(&parts)])
        .args(common)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first_epoch = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.starts_with("epoch 1/4"));
    assert!(first_epoch.is_some(), "no epoch line");
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(130),
        "stdout after epoch 1: {rest:?}; stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("--resume") && stderr.contains("checkpoint"),
        "{stderr}"
    );
    assert!(
        !parts.join("model.safetensors").exists(),
        "finished before the signal"
    );
    let checkpoint = parts.join("checkpoint");

    // The checkpoint is loadable as it is (eval reads checkpoints too)...
    let limit_eval = run(&[
        "eval",
        "--model",
        path_arg(&checkpoint),
        "--limit",
        "500",
        "--json",
    ]);
    json_stdout(&limit_eval);
    // ...and resuming finishes the run with exactly the uninterrupted weights.
    let resumed = run(&["train", "--resume", path_arg(&checkpoint), "--json"]);
    let report = json_stdout(&resumed);
    assert_eq!(report["epochs"], 4);
    assert!(weights(&whole) == weights(&parts), "resumed weights differ");
    assert_eq!(metrics_without_times(&whole), metrics_without_times(&parts));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn divergence_stops_at_once_with_advice_and_keeps_the_last_good_checkpoint() {
    let dir = temp_dir("diverge");
    let out = dir.join("run");
    // Epoch 1 trains normally; the schedule then multiplies the rate by 1e9.
    // An MLP, whose loss turns NaN (batch norm would keep it finite), and
    // one epoch of the convolutional default on 2000 images stays below
    // the 50% this test asks of the checkpoint.
    let args = [
        "train",
        "--preset",
        "mlp",
        "--limit",
        "2000",
        "--optimizer",
        "sgd",
        "--lr",
        "0.05",
        "--schedule",
        "step:1:1e9",
        "--epochs",
        "3",
        "--out",
        path_arg(&out),
    ];
    let output = run(&args);
    assert_clean_failure(
        &output,
        3,
        &[
            "diverged",
            "epoch 2",
            "lower learning rate",
            "--lr 0.005",
            "checkpoint",
        ],
    );
    // The checkpoint is the one from the end of epoch 1, and it still works.
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 1);
    let report = json_stdout(&run(&[
        "eval",
        "--model",
        path_arg(&out.join("checkpoint")),
        "--limit",
        "500",
        "--json",
    ]));
    assert!(report["accuracy"].as_f64().unwrap() > 0.5);
    assert!(!out.join("model.safetensors").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn unreadable_or_mismatched_model_files_are_one_line_errors() {
    let dir = temp_dir("models");
    let missing = dir.join("missing.safetensors");
    assert_clean_failure(&run_eval(&missing, &[]), 1, &["missing.safetensors"]);

    let garbage = dir.join("garbage.safetensors");
    std::fs::write(
        &garbage,
        b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all",
    )
    .unwrap();
    assert_clean_failure(&run_eval(&garbage, &[]), 1, &["garbage.safetensors"]);

    // A valid model of the wrong shape for MNIST.
    let spec = nn::ModelSpec::parse("100-20-10").unwrap();
    let small = nn::Sequential::new(&spec, nn::Init::HeNormal, 1).unwrap();
    let wrong = dir.join("wrong-inputs.safetensors");
    small.save(&wrong).unwrap();
    assert_clean_failure(
        &run_eval(&wrong, &[]),
        1,
        &["wrong-inputs.safetensors", "784 inputs"],
    );
    let image = dir.join("digit.png");
    write_png(&image, 28, 28, false, test_set().image(0));
    let predict = run(&["predict", "--model", path_arg(&wrong), path_arg(&image)]);
    assert_clean_failure(&predict, 1, &["wrong-inputs.safetensors"]);

    // A checkpoint that cannot resume: a model file, or a damaged one.
    let model_only = dir.join("model-only.safetensors");
    nn::Sequential::new(
        &nn::ModelSpec::parse("784-10").unwrap(),
        nn::Init::HeNormal,
        1,
    )
    .unwrap()
    .save(&model_only)
    .unwrap();
    let resume = run(&["train", "--resume", path_arg(&model_only)]);
    assert_clean_failure(
        &resume,
        1,
        &["model-only.safetensors", "not a trainer checkpoint"],
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Issue 23's program of one's own: a model trained with the libraries on
/// standardized pixels, as mnist-data's docs suggest, recorded as such in
/// the file. `eval` and `predict` make their inputs the same way (they had
/// scaled them, and lost points without a word); the exports, whose graphs
/// scale by 1/255, refuse it.
#[test]
fn eval_and_predict_make_inputs_as_the_model_file_records() {
    use mnist_data::{Batch, BatchOptions, Batches, MnistSet, Pixels};
    use nn::{softmax_cross_entropy, Init, ModelSpec, Sequential, Targets};
    use optim::{Adam, AdamConfig, Optimizer, Param};

    let dir = temp_dir("standardized");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let set = MnistSet::load_dir_limited(data, None, Some(1000)).unwrap();
    let pixels = Pixels::Standardized(set.train.pixel_stats());
    let mut model =
        Sequential::new(&ModelSpec::parse("784-10").unwrap(), Init::HeNormal, 1).unwrap();
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    let options = |pixels, batch_size| BatchOptions {
        batch_size,
        pixels,
        ..BatchOptions::default()
    };
    let mut batches = Batches::new(&set.train, options(pixels, 50)).unwrap();
    let (mut batch, mut dlogits) = (Batch::new(), tensor::Matrix::zeros(0, 0));
    while batches.next_batch(&mut batch) {
        let logits = model.forward(batch.images()).unwrap();
        let targets = Targets::Classes(batch.labels());
        softmax_cross_entropy(logits.view(), targets, &mut dlogits).unwrap();
        model.backward(batch.images(), &dlogits).unwrap();
        (adam.step_iter(&mut model.params_mut().map(Param::from))).unwrap();
    }
    let mut accuracy = |pixels| {
        let mut whole = Batches::new(&set.test, options(pixels, 1000)).unwrap();
        assert!(whole.next_batch(&mut batch));
        let targets = Targets::Classes(batch.labels());
        model.evaluate(batch.images(), targets).unwrap().accuracy
    };
    let (own, scaled) = (accuracy(pixels), accuracy(Pixels::Scaled));
    assert_ne!(
        own, scaled,
        "the convention must matter, or this test proves nothing"
    );
    let file = dir.join("standardized.safetensors");
    let metadata = [(Pixels::METADATA_KEY.to_string(), pixels.to_metadata())];
    model.save_with(&file, &metadata.into()).unwrap();

    let report = json_stdout(&run_eval(&file, &["--limit", "1000", "--json"]));
    assert_eq!(report["accuracy"].as_f64().unwrap() as f32, own);
    // The first test image, a 7, as a picture: predict standardizes it as
    // the file says; the same weights in a file that does not say get
    // scaled inputs, and other probabilities.
    let image = dir.join("seven.png");
    write_png(&image, 28, 28, false, set.test.image(0));
    let unrecorded = dir.join("unrecorded.safetensors");
    model.save(&unrecorded).unwrap();
    let predict = |model: &Path| {
        let output = run(&[
            "predict",
            "--model",
            path_arg(model),
            path_arg(&image),
            "--json",
        ]);
        json_stdout(&output)["predictions"][0].clone()
    };
    let (recorded, unrecorded) = (predict(&file), predict(&unrecorded));
    assert_eq!(recorded["digit"], 7, "{recorded}");
    assert_ne!(recorded["probabilities"], unrecorded["probabilities"]);

    let onnx = dir.join("standardized.onnx");
    let export = run(&[
        "export",
        "--model",
        path_arg(&file),
        "--onnx",
        path_arg(&onnx),
    ]);
    assert_clean_failure(
        &export,
        1,
        &["standardized.safetensors", "standardized mean="],
    );
    assert!(!onnx.exists());

    let damaged = dir.join("damaged.safetensors");
    let metadata = [(
        Pixels::METADATA_KEY.to_string(),
        "standardized mean=0.1".to_string(),
    )];
    model.save_with(&damaged, &metadata.into()).unwrap();
    assert_clean_failure(
        &run_eval(&damaged, &["--limit", "10"]),
        1,
        &[
            "damaged.safetensors",
            "input_pixels",
            "standardized mean=0.1",
        ],
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn undecodable_or_blank_pictures_are_one_line_errors() {
    let run_dir = &trained().dir;
    let model = run_dir.join("model.safetensors");
    let dir = temp_dir("pictures");
    let text_file = dir.join("notes.png");
    std::fs::write(&text_file, "this is not a picture").unwrap();
    let output = run(&["predict", "--model", path_arg(&model), path_arg(&text_file)]);
    assert_clean_failure(&output, 1, &["notes.png", "not a PNG or JPEG"]);

    let truncated = dir.join("cut.jpg");
    let fixture =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seven-grey.jpg"))
            .unwrap();
    std::fs::write(&truncated, &fixture[..fixture.len() / 3]).unwrap();
    let output = run(&["predict", "--model", path_arg(&model), path_arg(&truncated)]);
    assert_clean_failure(&output, 1, &["cut.jpg"]);

    let blank = dir.join("blank.png");
    write_png(&blank, 50, 40, false, &[255; 2000]);
    let output = run(&["predict", "--model", path_arg(&model), path_arg(&blank)]);
    assert_clean_failure(&output, 1, &["blank.png", "no digit found"]);

    let output = run(&[
        "predict",
        "--model",
        path_arg(&model),
        path_arg(&dir.join("absent.png")),
    ]);
    assert_clean_failure(&output, 1, &["absent.png"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_tiny_slice_trains_without_a_validation_set() {
    let dir = temp_dir("tiny");
    let out = dir.join("run");
    let report = json_stdout(&run(&[
        "train",
        "--limit",
        "5",
        "--epochs",
        "2",
        "--json",
        "--out",
        path_arg(&out),
    ]));
    assert_eq!(report["epochs"], 2);
    let history = report["history"].as_array().unwrap();
    assert!(history
        .iter()
        .all(|m| m["val_loss"].is_null() && m["val_accuracy"].is_null()));
    let curves = std::fs::read_to_string(out.join("learning_curves.svg")).unwrap();
    assert!(!curves.contains(">validation<"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn off_a_terminal_progress_lines_come_as_often_as_log_every_asks() {
    let dir = temp_dir("log-every");
    let train = |extra: &[&str]| {
        let out = dir.join(format!("run{}", extra.len()));
        let mut args = vec![
            "train", "--limit", "640", "--layers", "784-10", "--epochs", "1",
        ];
        args.extend_from_slice(&[
            "--batch-size",
            "64",
            "--lr",
            "0.0003",
            "--out",
            path_arg(&out),
        ]);
        args.extend_from_slice(extra);
        assert_success(&run(&args))
    };
    // A microsecond: a line after every step (ten of 64 images, the rest
    // of the 640 held out for validation).
    let stdout = train(&["--log-every", "0.000001"]);
    let steps: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("epoch 1/1 step "))
        .collect();
    assert_eq!(steps.len(), 10, "{stdout}");
    assert!(
        steps[0].starts_with("epoch 1/1 step 1/10: loss "),
        "{stdout}"
    );
    assert!(
        steps[9].contains("step 10/10: ") && steps[9].ends_with(", ETA 0s"),
        "{stdout}"
    );
    // One epoch is singular, a learning rate has few digits, a network
    // without hidden layers names no hidden activation.
    assert!(stdout.contains("lr 0.0003, "), "{stdout}");
    assert!(stdout.contains(", 1 epoch, "), "{stdout}");
    assert!(stdout.contains("after 1 epoch of 784-10 ("), "{stdout}");
    assert!(!stdout.contains("relu"), "{stdout}");
    // 0: no progress lines at all.
    let quiet = train(&["--log-every", "0", "--seed", "2"]);
    assert!(!quiet.contains(" step "), "{quiet}");
    assert_clean_failure(&run(&["train", "--log-every", "-1"]), 2, &["--log-every"]);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Pen strokes: each a list of points joined by straight lines.
type Polylines = Vec<Vec<(f64, f64)>>;

/// A 400x400 sheet of paper with polylines drawn by a 3-pixel pen: much
/// thinner, relative to the digit, than MNIST's strokes.
fn thin_pen_sheet(polylines: &Polylines) -> Vec<u8> {
    let mut pixels = vec![245u8; 400 * 400];
    for (i, pixel) in pixels.iter_mut().enumerate() {
        let (px, py) = ((i % 400) as f64 + 0.5, (i / 400) as f64 + 0.5);
        let on_a_line = polylines.iter().any(|line| {
            line.windows(2).any(|pair| {
                let ((ax, ay), (bx, by)) = (pair[0], pair[1]);
                let (dx, dy) = (bx - ax, by - ay);
                let t = (((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
                (ax + t * dx - px).hypot(ay + t * dy - py) <= 1.5
            })
        });
        if on_a_line {
            *pixel = 30;
        }
    }
    pixels
}

#[test]
fn predict_reads_digits_written_with_a_thin_pen() {
    let trained_run = trained();
    let dir = temp_dir("thin-pen");
    let oval: Vec<(f64, f64)> = (0..=60)
        .map(|i| {
            let angle = i as f64 / 60.0 * std::f64::consts::TAU;
            (200.0 + 80.0 * angle.cos(), 200.0 + 140.0 * angle.sin())
        })
        .collect();
    let digits: [(usize, Polylines); 5] = [
        (0, vec![oval]),
        (1, vec![vec![(200.0, 60.0), (200.0, 340.0)]]),
        (
            2,
            vec![vec![
                (120.0, 120.0),
                (160.0, 80.0),
                (240.0, 80.0),
                (270.0, 130.0),
                (250.0, 190.0),
                (120.0, 330.0),
                (290.0, 330.0),
            ]],
        ),
        (
            4,
            vec![
                vec![(250.0, 60.0), (110.0, 250.0), (300.0, 250.0)],
                vec![(250.0, 60.0), (250.0, 340.0)],
            ],
        ),
        (7, vec![vec![(100.0, 80.0), (300.0, 80.0), (170.0, 330.0)]]),
    ];
    let model = trained_run.dir.join("model.safetensors");
    let mut args = vec![
        "predict".to_string(),
        "--model".into(),
        path_arg(&model).into(),
        "--json".into(),
    ];
    for (digit, lines) in &digits {
        let file = dir.join(format!("thin-{digit}.png"));
        write_png(&file, 400, 400, false, &thin_pen_sheet(lines));
        args.push(path_arg(&file).into());
    }
    let report = json_stdout(&trainer().args(&args).output().unwrap());
    for ((digit, _), prediction) in digits.iter().zip(report["predictions"].as_array().unwrap()) {
        let probabilities: Vec<f64> =
            serde_json::from_value(prediction["probabilities"].clone()).unwrap();
        // Right, and confidently as predict defines it (its `confident`,
        // 80%): unthickened, these strokes are faint hairlines.
        assert_eq!(
            prediction["digit"], *digit,
            "thin {digit}: {probabilities:?}"
        );
        assert_eq!(
            prediction["confident"], true,
            "thin {digit}: {probabilities:?}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// `train` in `dir` (so the default `runs/` would land there) with `args`.
fn train_in(dir: &Path, args: &[&str]) -> Output {
    trainer()
        .current_dir(dir)
        .arg("train")
        .args(args)
        .output()
        .expect("trainer runs")
}

#[test]
fn no_save_trains_and_writes_nothing_and_test_every_epoch_reports_each_epoch() {
    let dir = temp_dir("no-save");
    let output = train_in(
        &dir,
        &[
            "--layers",
            "784,16,10",
            "--limit",
            "600",
            "--epochs",
            "2",
            "--no-save",
            "--test-every-epoch",
            "--json",
        ],
    );
    let report = json_stdout(&output);
    for key in ["model", "checkpoint", "run_dir"] {
        assert_eq!(report[key], Value::Null, "{key}: {report}");
    }
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "--no-save wrote {left:?}");
    // Each epoch has its test figures; the last epoch's model is the one
    // the final test measures, so they agree.
    let history = report["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    for epoch in history {
        let accuracy = epoch["test_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&accuracy), "{epoch}");
        assert!(epoch["test_loss"].as_f64().unwrap() > 0.0, "{epoch}");
    }
    assert_eq!(history[1]["test_accuracy"], report["test_accuracy"]);
    let stderr = text(&output.stderr);
    assert_eq!(stderr.matches(", test loss ").count(), 2, "{stderr}");
    assert!(stderr.contains("run folder: none"), "{stderr}");

    // Without the flag, no test figures in the epochs.
    let output = train_in(
        &dir,
        &[
            "--layers",
            "784,16,10",
            "--limit",
            "300",
            "--epochs",
            "1",
            "--no-save",
            "--json",
        ],
    );
    let report = json_stdout(&output);
    assert_eq!(report["history"][0].get("test_accuracy"), None);
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none());
    // Nothing to save means no folder to name.
    let output = run(&["train", "--no-save", "--out", path_arg(&dir)]);
    assert_clean_failure(&output, 2, &["--no-save", "--out"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn init_from_starts_from_the_saved_weights() {
    let dir = temp_dir("init-from");
    let first = dir.join("first");
    let mlp = ["--layers", "784,32,10", "--limit", "2000", "--epochs", "3"];
    let output = run(&[&["train"][..], &mlp, &["--json", "--out", path_arg(&first)]].concat());
    let trained = json_stdout(&output);
    // A learning rate too small to move a weight: a run from the saved
    // weights keeps them (and their accuracy); a fresh one stays at chance.
    let tiny = ["--lr", "1e-30", "--json"];
    let tuned = dir.join("tuned");
    let from_folder = ["--init-from", path_arg(&first), "--out", path_arg(&tuned)];
    let report = json_stdout(&run(&[&["train"][..], &mlp, &tiny, &from_folder].concat()));
    assert_eq!(report["test_accuracy"], trained["test_accuracy"]);
    let (before, after) = (weights(&first), weights(&tuned));
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(a.name, b.name);
        let moved = (a.data.iter().zip(&b.data))
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(moved < 1e-20, "{} moved by {moved}", a.name);
    }
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(tuned.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["init_from"], path_arg(&first));
    let info = common::assert_success(&run(&["info", "--model", path_arg(&tuned)]));
    assert!(
        info.contains(&format!("init from: {}\n", path_arg(&first))),
        "{info}"
    );
    let fresh = json_stdout(&run(&[&["train"][..], &mlp, &tiny, &["--no-save"]].concat()));
    assert!(fresh["test_accuracy"].as_f64().unwrap() < 0.4, "{fresh}");
    assert!(
        trained["test_accuracy"].as_f64().unwrap() > 0.7,
        "{trained}"
    );

    // Another network: refused, saying which it holds and the flag to give,
    // before the run folder is made.
    let refused = dir.join("refused");
    let output = run(&[
        "train",
        "--layers",
        "784,64,10",
        "--limit",
        "100",
        "--out",
        path_arg(&refused),
        "--init-from",
        path_arg(&first),
    ]);
    assert_clean_failure(
        &output,
        1,
        &["first", "holds a 784-32-10 network", "--arch \"784-32-10\""],
    );
    assert!(!refused.exists(), "a refused run left its folder");
    // Resuming continues a run; it cannot also start from other weights.
    let output = run(&[
        "train",
        "--resume",
        path_arg(&first.join("checkpoint")),
        "--init-from",
        path_arg(&first),
    ]);
    assert_clean_failure(&output, 2, &["--init-from", "--resume"]);
    std::fs::remove_dir_all(dir).unwrap();
}
