//! `trainer`: the program people run. It trains a multilayer perceptron on
//! MNIST with the workspace's own GEMM, layers and optimizers, evaluates a
//! saved model, recognises digits in a person's pictures, and shows a
//! dataset. Every run leaves a folder a person can open: the model, a
//! checkpoint to resume from, metrics, plots and the exact config.
//!
//! Shape legend: `B` batch size, `I` inputs of a layer (784 for the first),
//! `O` outputs of a layer (10 classes for the last).

// Scaffolding: modules land before the training loop that uses them.
#![allow(dead_code)]

mod cli;
mod config;
mod error;
mod files;
mod picture;
mod presets;

use clap::Parser;
use cli::{Cli, Command};
use error::Error;
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
            eprintln!("{}", cli::one_line_usage_error(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        None => Err(Error::Data("training is not wired up yet".into())),
        Some(Command::Train(args)) => {
            let config = config::TrainConfig::resolve(&args, None)?;
            Err(Error::Data(format!(
                "training is not wired up yet: {config:?}"
            )))
        }
        Some(Command::Eval(_)) | Some(Command::Data(_)) => {
            Err(Error::Data("not wired up yet".into()))
        }
        Some(Command::Predict(args)) => {
            for image in &args.images {
                picture::load_digit(image)?;
            }
            let _ = (
                files::write_atomic,
                picture::encode_grey_png,
                picture::decode,
            );
            Ok(())
        }
    }
}
