//! The `trainer` binary against hostile or absurd input (issue 21): huge
//! numbers, closed pipes, files that never end, signals. Each test failed
//! before the fix it guards.

mod common;

use common::*;
use std::path::Path;
use std::process::Stdio;

#[test]
fn the_largest_batch_size_trains_one_batch_per_epoch() {
    // `cursor + batch_size` overflowed in mnist-data's batcher (a panic, exit 101).
    let dir = temp_dir("huge-batch");
    let out = dir.join("run");
    let output = run(&[
        "train",
        "--batch-size",
        "18446744073709551615",
        "--limit",
        "2000",
        "--epochs",
        "1",
        "--out",
        path_arg(&out),
    ]);
    assert_success(&output);
    assert!(out.join("model.safetensors").is_file());
    std::fs::remove_dir_all(dir).unwrap();
}

/// Runs `args` with stdout a pipe whose reader is gone before anything is
/// written: the program must stop quietly with 141, as `cat` does.
fn assert_quiet_on_a_closed_pipe(args: &[&str]) {
    let mut child = trainer()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(141), "{args:?}: {stderr}");
    assert_eq!(stderr, "", "{args:?}");
}

#[test]
fn a_reader_closing_the_pipe_early_ends_the_command_quietly() {
    // println! panicked with "Broken pipe" (exit 101).
    let dir = temp_dir("closed-pipe");
    let model = small_model(&dir);
    assert_quiet_on_a_closed_pipe(&["data", "--limit", "50", "--show", "50"]);
    assert_quiet_on_a_closed_pipe(&["eval", "--model", path_arg(&model), "--limit", "100"]);
    assert_quiet_on_a_closed_pipe(&[
        "eval",
        "--model",
        path_arg(&model),
        "--limit",
        "100",
        "--json",
    ]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn devices_fifos_and_huge_files_are_refused_not_read() {
    // /dev/zero as a picture was read until memory ran out; a FIFO as a
    // picture, model, checkpoint or CSV blocked forever.
    let dir = temp_dir("not-files");
    let model = small_model(&dir);
    let fifo = dir.join("fifo");
    make_fifo(&fifo);
    let huge = dir.join("huge.png");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(60 << 20)
        .unwrap();
    let model = path_arg(&model);
    let fifo = path_arg(&fifo);
    let refused = "not a regular file";
    let cases: [(&[&str], &str, &str); 8] = [
        (
            &["predict", "--model", model, "/dev/zero"],
            "/dev/zero",
            refused,
        ),
        (&["predict", "--model", model, fifo], fifo, refused),
        (
            &["predict", "--model", model, path_arg(&huge)],
            "huge.png",
            "62914560 bytes, more than",
        ),
        (
            &["eval", "--model", "/dev/urandom"],
            "/dev/urandom",
            refused,
        ),
        (&["eval", "--model", fifo], fifo, refused),
        (&["train", "--resume", fifo], fifo, refused),
        (&["train", "--resume", "/dev/zero"], "/dev/zero", refused),
        (
            &["data", "--csv-train", fifo, "--csv-test", fifo],
            fifo,
            refused,
        ),
    ];
    for (args, path, problem) in cases {
        let output = run_with_timeout(args, 30);
        assert_clean_failure(&output, 1, &[path, problem]);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_test_set_with_no_images_is_an_error_naming_the_file() {
    // eval reported "accuracy 0.00% on 0 test images" and exit 0.
    let dir = temp_dir("no-test-images");
    let model = small_model(&dir);
    let data = idx_dir(&dir, 20, 0);
    let output = run(&[
        "eval",
        "--model",
        path_arg(&model),
        "--data",
        path_arg(&data),
    ]);
    assert_clean_failure(&output, 1, &["t10k-images-idx3-ubyte", "holds no images"]);
    let output = run(&["train", "--data", path_arg(&data), "--epochs", "1"]);
    assert_clean_failure(&output, 1, &["t10k-images-idx3-ubyte", "holds no images"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn out_refuses_a_folder_holding_another_run_and_a_folder_in_use() {
    // A second run into the same --out silently replaced the first one's files.
    let dir = temp_dir("out-taken");
    let out = dir.join("run");
    let train = |extra: &[&str]| {
        let args = [
            "train",
            "--limit",
            "300",
            "--epochs",
            "1",
            "--out",
            path_arg(&out),
        ];
        run(&[&args[..], extra].concat())
    };
    assert_success(&train(&[]));
    assert!(
        !out.join(".trainer.lock").exists(),
        "the lock outlived the run"
    );
    let model = std::fs::read(out.join("model.safetensors")).unwrap();
    assert_clean_failure(
        &train(&["--seed", "7"]),
        2,
        &[
            path_arg(&out),
            "already holds files",
            "config.json",
            "--overwrite",
        ],
    );
    assert_eq!(std::fs::read(out.join("model.safetensors")).unwrap(), model);
    assert_success(&train(&["--seed", "7", "--overwrite"]));
    assert_ne!(std::fs::read(out.join("model.safetensors")).unwrap(), model);

    // A lock held by a live process (this test's) keeps a run out, even
    // with --overwrite; one left by a dead process is taken over.
    let lock = out.join(".trainer.lock");
    std::fs::write(&lock, format!("{}\n", std::process::id())).unwrap();
    assert_clean_failure(
        &train(&["--overwrite"]),
        1,
        &[".trainer.lock", &format!("process {}", std::process::id())],
    );
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    std::fs::write(&lock, format!("{dead}\n")).unwrap();
    let output = train(&["--overwrite"]);
    assert_success(&output);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("warning:") && stderr.contains(&format!("process {dead}")),
        "{stderr}"
    );
    assert!(!lock.exists());
    // A lock that is a FIFO is unreadable, not a reason to hang.
    make_fifo(&lock);
    let args = ["train", "--limit", "300", "--epochs", "1", "--overwrite"];
    let output = run_with_timeout(&[&args[..], &["--out", path_arg(&out)]].concat(), 30);
    assert_success(&output);
    assert!(text(&output.stderr).contains("an unreadable"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Starts `train` with `args` (plain lines on stdout), sends `signal` when
/// a stdout line starts with `after`, and returns the output.
fn signal_during_training(args: &[&str], after: &str, signal: &str) -> std::process::Output {
    use std::io::{BufRead, BufReader};
    let mut child = trainer()
        .arg("train")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let seen = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.starts_with(after));
    assert!(seen.is_some(), "no line starting {after:?}");
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    lines.for_each(drop);
    child.wait_with_output().unwrap()
}

#[test]
fn sigterm_and_sighup_checkpoint_and_exit_like_ctrl_c() {
    // They ended a run with no message and no checkpoint.
    let dir = temp_dir("signals");
    for (signal, code) in [("TERM", 143), ("HUP", 129), ("INT", 130)] {
        let out = dir.join(signal);
        let args = ["--limit", "20000", "--epochs", "4", "--out", path_arg(&out)];
        let output = signal_during_training(&args, "epoch 1/4", signal);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "SIG{signal}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let checkpoint = out.join("checkpoint");
        assert!(
            stderr.contains(&format!("SIG{signal}"))
                && stderr.contains(&format!("--resume {}", checkpoint.display())),
            "{stderr}"
        );
        assert!(!out.join("model.safetensors").exists(), "finished first");
        assert!(!out.join(".trainer.lock").exists());
        // The checkpoint is whole: the run resumes and finishes.
        let resumed = run(&["train", "--resume", path_arg(&checkpoint)]);
        assert_success(&resumed);
        assert!(out.join("model.safetensors").is_file());
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn ctrl_c_during_the_final_test_and_save_still_exits_130() {
    // It exited 0. A large network, so the last checkpoint and the model
    // (80 MB and more) take a while to write after the last epoch's line.
    let dir = temp_dir("late-signal");
    let out = dir.join("run");
    let args = [
        "--limit",
        "200",
        "--epochs",
        "1",
        "--layers",
        "784,4096,4096,10",
        "--out",
        path_arg(&out),
    ];
    let output = signal_during_training(&args, "epoch 1/1", "INT");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("during the final test and save") && stderr.contains(path_arg(&out)),
        "{stderr}"
    );
    assert!(out.join("model.safetensors").is_file());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn leftovers_of_interrupted_saves_are_removed_when_a_run_starts() {
    // Temporary files of saves a killed process never finished stayed forever.
    let dir = temp_dir("leftovers");
    let out = dir.join("run");
    std::fs::create_dir_all(&out).unwrap();
    let leftovers = [".checkpoint.tmp-999999-0", ".metrics.jsonl.tmp-999999"];
    for name in leftovers {
        std::fs::write(out.join(name), b"half a file").unwrap();
    }
    // Not hidden, so not a writer's temporary: a person's file, kept.
    let keep = out.join("notes.tmp-1");
    std::fs::write(&keep, b"mine").unwrap();
    let args = [
        "train",
        "--limit",
        "300",
        "--epochs",
        "1",
        "--out",
        path_arg(&out),
    ];
    assert_success(&run(&[&args[..], &["--overwrite"]].concat()));
    for name in leftovers {
        assert!(!out.join(name).exists(), "{name} is still there");
    }
    assert!(keep.exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_error_about_a_file_names_it_on_one_line() {
    let dir = temp_dir("name-the-file");
    // Images of 32x32 pixels: the error named no file.
    let data = dir.join("idx32");
    std::fs::create_dir_all(&data).unwrap();
    for prefix in ["train", "t10k"] {
        let images = data.join(format!("{prefix}-images-idx3-ubyte"));
        write_idx(&images, &[2, 32, 32], &[0; 2 * 32 * 32]);
        write_idx(
            &data.join(format!("{prefix}-labels-idx1-ubyte")),
            &[2],
            &[1, 2],
        );
    }
    let output = run(&["data", "--data", path_arg(&data)]);
    let images = data.join("train-images-idx3-ubyte");
    assert_clean_failure(
        &output,
        1,
        &[&format!("{}: the images are 32x32", images.display())],
    );

    // A path with a newline in it: the error was two lines.
    let output = run(&["predict", "--model", "no\nsuch.safetensors", "x.png"]);
    assert_clean_failure(&output, 1, &["no\\nsuch.safetensors"]);

    // A checkpoint whose optimizer state is bad: the error named no file.
    let out = dir.join("run");
    let args = [
        "train",
        "--limit",
        "300",
        "--epochs",
        "2",
        "--out",
        path_arg(&out),
    ];
    assert_success(&run(&args));
    let checkpoint = out.join("checkpoint");
    let bytes = std::fs::read(&checkpoint).unwrap();
    let kind = b"\"optimizer.kind\":\"adam\"";
    let at = bytes
        .windows(kind.len())
        .position(|w| w == kind)
        .expect("the default preset's optimizer is adam");
    let mut damaged = bytes.clone();
    damaged[at + kind.len() - 5..at + kind.len() - 1].copy_from_slice(b"wxyz");
    let bad = dir.join("bad-checkpoint");
    std::fs::write(&bad, damaged).unwrap();
    let output = run(&[
        "train",
        "--resume",
        path_arg(&bad),
        "--epochs",
        "3",
        "--out",
        path_arg(&dir.join("again")),
    ]);
    assert_clean_failure(&output, 1, &[&format!("{}: ", bad.display()), "wxyz"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn predict_json_reports_each_bad_picture_beside_the_good_ones() {
    // One bad picture among good ones printed no JSON at all.
    let dir = temp_dir("predict-some-bad");
    let model = small_model(&dir);
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let (seven, two) = (
        fixtures.join("seven-grey.jpg"),
        fixtures.join("two-rgb.jpg"),
    );
    let bad = dir.join("notes.png");
    std::fs::write(&bad, b"not a picture").unwrap();
    let output = run(&[
        "predict",
        "--json",
        "--model",
        path_arg(&model),
        path_arg(&seven),
        path_arg(&bad),
        path_arg(&two),
    ]);
    assert_clean_failure(&output, 1, &["1 of 3 pictures could not be read"]);
    let stdout = text(&output.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let predictions = json["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 3);
    for (entry, path) in predictions.iter().zip([&seven, &bad, &two]) {
        assert_eq!(entry["file"], path_arg(path));
    }
    for good in [&predictions[0], &predictions[2]] {
        assert!(good["digit"].as_u64().unwrap() < 10, "{good}");
        assert_eq!(good["probabilities"].as_array().unwrap().len(), 10);
        assert!(good.get("error").is_none());
    }
    let error = predictions[1]["error"].as_str().unwrap();
    assert!(error.contains("not a PNG or JPEG"), "{error}");
    assert!(predictions[1].get("digit").is_none());
    std::fs::remove_dir_all(dir).unwrap();
}

/// A fast network for the tests below: the MLP preset made small.
const SMALL: [&str; 6] = [
    "--preset",
    "mlp",
    "--layers",
    "784,32,10",
    "--limit",
    "1000",
];

fn train_small(out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["train", "--out", path_arg(out)];
    args.extend(SMALL);
    args.extend(extra);
    run(&args)
}

/// Adam at --lr 1e6 ended with a loss of 7e21 and 11% accuracy, exit 0,
/// and saved the model: only a NaN loss counted as divergence.
#[test]
fn a_loss_far_above_the_first_epochs_is_divergence() {
    let dir = temp_dir("diverge-finite");
    // From the start: a mean loss far above chance level.
    let out = dir.join("at-once");
    let output = train_small(&out, &["--lr", "1e6", "--epochs", "2"]);
    assert_clean_failure(
        &output,
        3,
        &["diverged at epoch 1", "mean training loss", "chance level"],
    );
    assert!(!out.join("model.safetensors").exists());
    assert!(!out.join("checkpoint").exists());
    // After a good epoch, the schedule multiplies the rate by 1e8: the
    // loss stays finite but far above epoch 1's.
    let out = dir.join("later");
    let output = train_small(&out, &["--schedule", "step:1:1e8", "--epochs", "3"]);
    assert_clean_failure(
        &output,
        3,
        &[
            "diverged at epoch 2",
            "more than 10 times the first epoch's",
            // A tenth of the MLP preset's 2e-3 (the f32 quotient printed 0.00020000001).
            "(e.g. --lr 0.0002)",
            &format!(
                "the last good checkpoint is {}",
                out.join("checkpoint").display()
            ),
        ],
    );
    assert!(!out.join("model.safetensors").exists());
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 1, "{metrics}");
    // The checkpoint kept is epoch 1's, and it works.
    let checkpoint = out.join("checkpoint");
    let eval = run(&["eval", "--model", path_arg(&checkpoint), "--limit", "300"]);
    assert_success(&eval);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Rewrites the safetensors file at `path` with `edit` applied to its tensors.
fn edit_tensors(path: &Path, edit: impl FnOnce(&mut [nn::safetensors::Tensor])) {
    let bytes = std::fs::read(path).unwrap();
    let mut file = nn::safetensors::decode(&bytes, path).unwrap();
    edit(&mut file.tensors);
    let views = file
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t.shape.as_slice(), t.data.as_slice()));
    nn::safetensors::write_tensors(path, views, &file.metadata).unwrap();
}

/// A checkpoint whose Adam `v` was negative resumed into all-NaN weights
/// (ReLU hid them from the loss), saved with exit 0; eval and predict
/// loaded all-NaN models without a word.
#[test]
fn damaged_optimizer_state_and_non_finite_weights_are_refused_naming_the_file() {
    let dir = temp_dir("damaged-state");
    let out = dir.join("run");
    assert_success(&train_small(&out, &["--epochs", "1"]));
    let checkpoint = out.join("checkpoint");

    let negative_v = dir.join("negative-v");
    std::fs::copy(&checkpoint, &negative_v).unwrap();
    edit_tensors(&negative_v, |tensors| {
        let v = (tensors.iter_mut())
            .find(|t| t.name == "optimizer.adam.v.layers.0.weight")
            .expect("Adam's second moment is in the checkpoint");
        v.data[5] = -1.0;
    });
    let again = dir.join("again");
    let resume = |from: &Path| {
        run(&[
            "train",
            "--resume",
            path_arg(from),
            "--epochs",
            "2",
            "--out",
            path_arg(&again),
        ])
    };
    assert_clean_failure(
        &resume(&negative_v),
        1,
        &[
            &format!("{}: ", negative_v.display()),
            "adam.v.layers.0.weight' holds -1 at index 5",
        ],
    );
    assert!(!again.join("model.safetensors").exists());

    let nan_weight = dir.join("nan-weight");
    std::fs::copy(&checkpoint, &nan_weight).unwrap();
    edit_tensors(&nan_weight, |tensors| {
        let w = (tensors.iter_mut())
            .find(|t| t.name == "layers.0.weight")
            .unwrap();
        w.data[7] = f32::NAN;
    });
    let expected = [
        &format!("{}: ", nan_weight.display())[..],
        "tensor \"layers.0.weight\" holds NaN at index 7",
    ];
    assert_clean_failure(&resume(&nan_weight), 1, &expected);
    let eval = run(&["eval", "--model", path_arg(&nan_weight), "--limit", "100"]);
    assert_clean_failure(&eval, 1, &expected);
    let seven = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seven-grey.jpg");
    let predict = run(&[
        "predict",
        "--model",
        path_arg(&nan_weight),
        path_arg(&seven),
    ]);
    assert_clean_failure(&predict, 1, &expected);
    std::fs::remove_dir_all(dir).unwrap();
}

/// On --resume, --optimizer, --weight-decay and --momentum were written to
/// config.json and the checkpoint but not used.
#[test]
fn resuming_refuses_settings_that_made_the_weights_and_records_the_others() {
    let dir = temp_dir("resume-settings");
    let out = dir.join("run");
    assert_success(&train_small(&out, &["--epochs", "1"]));
    let (checkpoint, config_path) = (out.join("checkpoint"), out.join("config.json"));
    let config_before = std::fs::read(&config_path).unwrap();
    let resume = |extra: &[&str]| {
        let mut args = vec!["train", "--resume", path_arg(&checkpoint)];
        args.extend(extra);
        run(&args)
    };
    for (flags, flag) in [
        (&["--optimizer", "sgd"][..], "--optimizer"),
        (&["--weight-decay", "0.1"], "--weight-decay"),
        (&["--momentum", "0.5"], "--momentum"),
        (&["--batch-size", "16"], "--batch-size"),
        (&["--seed", "3"], "--seed"),
        (&["--augment", "3"], "--augment"),
    ] {
        let output = resume(flags);
        assert_clean_failure(
            &output,
            2,
            &[&format!("{flag} cannot change when resuming")],
        );
    }
    assert!(std::fs::read(&config_path).unwrap() == config_before);

    // Epochs and learning rate may change, and config.json says so.
    assert_success(&resume(&["--epochs", "2", "--lr", "0.0005"]));
    let config_text = std::fs::read_to_string(&config_path).unwrap();
    let config: serde_json::Value = serde_json::from_str(&config_text).unwrap();
    assert_eq!(
        (config["epochs"].as_u64(), config["lr"].as_f64()),
        (Some(2), Some(0.0005))
    );
    let resumed = &config["resumed"];
    assert_eq!(resumed.as_array().map(Vec::len), Some(1), "{config}");
    assert_eq!(resumed[0]["epoch"], 1);
    assert_eq!(resumed[0]["changed"]["epochs"], serde_json::json!([1, 2]));
    assert_eq!(
        resumed[0]["changed"]["lr"],
        serde_json::json!([0.002, 0.0005])
    );
    assert_eq!(resumed[0]["changed"].as_object().unwrap().len(), 2);

    // A resumed run that diverges leaves config.json describing the checkpoint.
    let output = resume(&["--epochs", "3", "--lr", "1e6"]);
    assert_clean_failure(&output, 3, &["diverged at epoch 3"]);
    assert_eq!(std::fs::read_to_string(&config_path).unwrap(), config_text);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Success, or one `error:` line with exit 1 or 2: never a panic or a
/// signal. (The fuzz targets at unit level cover far more inputs; these
/// check the binary's side of the same readers.)
fn assert_success_or_one_error_line(output: &std::process::Output, args: &[&str]) {
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    match output.status.code() {
        Some(0) => {}
        Some(1 | 2) => {
            assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
            assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        }
        other => panic!("{args:?}: exit {other:?}; stderr: {stderr}"),
    }
}

#[test]
fn mutated_pictures_checkpoints_and_idx_files_give_one_error_line_through_the_binary() {
    let dir = temp_dir("binary-mutants");
    let out = dir.join("run");
    assert_success(&train_small(&out, &["--epochs", "1"]));
    let model = out.join("model.safetensors");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let originals: Vec<(String, Vec<u8>)> = [
        "tests/corpus/picture/grey.png",
        "tests/corpus/picture/rgba.png",
        "tests/fixtures/seven-grey.jpg",
        "tests/fixtures/two-rgb.jpg",
    ]
    .iter()
    .map(|p| {
        (
            p.rsplit('/').next().unwrap().to_string(),
            std::fs::read(manifest.join(p)).unwrap(),
        )
    })
    .collect();
    let checkpoint = std::fs::read(out.join("checkpoint")).unwrap();
    let data = idx_dir(&dir, 20, 20);
    let images = data.join("train-images-idx3-ubyte");
    let good_images = std::fs::read(&images).unwrap();
    let others: Vec<Vec<u8>> = originals.iter().map(|(_, b)| b.clone()).collect();
    let mut rng = byte_fuzz::Rng::new(21);
    let mut mutant = |original: &[u8]| {
        let mut bytes = original.to_vec();
        for _ in 0..1 + rng.below(4) {
            byte_fuzz::mutate(&mut rng, &mut bytes, &others);
        }
        bytes
    };
    for round in 0..4 {
        for (name, bytes) in &originals {
            let path = dir.join(format!("{round}-{name}"));
            std::fs::write(&path, mutant(bytes)).unwrap();
            let args = ["predict", "--model", path_arg(&model), path_arg(&path)];
            assert_success_or_one_error_line(&run(&args), &args);
        }
        let damaged = dir.join(format!("{round}-checkpoint"));
        std::fs::write(&damaged, mutant(&checkpoint)).unwrap();
        let args = ["eval", "--model", path_arg(&damaged), "--limit", "50"];
        assert_success_or_one_error_line(&run(&args), &args);
        let again = dir.join(format!("{round}-resumed"));
        let args = [
            "train",
            "--resume",
            path_arg(&damaged),
            "--epochs",
            "2",
            "--out",
            path_arg(&again),
        ];
        assert_success_or_one_error_line(&run(&args), &args);
        std::fs::write(&images, mutant(&good_images)).unwrap();
        let args = ["data", "--data", path_arg(&data), "--show", "1"];
        assert_success_or_one_error_line(&run(&args), &args);
    }
    std::fs::remove_dir_all(dir).unwrap();
}
