//! Telling a person how training goes: a progress bar per epoch (samples/s,
//! running loss, ETA) on a terminal; one plain line per epoch otherwise, so
//! CI logs and `tee` stay readable. With `--json`, everything here goes to
//! stderr and stdout carries only the final JSON object.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Refresh the bar's message every this many steps (formatting is not
/// free), starting with the first.
const MESSAGE_EVERY: u64 = 20;

/// Off a terminal, a progress line this often unless `--log-every` says
/// otherwise: an epoch of the larger networks takes minutes, and a log
/// that stays silent that long looks hung.
pub const DEFAULT_LOG_EVERY_SECONDS: f64 = 10.0;

pub struct Progress {
    /// `Some` when drawing bars.
    bar: Option<ProgressBar>,
    use_bar: bool,
    /// Lines go to stderr (`--json`) or stdout.
    to_stderr: bool,
    /// Without a bar: a progress line this often within an epoch (`None`:
    /// only the epoch lines).
    log_every: Option<Duration>,
    last_line: Instant,
    epoch: usize,
    epochs: usize,
    steps_per_epoch: u64,
    step_in_epoch: u64,
    epoch_start: Instant,
    samples: u64,
    /// When this process took its first step, and the steps since: the
    /// pace for the ETAs (a resumed run's earlier steps were timed by
    /// another process). Includes validation, which the run ETA must count.
    run_start: Option<Instant>,
    run_steps: u64,
}

impl Progress {
    /// Bars when stdout is a terminal and not reserved for JSON; otherwise a
    /// progress line every `log_every_seconds` ([`DEFAULT_LOG_EVERY_SECONDS`]
    /// when `None`, never when 0).
    pub fn new(json: bool, log_every_seconds: Option<f64>) -> Progress {
        let use_bar = !json && std::io::stdout().is_terminal();
        let mut progress = Progress::with_style(use_bar, json);
        let seconds = log_every_seconds.unwrap_or(DEFAULT_LOG_EVERY_SECONDS);
        progress.log_every = (seconds > 0.0).then(|| Duration::from_secs_f64(seconds));
        progress
    }

    pub fn with_style(use_bar: bool, to_stderr: bool) -> Progress {
        Progress {
            bar: None,
            use_bar,
            to_stderr,
            log_every: None,
            last_line: Instant::now(),
            epoch: 0,
            epochs: 0,
            steps_per_epoch: 0,
            step_in_epoch: 0,
            epoch_start: Instant::now(),
            samples: 0,
            run_start: None,
            run_steps: 0,
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
        self.run_start.get_or_insert_with(Instant::now);
        self.last_line = Instant::now();
        self.samples = 0;
        (self.epoch, self.epochs) = (epoch, epochs);
        (self.steps_per_epoch, self.step_in_epoch) = (steps, done);
        if self.use_bar {
            let bar = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stdout());
            self.show_bar(bar);
        }
    }

    /// Styles `bar` for this epoch and keeps it. The bar takes what the
    /// terminal's width leaves, so the ETAs are never cut off.
    fn show_bar(&mut self, bar: ProgressBar) {
        let style = ProgressStyle::with_template(
            "epoch {prefix} [{wide_bar:.cyan/blue}] {pos}/{len} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(format!("{}/{}", self.epoch + 1, self.epochs));
        bar.set_position(self.step_in_epoch);
        self.bar = Some(bar);
    }

    /// After each step: `batch` images done, `running_loss` the epoch's mean so far.
    pub fn step(&mut self, batch: usize, running_loss: f32) {
        self.samples += batch as u64;
        self.step_in_epoch += 1;
        self.run_steps += 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if bar.position() % MESSAGE_EVERY == 1 {
                bar.set_message(self.status(running_loss));
            }
        } else if self
            .log_every
            .is_some_and(|every| self.last_line.elapsed() >= every)
        {
            self.last_line = Instant::now();
            self.line(&format!(
                "epoch {}/{} step {}/{}: {}",
                self.epoch + 1,
                self.epochs,
                self.step_in_epoch,
                self.steps_per_epoch,
                self.status(running_loss)
            ));
        }
    }

    /// `loss 0.1234, 98k/s, ETA 12s, run 3m04s`: short enough that the bar
    /// keeps room in 80 columns.
    fn status(&self, running_loss: f32) -> String {
        let rate = self.samples as f64 / self.epoch_start.elapsed().as_secs_f64().max(1e-9);
        let mut text = format!("loss {running_loss:.4}, {}/s", short_count(rate));
        let Some(run_start) = self.run_start else {
            return text;
        };
        let seconds_per_step = run_start.elapsed().as_secs_f64() / self.run_steps.max(1) as f64;
        let left_in_epoch = self.steps_per_epoch.saturating_sub(self.step_in_epoch);
        let later_epochs = self.epochs.saturating_sub(self.epoch + 1) as u64;
        let left_in_run = left_in_epoch + later_epochs * self.steps_per_epoch;
        text.push_str(&format!(
            ", ETA {}",
            short_duration(left_in_epoch as f64 * seconds_per_step)
        ));
        if later_epochs > 0 {
            text.push_str(&format!(
                ", run {}",
                short_duration(left_in_run as f64 * seconds_per_step)
            ));
        }
        text
    }

    /// Removes the bar and prints the epoch's summary line in its place.
    pub fn finish_epoch(&mut self, summary: &str) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        self.line(summary);
    }
}

/// `12s`, `3m04s`, `2h05m`: a time left, to the precision a person wants.
pub fn short_duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0).round() as u64;
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
    }
}

/// `950`, `98k`, `1.2M`: a rate of images, to two or three digits.
pub fn short_count(count: f64) -> String {
    if count < 10_000.0 {
        format!("{count:.0}")
    } else if count < 1e6 {
        format!("{:.0}k", count / 1e3)
    } else {
        format!("{:.1}M", count / 1e6)
    }
}

/// A learning rate or similar setting with four significant digits at
/// most, as a person would write it: `0.001`, `0.0003`, `0.1235`, `2.5e-5`
/// (an f32 such as `0.1 * 0.3` printed in full reads `0.030000001`).
pub fn short_number(x: f32) -> String {
    let x = f64::from(x);
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    if x.abs() < 1e-4 {
        let text = format!("{x:.3e}");
        let (mantissa, exponent) = text.split_once('e').expect("{:e} has an exponent");
        return format!("{}e{exponent}", trim_zeros(mantissa));
    }
    // Four significant digits: as many decimals as the magnitude leaves.
    let decimals = (3 - x.abs().log10().floor() as i32).clamp(0, 8) as usize;
    trim_zeros(&format!("{x:.decimals$}")).to_string()
}

fn trim_zeros(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

/// `1 epoch`, `2 epochs`.
pub fn count_of(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::TermLike;
    use std::sync::{Arc, Mutex};

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

    /// An 80-column terminal that keeps what is drawn on it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push(s.to_string());
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_bar_and_both_etas_fit_in_80_columns() {
        let screen = Screen::default();
        let mut progress = Progress::with_style(true, false);
        // The widest case: two-digit epochs, five-digit steps, hours left.
        (progress.epoch, progress.epochs) = (10, 99);
        // The message is refreshed when the position is 1 more than a multiple of 20.
        (progress.steps_per_epoch, progress.step_in_epoch) = (60_000, 12_340);
        // 900k images/s, 0.01 s a step: 8 minutes left in the epoch, 15 hours in the run.
        progress.epoch_start = Instant::now() - Duration::from_secs(10);
        progress.run_start = Some(Instant::now() - Duration::from_secs(100));
        (progress.run_steps, progress.samples) = (10_000, 9_000_000);
        let target = ProgressDrawTarget::term_like(Box::new(screen.clone()));
        progress.show_bar(ProgressBar::with_draw_target(Some(60_000), target));
        progress.step(1, 0.123_456);
        // Finishing draws at once (drawing is otherwise rate-limited).
        progress.bar.take().unwrap().abandon();
        let drawn = screen.0.lock().unwrap().clone();
        let line = drawn
            .iter()
            .rev()
            .find(|l| l.contains("ETA"))
            .expect("a line with the ETA");
        assert!(line.contains(", run "), "{line}");
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}",
            line.chars().count()
        );
    }

    #[test]
    fn etas_count_the_rest_of_the_epoch_and_of_the_run() {
        let mut progress = Progress::with_style(false, false);
        (progress.epoch, progress.epochs) = (1, 4);
        (progress.steps_per_epoch, progress.step_in_epoch) = (100, 40);
        // 50 steps in 100 s: 2 s a step. 60 steps left in this epoch, 260 in the run.
        progress.run_start = Some(Instant::now() - Duration::from_secs(100));
        progress.run_steps = 50;
        let status = progress.status(0.5);
        assert!(status.ends_with(", ETA 2m00s, run 8m40s"), "{status}");
        // The last epoch has no separate run ETA.
        progress.epoch = 3;
        assert!(
            progress.status(0.5).ends_with(", ETA 2m00s"),
            "{}",
            progress.status(0.5)
        );
    }

    #[test]
    fn numbers_are_printed_as_a_person_writes_them() {
        let cases = [
            (0.001, "0.001"),
            (0.0003, "0.0003"),
            (0.1 * 0.3, "0.03"),
            (0.123_456_79, "0.1235"),
            (1.0, "1"),
            (2.5e-5, "2.5e-5"),
            (1.349e-3, "0.001349"),
            (12.5, "12.5"),
            (0.0, "0"),
        ];
        for (x, want) in cases {
            assert_eq!(short_number(x), want, "{x}");
        }
        assert_eq!(short_duration(12.4), "12s");
        assert_eq!(short_duration(184.0), "3m04s");
        assert_eq!(short_duration(7500.0), "2h05m");
        assert_eq!(short_count(950.0), "950");
        assert_eq!(short_count(98_400.0), "98k");
        assert_eq!(short_count(1_234_567.0), "1.2M");
        assert_eq!(count_of(1, "epoch"), "1 epoch");
        assert_eq!(count_of(0, "epoch"), "0 epochs");
        assert_eq!(count_of(12, "epoch"), "12 epochs");
    }
}
