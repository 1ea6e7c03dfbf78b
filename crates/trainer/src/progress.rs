//! Telling a person how training goes: a progress bar per epoch (samples/s,
//! running loss, ETA) on a terminal; one plain line per epoch otherwise, so
//! CI logs and `tee` stay readable. With `--json`, everything here goes to
//! stderr and stdout carries only the final JSON object.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::Instant;

/// Refresh the bar's message every this many steps (formatting is not
/// free), starting with the first.
const MESSAGE_EVERY: u64 = 20;

pub struct Progress {
    /// `Some` when drawing bars.
    bar: Option<ProgressBar>,
    use_bar: bool,
    /// Lines go to stderr (`--json`) or stdout.
    to_stderr: bool,
    epoch_start: Instant,
    samples: u64,
}

impl Progress {
    /// Bars when stdout is a terminal and not reserved for JSON.
    pub fn new(json: bool) -> Progress {
        let use_bar = !json && std::io::stdout().is_terminal();
        Progress::with_style(use_bar, json)
    }

    pub fn with_style(use_bar: bool, to_stderr: bool) -> Progress {
        Progress {
            bar: None,
            use_bar,
            to_stderr,
            epoch_start: Instant::now(),
            samples: 0,
        }
    }

    /// Prints one line, above the bar if one is drawn.
    pub fn line(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.println(text);
        } else if self.to_stderr {
            // Ignored, as below: a closed pipe must not stop training.
            let _ = writeln!(std::io::stderr(), "{text}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }

    pub fn start_epoch(&mut self, epoch: usize, epochs: usize, steps: u64, done: u64) {
        self.epoch_start = Instant::now();
        self.samples = 0;
        if self.use_bar {
            let bar = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stdout());
            let style = ProgressStyle::with_template(
                "epoch {prefix} [{bar:30.cyan/blue}] {pos}/{len} steps, {msg}, ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(format!("{}/{epochs}", epoch + 1));
            bar.set_position(done);
            self.bar = Some(bar);
        }
    }

    /// After each step: `batch` images done, `running_loss` the epoch's mean so far.
    pub fn step(&mut self, batch: usize, running_loss: f32) {
        self.samples += batch as u64;
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if bar.position() % MESSAGE_EVERY == 1 {
                let rate = self.samples as f64 / self.epoch_start.elapsed().as_secs_f64().max(1e-9);
                bar.set_message(format!("loss {running_loss:.4}, {rate:.0} samples/s"));
            }
        }
    }

    /// Removes the bar and prints the epoch's summary line in its place.
    pub fn finish_epoch(&mut self, summary: &str) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        self.line(summary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_mode_draws_no_bar_and_counts_samples() {
        let mut progress = Progress::with_style(false, true);
        progress.start_epoch(0, 3, 10, 0);
        assert!(progress.bar.is_none());
        progress.step(128, 0.5);
        progress.step(64, 0.4);
        assert_eq!(progress.samples, 192);
        progress.finish_epoch("epoch 1/3 done");
        // A bar, when asked for, starts where a resumed epoch left off.
        let mut progress = Progress::with_style(true, true);
        progress.start_epoch(1, 3, 10, 4);
        let bar = progress.bar.as_ref().unwrap();
        assert_eq!((bar.position(), bar.length()), (4, Some(10)));
        bar.set_draw_target(ProgressDrawTarget::hidden());
        progress.finish_epoch("epoch 2/3 done");
        assert!(progress.bar.is_none());
    }
}
