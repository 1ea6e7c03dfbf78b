//! `trainer`: the program people run. It trains a multilayer perceptron on
//! MNIST with the workspace's own GEMM, layers and optimizers, evaluates a
//! saved model, recognises digits in a person's pictures, serves a page to
//! draw digits on, and shows a dataset. Every run leaves a folder a person can open: the model, a
//! checkpoint to resume from, metrics, plots and the exact config.
//!
//! Shape legend: `B` batch size, `I` inputs of a layer (784 for the first),
//! `O` outputs of a layer (10 classes for the last).

// The command line and what it resolves to.
// Its doc comments are `--help` text for a terminal (`[:FLOOR]`,
// `<date-time>`), which rustdoc would read as links and HTML tags.
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]
mod cli; // subcommands, flags, help texts with examples
mod config; // every setting of a run, checked once
mod error; // one-line messages and exit codes
mod options; // the names settings are picked by: activations, optimizers, inits
mod presets; // the named starting points, one table

// Training.
mod augment; // --augment: random shifts of training images
mod checkpoint; // everything needed to resume exactly
mod data; // which dataset, --limit, the validation split
mod evaluate; // loss, accuracy, confusion matrix
mod progress; // bar or plain lines
mod run_state; // what a run carries from step to step, saved whole
mod signals; // Ctrl-C, SIGTERM, SIGHUP: checkpoint and stop
mod train; // set-up and the loop

// What a person opens afterwards, and their own pictures.
mod files; // atomic writes, run folders
mod model_file; // every command's model: ours, a checkpoint, PyTorch's with --arch
mod picture; // a photo or drawing -> MNIST's 28x28
mod predict; // the digits in a person's pictures, read by a model (predict and serve)
mod report; // metrics.jsonl and the SVG plots

// For other tools.
mod export; // ONNX, PyTorch source, the model card
#[cfg(test)]
mod fuzz; // every reader of outside bytes, against mutated inputs

// Showing a network to people.
mod web; // `serve`: the draw-a-digit page and its HTTP API

use clap::Parser;
use cli::{Cli, Command, DataArgs, EvalArgs, TrainArgs};
use config::DataSource;
use error::Error;
use serde::Serialize;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: print as clap renders them, exit 0.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let line = one_line(&cli::one_line_usage_error(&e.to_string()));
            let _ = writeln!(std::io::stderr(), "{line}");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader has gone (`trainer eval | head -1`): like `cat`, say nothing.
        Err(Error::BrokenPipe) => ExitCode::from(Error::BrokenPipe.exit_code()),
        Err(e) => {
            // Ignored: with stderr closed too, there is no one left to tell.
            let _ = writeln!(std::io::stderr(), "error: {}", one_line(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}

/// The message with control characters escaped (`\n`, `\r`, `\u{1b}`): a
/// path may contain a newline, and an error is one line a script can read.
fn one_line(message: &str) -> String {
    message
        .chars()
        .map(|c| match c.is_control() {
            true => c.escape_default().to_string(),
            false => c.to_string(),
        })
        .collect()
}

/// `println!` that returns an error instead of panicking when stdout is a
/// pipe whose reader has closed it (`trainer data --show 100 | head -1`).
macro_rules! outln {
    ($($arg:tt)*) => {
        write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` as [`outln!`], without the line end.
macro_rules! out {
    ($($arg:tt)*) => {
        write_stdout(format_args!($($arg)*))
    };
}

/// Writes to stdout; a closed pipe becomes [`Error::BrokenPipe`].
fn write_stdout(text: std::fmt::Arguments) -> Result<(), Error> {
    std::io::stdout()
        .lock()
        .write_fmt(text)
        .map_err(Error::stdout)
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        None => train_command(&TrainArgs::default()),
        Some(Command::Train(args)) => train_command(&args),
        Some(Command::Eval(args)) => eval_command(&args),
        Some(Command::Predict(args)) => predict::predict_command(&args),
        Some(Command::Data(args)) => data_command(&args),
        Some(Command::Export(args)) => export::export_command(&args),
        Some(Command::Info(args)) => export::info_command(&args),
        Some(Command::Serve(args)) => web::serve_command(&args),
    }
}

fn print_json(value: &impl Serialize) -> Result<(), Error> {
    outln!(
        "{}",
        serde_json::to_string(value).expect("reports serialise")
    )
}

fn train_command(args: &TrainArgs) -> Result<(), Error> {
    // First signal: finish the step, checkpoint, exit 128 + its number.
    // A second one means "now".
    signals::install();
    let report = train::run(args, &signals::STOP)?;
    if args.json {
        print_json(&report)?;
    } else {
        outln!(
            "test accuracy {:.2}% (loss {:.4}) after {} of {} ({} parameters); \
             {:.1} s of training, {:.0} samples/s",
            100.0 * report.test_accuracy,
            report.test_loss,
            progress::count_of(report.epochs, "epoch"),
            report.architecture,
            report.parameters,
            report.train_seconds,
            report.samples_per_second
        )?;
        match (&report.model, &report.run_dir) {
            (Some(model), Some(run_dir)) => outln!(
                "saved {} (also checkpoint, config.json, metrics.jsonl, learning_curves.svg, \
                 confusion_matrix.svg, test_digits.svg, first_layer.svg in {})",
                model.display(),
                run_dir.display()
            )?,
            _ => outln!("nothing saved (--no-save)")?,
        }
    }
    // A signal during the final test and save: they were finished (the
    // run is whole), but the caller asked us to stop and should know.
    if signals::received().is_some() {
        return Err(match report.run_dir {
            Some(run_dir) => Error::InterruptedAtTheEnd(run_dir),
            None => Error::InterruptedUnsaved,
        });
    }
    Ok(())
}

fn eval_command(args: &EvalArgs) -> Result<(), Error> {
    if let Some(threads) = args.threads {
        if threads == 0 {
            return Err(Error::Usage("--threads must be at least 1".into()));
        }
        tensor::set_threads(threads);
    }
    let loaded = model_file::load(&args.model, args.arch.as_deref())?;
    let pixels = evaluate::model_pixels(&loaded.metadata, &loaded.file)?;
    let mut model = loaded.model;
    let test = DataSource::from_args(&args.source)
        .load(args.source.limit)?
        .test;
    let evaluation = evaluate::evaluate_with(&mut model, &test, pixels)?;
    if let Some(path) = &args.dump_logits {
        export::dump_outputs(&mut model, &test, pixels, path)?;
    }
    let report = evaluate::EvalReport::new(args.model.display().to_string(), &test, &evaluation);
    if args.json {
        print_json(&report)?;
    } else {
        outln!("{}", report.to_text())?;
    }
    Ok(())
}

fn data_command(args: &DataArgs) -> Result<(), Error> {
    let source = DataSource::from_args(&args.source);
    let set = source.load(args.source.limit)?;
    outln!("dataset: {}", source.describe())?;
    outln!("training set: {}", set.train.summary())?;
    outln!("test set: {}", set.test.summary())?;
    for index in 0..args.show.min(set.train.len()) {
        outln!(
            "\ntraining image {index}, label {}:",
            set.train.label(index)
        )?;
        out!("{}", set.train.render_ascii(index))?;
    }
    Ok(())
}
