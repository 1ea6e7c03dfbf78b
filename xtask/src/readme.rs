//! `cargo xtask readme`: the figures the READMEs quote, measured by running
//! the commands they come from, recorded with the date, machine, commit and
//! load in `docs/readme-figures.json`, and copied into the READMEs.
//!
//! A figure in a README sits between two HTML comments, which Markdown does
//! not show: `<!-- fig default.accuracy -->99.29%<!-- /fig -->` quotes the
//! field `accuracy` of the measurement `default` in the record. Every
//! measurement also has the fields `date`, `machine`, `commit`, `command` and
//! `conditions`, which a README may quote the same way. The test
//! `readmes_quote_the_recorded_figures` (part of `cargo test --workspace`)
//! fails when a marked figure differs from the record, so a figure edited by
//! hand cannot drift from the run it claims to come from.

use crate::bench::quiet;
use crate::report;
use serde_json::{Map, Value};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// The record of every figure, relative to the workspace root.
const FIGURES_FILE: &str = "docs/readme-figures.json";

/// The files whose marked figures come from [`FIGURES_FILE`].
const READMES: &[&str] = &["README.md", "crates/trainer/README.md"];

const OPEN: &str = "<!-- fig ";
const OPEN_END: &str = " -->";
const CLOSE: &str = "<!-- /fig -->";

/// Above this 1-minute load average, a measurement says it ran under load
/// (the machine has two cores).
const BUSY_LOAD: f64 = 2.0;

const USAGE: &str = "\
usage: cargo xtask readme [WHAT...] [--no-run | --check]

Measures WHAT, records it in docs/readme-figures.json (value, command, date,
machine, commit, load) and rewrites the figures marked in README.md and
crates/trainer/README.md. Run it niced: nice -n 10 cargo xtask readme

  WHAT      default    `cargo run --release -p trainer`: accuracy and time (about 25 s)
                       (measured when no WHAT is given)
            builds     the first build (`cargo build --release -p trainer`) and the
                       test build (`cargo test --workspace --no-run`) of a fresh
                       clone of HEAD, from an empty target directory (minutes)
            PRESET     any other trainer preset, e.g. mlp, lenet5, or best
                       (best takes about 6 minutes of both cores)
  --no-run  measure nothing: only rewrite the READMEs from the record
  --check   measure and write nothing: fail if a README disagrees with the record";

pub fn run(args: &[String]) -> Result<(), String> {
    let mut what: Vec<&str> = Vec::new();
    let (mut no_run, mut check) = (false, false);
    for arg in args {
        match arg.as_str() {
            "--no-run" => no_run = true,
            "--check" => check = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            flag if flag.starts_with('-') => return Err(format!("unknown flag {flag}\n{USAGE}")),
            name => what.push(name),
        }
    }
    if (no_run || check) && !what.is_empty() {
        return Err("--no-run and --check measure nothing: name no measurement with them".into());
    }
    let root = report::workspace_root();
    let record_path = root.join(FIGURES_FILE);
    let mut record = read_record(&record_path)?;
    if check {
        return check_readmes(&root, &record);
    }
    if what.is_empty() && !no_run {
        what.push("default");
    }
    if !what.is_empty() {
        let trainer = if what.iter().any(|&name| name != "builds") {
            Some(report::build_trainer()?)
        } else {
            None
        };
        for name in what {
            let measured = match (name, &trainer) {
                ("builds", _) => measure_builds(&root)?,
                (preset, Some(trainer)) => measure_preset(trainer, preset)?,
                (_, None) => unreachable!("the trainer is built for every preset"),
            };
            println!("{name}: {}", serde_json::to_string(&measured).unwrap());
            record
                .as_object_mut()
                .ok_or_else(|| format!("{FIGURES_FILE} is not a JSON object"))?
                .insert(name.to_string(), measured);
            // Written after each measurement, so a long list interrupted
            // keeps what it measured.
            let text = serde_json::to_string_pretty(&record).expect("JSON values serialise") + "\n";
            report::write_atomically(&record_path, &text)?;
        }
    }
    for readme in READMES {
        let path = root.join(readme);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let rewritten = quote_record(&text, &record).map_err(|e| format!("{readme}: {e}"))?;
        if rewritten != text {
            report::write_atomically(&path, &rewritten)?;
            println!("rewrote the figures of {readme}");
        }
    }
    Ok(())
}

/// An error listing every marked figure of the READMEs that differs from
/// `record`.
fn check_readmes(root: &Path, record: &Value) -> Result<(), String> {
    let mut problems = Vec::new();
    for readme in READMES {
        let path = root.join(readme);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let found = disagreements(&text, record).map_err(|e| format!("{readme}: {e}"))?;
        problems.extend(
            found
                .into_iter()
                .map(|problem| format!("{readme}: {problem}")),
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the READMEs disagree with {FIGURES_FILE} (measure again with \
             `cargo xtask readme WHAT`, or copy the record with `--no-run`):\n{}",
            problems.join("\n")
        ))
    }
}

/// The record in `path`, an object of measurements by name.
fn read_record(path: &Path) -> Result<Value, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let record: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
    if !record.is_object() {
        return Err(format!("{} is not a JSON object", path.display()));
    }
    Ok(record)
}

/// A marked figure: its key (`default.accuracy`) and where its text is.
#[derive(Debug, PartialEq)]
struct Span {
    key: String,
    text: std::ops::Range<usize>,
    line: usize,
}

/// Every marked figure in `text`, in order; an error for a marker left
/// open, a key that is not `MEASUREMENT.FIELD`, or a figure across lines.
fn spans(text: &str) -> Result<Vec<Span>, String> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(offset) = text[at..].find(OPEN) {
        let start = at + offset;
        let line = text[..start].matches('\n').count() + 1;
        let key_start = start + OPEN.len();
        let key_end = key_start
            + text[key_start..]
                .find(OPEN_END)
                .ok_or_else(|| format!("line {line}: a figure's marker is not closed with -->"))?;
        let key = text[key_start..key_end].trim();
        let valid_key = key.split_once('.').is_some_and(|(measurement, field)| {
            !measurement.is_empty() && !field.is_empty() && !key.contains(char::is_whitespace)
        });
        if !valid_key {
            return Err(format!(
                "line {line}: figure key {key:?} is not MEASUREMENT.FIELD (e.g. default.accuracy)"
            ));
        }
        let value_start = key_end + OPEN_END.len();
        let value_end = value_start
            + text[value_start..]
                .find(CLOSE)
                .ok_or_else(|| format!("line {line}: figure {key} has no {CLOSE}"))?;
        let value = &text[value_start..value_end];
        if value.contains('\n') || value.contains(OPEN) {
            return Err(format!(
                "line {line}: figure {key} runs past its line (a {CLOSE} is missing)"
            ));
        }
        found.push(Span {
            key: key.to_string(),
            text: value_start..value_end,
            line,
        });
        at = value_end + CLOSE.len();
    }
    Ok(found)
}

/// The recorded text of `key` (`MEASUREMENT.FIELD`), if there is one.
fn recorded<'a>(record: &'a Value, key: &str) -> Option<&'a str> {
    let (measurement, field) = key.split_once('.')?;
    record.get(measurement)?.get(field)?.as_str()
}

/// `text` with every marked figure replaced by its recorded value; an error
/// naming the line of a figure the record does not have.
fn quote_record(text: &str, record: &Value) -> Result<String, String> {
    let mut rewritten = String::with_capacity(text.len());
    let mut copied = 0;
    for span in spans(text)? {
        let value = recorded(record, &span.key).ok_or_else(|| {
            format!(
                "line {}: figure {} is not in {FIGURES_FILE}",
                span.line, span.key
            )
        })?;
        rewritten.push_str(&text[copied..span.text.start]);
        rewritten.push_str(value);
        copied = span.text.end;
    }
    rewritten.push_str(&text[copied..]);
    Ok(rewritten)
}

/// Every marked figure of `text` that differs from the record, one line
/// each: where it is, what it says and what was measured.
fn disagreements(text: &str, record: &Value) -> Result<Vec<String>, String> {
    Ok(spans(text)?
        .into_iter()
        .filter_map(|span| {
            let quoted = &text[span.text.clone()];
            match recorded(record, &span.key) {
                Some(value) if value == quoted => None,
                Some(value) => Some(format!(
                    "line {}: {} says {quoted:?}, the record {value:?}",
                    span.line, span.key
                )),
                None => Some(format!(
                    "line {}: {} is not in {FIGURES_FILE}",
                    span.line, span.key
                )),
            }
        })
        .collect())
}

/// The fields every measurement carries: when, where, from which commit,
/// and how busy the machine was (the larger of the 1-minute load averages
/// before and after).
fn provenance(command: &str, load_before: Option<f64>) -> Map<String, Value> {
    let load = load_before
        .into_iter()
        .chain(quiet::load_average())
        .fold(None::<f64>, |max, load| {
            Some(max.map_or(load, |m| m.max(load)))
        });
    let conditions = match load {
        Some(load) if load > BUSY_LOAD => format!("under load (1-minute load average {load:.1})"),
        Some(load) => format!("quiet (1-minute load average {load:.1})"),
        None => "load unknown".into(),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut fields = Map::new();
    fields.insert("command".into(), command.into());
    fields.insert("date".into(), utc_now().into());
    fields.insert(
        "machine".into(),
        format!("{}, {cores} cores", report::cpu_model()).into(),
    );
    fields.insert("commit".into(), head_commit().into());
    fields.insert("conditions".into(), conditions.into());
    fields
}

/// Now, UTC, to the minute (`2026-12-07 18:40 UTC`), from `date`.
fn utc_now() -> String {
    output_of(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))
        .unwrap_or_else(|| "unknown date".into())
}

/// The short hash of HEAD, with `+changes` when the work tree differs from
/// it (a measurement of uncommitted code says so).
fn head_commit() -> String {
    let root = report::workspace_root();
    let Some(hash) = output_of(
        Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(&root),
    ) else {
        return "unknown".into();
    };
    let changed = output_of(
        Command::new("git")
            .args(["status", "--porcelain", "--untracked-files=no"])
            .current_dir(&root),
    )
    .is_some_and(|status| !status.is_empty());
    if changed {
        format!("{hash}+changes")
    } else {
        hash
    }
}

/// The trimmed stdout of `command` when it succeeds.
fn output_of(command: &mut Command) -> Option<String> {
    let output = command.output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Trains `preset` with the trainer binary, as `cargo run --release -p
/// trainer -- train --preset PRESET` does (saving its run folder, plots
/// included, under `target/readme/`), and returns its figures.
fn measure_preset(trainer: &Path, preset: &str) -> Result<Value, String> {
    let out = report::workspace_root().join("target/readme").join(preset);
    let mut command = Command::new(trainer);
    command
        .args([
            "train",
            "--preset",
            preset,
            "--json",
            "--overwrite",
            "--out",
        ])
        .arg(&out)
        .current_dir(report::workspace_root());
    let shown = if preset == "default" {
        "cargo run --release -p trainer".to_string()
    } else {
        format!("cargo run --release -p trainer -- train --preset {preset}")
    };
    println!("measuring {preset}: {shown}");
    let load_before = quiet::load_average();
    let started = Instant::now();
    let watched = quiet::run_watched(&mut command)
        .map_err(|e| format!("running the trainer ({command:?}): {e}"))?;
    let wall = started.elapsed().as_secs_f64();
    if !watched.status.success() {
        return Err(format!(
            "the trainer ({command:?}) exited with {}: {}",
            watched.status,
            watched.stderr.lines().last().unwrap_or("")
        ));
    }
    let report: Value = serde_json::from_str(watched.stdout.trim())
        .map_err(|e| format!("the trainer printed something other than one JSON object: {e}"))?;
    let number = |value: &Value, what: &str| {
        value
            .as_f64()
            .ok_or_else(|| format!("the trainer's JSON has no number {what}"))
    };
    let mut fields = provenance(&shown, load_before);
    let percent = |fraction: f64| format!("{:.2}%", 100.0 * fraction);
    fields.insert(
        "accuracy".into(),
        percent(number(&report["test_accuracy"], "test_accuracy")?).into(),
    );
    let last_epoch = report["history"]
        .as_array()
        .and_then(|history| history.last())
        .ok_or("the trainer's JSON has no history")?;
    if let Some(validation) = last_epoch["val_accuracy"].as_f64() {
        fields.insert("validation".into(), percent(validation).into());
    }
    fields.insert("wall".into(), format!("{wall:.1} s").into());
    let training = number(&report["train_seconds"], "train_seconds")?;
    fields.insert("training".into(), format!("{training:.1} s").into());
    let throughput = number(&report["samples_per_second"], "samples_per_second")?;
    fields.insert(
        "throughput".into(),
        format!("{:.1}k samples/s", throughput / 1000.0).into(),
    );
    if let Some(kib) = watched.peak_kib {
        let megabytes = kib as f64 * 1024.0 / 1e6;
        fields.insert("peak_memory".into(), format!("{megabytes:.0} MB").into());
    }
    Ok(Value::Object(fields))
}

/// Clones HEAD into `target/readme/clone` and times, from its empty target
/// directory, the two builds a new user waits for: the trainer
/// (`cargo build --release -p trainer`), then the tests
/// (`cargo test --workspace --no-run`). Crates already downloaded into
/// cargo's registry are not fetched again: the figures are compile time.
fn measure_builds(root: &Path) -> Result<Value, String> {
    let clone = root.join("target/readme/clone");
    remove_clone(&clone)?;
    report::run_to_end(
        Command::new("git")
            .args(["clone", "--quiet", "--no-hardlinks"])
            .arg(root)
            .arg(&clone),
    )?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let timed = |args: &[&str]| -> Result<f64, String> {
        println!("timing `cargo {}` in {}", args.join(" "), clone.display());
        let started = Instant::now();
        let status = Command::new(&cargo)
            .args(args)
            .current_dir(&clone)
            .env("CARGO_TARGET_DIR", clone.join("target"))
            .status()
            .map_err(|e| format!("could not run cargo {}: {e}", args.join(" ")))?;
        if !status.success() {
            return Err(format!("cargo {} failed: {status}", args.join(" ")));
        }
        Ok(started.elapsed().as_secs_f64())
    };
    let load_before = quiet::load_average();
    let release = timed(&["build", "--release", "-p", "trainer"])?;
    let tests = timed(&["test", "--workspace", "--no-run"])?;
    let mut fields = provenance(
        "cargo build --release -p trainer, then cargo test --workspace --no-run, \
         in a fresh clone with an empty target directory",
        load_before,
    );
    // The clone builds HEAD as committed, whatever the work tree holds.
    if let Some(hash) = output_of(
        Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(&clone),
    ) {
        fields.insert("commit".into(), hash.into());
    }
    fields.insert("release_build".into(), format!("{release:.0} s").into());
    fields.insert("test_build".into(), format!("{tests:.0} s").into());
    remove_clone(&clone)?;
    Ok(Value::Object(fields))
}

fn remove_clone(clone: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(clone) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("removing {}: {e}", clone.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> Value {
        json!({"default": {"accuracy": "99.29%", "wall": "22.4 s", "date": "2026-12-07"}})
    }

    #[test]
    fn readmes_quote_the_recorded_figures() {
        let root = report::workspace_root();
        let record = read_record(&root.join(FIGURES_FILE)).unwrap();
        for readme in READMES {
            let text = std::fs::read_to_string(root.join(readme)).unwrap();
            assert!(
                !spans(&text).unwrap().is_empty(),
                "no marked figure in {readme}"
            );
        }
        if let Err(problems) = check_readmes(&root, &record) {
            panic!("{problems}");
        }
    }

    #[test]
    fn every_measurement_says_when_where_and_how() {
        let record = read_record(&report::workspace_root().join(FIGURES_FILE)).unwrap();
        for (name, measurement) in record.as_object().unwrap() {
            for field in ["command", "date", "machine", "commit", "conditions"] {
                assert!(
                    measurement[field].as_str().is_some_and(|s| !s.is_empty()),
                    "{FIGURES_FILE}: {name} has no {field}"
                );
            }
        }
    }

    #[test]
    fn a_hand_edited_figure_is_caught_with_its_line() {
        let text = "Train it:\n<!-- fig default.accuracy -->99.9%<!-- /fig --> in \
                    <!-- fig default.wall -->22.4 s<!-- /fig -->\n";
        assert_eq!(
            disagreements(text, &record()).unwrap(),
            ["line 2: default.accuracy says \"99.9%\", the record \"99.29%\""]
        );
    }

    #[test]
    fn a_figure_missing_from_the_record_is_caught() {
        let text = "<!-- fig best.accuracy -->99.64%<!-- /fig -->";
        assert_eq!(
            disagreements(text, &record()).unwrap(),
            [format!("line 1: best.accuracy is not in {FIGURES_FILE}")]
        );
        assert!(quote_record(text, &record()).is_err());
    }

    #[test]
    fn quoting_replaces_only_the_marked_text() {
        let text = "a <!-- fig default.accuracy -->98%<!-- /fig --> b \
                    <!-- fig default.date -->old<!-- /fig --> 23 s";
        assert_eq!(
            quote_record(text, &record()).unwrap(),
            "a <!-- fig default.accuracy -->99.29%<!-- /fig --> b \
             <!-- fig default.date -->2026-12-07<!-- /fig --> 23 s"
        );
        assert_eq!(quote_record("no figures", &record()).unwrap(), "no figures");
    }

    #[test]
    fn broken_markers_are_errors_not_skipped() {
        let unclosed = "<!-- fig default.accuracy -->99.29%\nmore";
        assert!(spans(unclosed)
            .unwrap_err()
            .contains("has no <!-- /fig -->"));
        let across_lines = "<!-- fig default.accuracy -->99.29%\n<!-- /fig -->";
        assert!(spans(across_lines)
            .unwrap_err()
            .contains("runs past its line"));
        let bad_key = "<!-- fig accuracy -->99.29%<!-- /fig -->";
        assert!(spans(bad_key).unwrap_err().contains("MEASUREMENT.FIELD"));
        let no_end = "<!-- fig default.accuracy 99.29%";
        assert!(spans(no_end).unwrap_err().contains("not closed"));
    }
}
