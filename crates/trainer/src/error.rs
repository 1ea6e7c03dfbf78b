//! Everything that can stop the trainer, each as one line a person can act
//! on, and the exit code a script can test.

use std::path::PathBuf;

/// Exit codes: 0 success, 1 a runtime failure (data, model, picture, file),
/// 2 a usage mistake (bad flag or value), 3 training diverged, 130 Ctrl-C,
/// 143 SIGTERM, 129 SIGHUP (128 + the signal's number, what shells report
/// for a program a signal ended), 141 the
/// reader of stdout closed the pipe (128 + SIGPIPE, what a shell reports
/// for `cat` in the same place).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {problem}", path.display())]
    Picture { path: PathBuf, problem: String },
    /// `predict --json`: the JSON has an "error" entry for each of these.
    #[error("{failed} of {total} pictures could not be read; the JSON says why for each")]
    PicturesFailed { failed: usize, total: usize },
    #[error("{}: {problem}", path.display())]
    Model { path: PathBuf, problem: String },
    #[error("{0}")]
    Data(String),
    /// From `nn`: its messages name the model file where there is one.
    #[error("{0}")]
    Nn(#[from] nn::NnError),
    #[error("{0}")]
    Optim(#[from] optim::OptimError),
    #[error(
        "training diverged at epoch {epoch}, step {step}: {cause}; \
         try a lower learning rate (e.g. --lr {suggested_lr}){}",
        checkpoint_note(checkpoint)
    )]
    Diverged {
        epoch: usize,
        step: usize,
        /// What went wrong: "the loss became NaN", a mean loss far above
        /// the first epoch's, a non-finite weight.
        cause: String,
        /// A tenth of `--lr`, in f64 from its decimal text: `0.0002`,
        /// not the f32 quotient's `0.00020000001`.
        suggested_lr: f64,
        checkpoint: Option<PathBuf>,
    },
    #[error(
        "interrupted by {}; checkpoint saved, continue with --resume {}",
        crate::signals::received_name(),
        .0.display()
    )]
    Interrupted(PathBuf),
    #[error(
        "interrupted by {} during the final test and save, which were finished: the run is \
         complete in {}",
        crate::signals::received_name(),
        .0.display()
    )]
    InterruptedAtTheEnd(PathBuf),
    #[error(
        "interrupted by {}; nothing was saved (--no-save)",
        crate::signals::received_name()
    )]
    InterruptedUnsaved,
    /// Stdout is a pipe whose reader has gone: nothing to say, no one to say it to.
    #[error("standard output: the reader closed the pipe")]
    BrokenPipe,
}

fn checkpoint_note(checkpoint: &Option<PathBuf>) -> String {
    match checkpoint {
        Some(path) => format!("; the last good checkpoint is {}", path.display()),
        None => String::new(),
    }
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Diverged { .. } => 3,
            Error::Interrupted(_) | Error::InterruptedAtTheEnd(_) | Error::InterruptedUnsaved => {
                crate::signals::exit_code()
            }
            Error::BrokenPipe => 141,
            Error::Io { .. }
            | Error::Picture { .. }
            | Error::PicturesFailed { .. }
            | Error::Model { .. }
            | Error::Data(_)
            | Error::Nn(_)
            | Error::Optim(_) => 1,
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A failed write to stdout: a closed pipe, or a real failure (a full disk).
    pub fn stdout(source: std::io::Error) -> Error {
        if source.kind() == std::io::ErrorKind::BrokenPipe {
            Error::BrokenPipe
        } else {
            Error::io("standard output", source)
        }
    }

    pub fn model(path: impl Into<PathBuf>, problem: impl Into<String>) -> Error {
        Error::Model {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_name_the_file() {
        let errors = [
            Error::io(
                "runs/x/model.safetensors",
                std::io::ErrorKind::NotFound.into(),
            ),
            Error::Picture {
                path: "me.png".into(),
                problem: "not a PNG or JPEG picture".into(),
            },
            Error::Diverged {
                epoch: 2,
                step: 17,
                cause: format!("the loss became {}", f32::NAN),
                suggested_lr: 0.01,
                checkpoint: Some("runs/x/checkpoint".into()),
            },
        ];
        for error in &errors {
            let line = error.to_string();
            assert!(!line.contains('\n'), "{line}");
        }
        assert!(errors[0]
            .to_string()
            .starts_with("runs/x/model.safetensors: "));
        assert!(errors[1].to_string().starts_with("me.png: not a PNG"));
        let diverged = errors[2].to_string();
        assert!(
            diverged.contains("NaN") && diverged.contains("--lr 0.01"),
            "{diverged}"
        );
        assert!(diverged.contains("runs/x/checkpoint"), "{diverged}");
        assert_eq!(errors[2].exit_code(), 3);
        assert_eq!(Error::Interrupted("c".into()).exit_code(), 130);
        assert_eq!(Error::Usage("x".into()).exit_code(), 2);
    }
}
