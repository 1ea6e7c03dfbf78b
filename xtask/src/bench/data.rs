//! `cargo xtask bench data`: how long loading the bundled gzipped MNIST takes
//! (issue 3's target: the 60k training set in under 0.5 s), how much memory
//! loading it peaks at (target: under 2x the 47 MB of raw pixels), and how
//! fast mini-batches are filled from it.
//!
//! Peak memory is the process's peak resident set (`VmHWM`), reset just
//! before the load by writing 5 to `/proc/self/clear_refs` (Linux), minus
//! the resident set before the load: what loading itself added at its peak.

use crate::report::{self, BenchOptions};
use mnist_data::{Batch, BatchOptions, Batches, Dataset, DatasetFiles, MnistSet, Pixels};
use serde_json::{json, Value};
use std::io::Read;

/// Issue 3's targets.
const TRAIN_LOAD_TARGET_SECONDS: f64 = 0.5;
const PEAK_MEMORY_TARGET_RATIO: f64 = 2.0;

pub fn run(options: &BenchOptions) -> Result<Vec<Value>, String> {
    let dir = report::workspace_root().join("data/mnist");
    let files = DatasetFiles::find(&dir).map_err(|e| e.to_string())?;
    let (warmup, runs) = if options.quick { (1, 3) } else { (2, 9) };
    let load = |images: &std::path::Path, labels: &std::path::Path| {
        Dataset::from_idx_files(images, labels, None).map_err(|e| e.to_string())
    };

    // Memory first, while the process is fresh.
    let (train, train_peak) =
        peak_resident_added(|| load(&files.train_images, &files.train_labels))?;
    let train = train?;
    let raw_bytes = train.images().len() + train.labels().len() + 16 + 8;
    drop(train);

    let mut rows = Vec::new();
    let mut table = vec![
        "| workload | median | target | peak memory added | raw size |".to_string(),
        "| --- | --- | --- | --- | --- |".to_string(),
    ];
    let time_load = |name: &str, f: &mut dyn FnMut()| {
        let seconds = report::median_seconds(warmup, runs, f);
        (name.to_string(), seconds)
    };

    let (name, train_s) = time_load("load train (60k, gzip IDX)", &mut || {
        load(&files.train_images, &files.train_labels).expect("loaded once already");
    });
    let peak_text = train_peak.as_ref().map_or_else(
        |e| format!("not measured ({e})"),
        |&bytes| {
            format!(
                "{:.1} MB ({:.2}x raw)",
                mb(bytes),
                bytes as f64 / raw_bytes as f64
            )
        },
    );
    table.push(format!(
        "| {name} | {:.3} s | < {TRAIN_LOAD_TARGET_SECONDS} s | {peak_text} | {:.1} MB |",
        train_s,
        mb(raw_bytes)
    ));
    rows.push(json!({
        "bench": "data", "workload": name, "median_s": train_s, "runs": runs,
        "target_s": TRAIN_LOAD_TARGET_SECONDS, "meets_time_target": train_s < TRAIN_LOAD_TARGET_SECONDS,
        "peak_added_bytes": train_peak.as_ref().ok(), "raw_bytes": raw_bytes,
        "peak_ratio": train_peak.as_ref().ok().map(|&b| b as f64 / raw_bytes as f64),
        "peak_target_ratio": PEAK_MEMORY_TARGET_RATIO,
    }));

    let (name, test_s) = time_load("load test (10k, gzip IDX)", &mut || {
        load(&files.test_images, &files.test_labels).expect("same format as train");
    });
    table.push(format!("| {name} | {test_s:.3} s | | | |"));
    rows.push(json!({"bench": "data", "workload": name, "median_s": test_s, "runs": runs}));

    let (name, both_s) = time_load("load train + test (MnistSet::load_dir)", &mut || {
        MnistSet::load_dir(&dir, None).expect("same files");
    });
    table.push(format!("| {name} | {both_s:.3} s | | | |"));
    rows.push(json!({"bench": "data", "workload": name, "median_s": both_s, "runs": runs}));

    // For scale: gunzip alone (flate2 into a Vec), what any loader must pay.
    let gz = std::fs::read(&files.train_images).map_err(|e| e.to_string())?;
    let (name, gunzip_s) = time_load("gunzip train images only (flate2)", &mut || {
        let mut out = Vec::with_capacity(raw_bytes);
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .expect("valid gzip");
    });
    table.push(format!("| {name} | {gunzip_s:.3} s | | | |"));
    rows.push(json!({"bench": "data", "workload": name, "median_s": gunzip_s, "runs": runs}));

    // The same training set as CSV (label, 784 pixels a line, with a
    // header), as in the widely shared mnist_train.csv: about 110 MB.
    let csv_path = report::workspace_root().join("target/bench/mnist_train.csv");
    write_csv(&csv_path, &set_for_csv(&dir)?)?;
    let (name, csv_s) = time_load("load train from CSV (60k lines)", &mut || {
        Dataset::from_csv(&csv_path, None, None).expect("written just now");
    });
    let csv_bytes = std::fs::metadata(&csv_path).map_or(0, |m| m.len() as usize);
    let _ = std::fs::remove_file(&csv_path);
    table.push(format!(
        "| {name} | {csv_s:.3} s | | | {:.1} MB of text |",
        mb(csv_bytes)
    ));
    rows.push(json!({
        "bench": "data", "workload": name, "median_s": csv_s, "runs": runs,
        "csv_bytes": csv_bytes,
    }));

    // Filling batches: one shuffled epoch of B = 128, standardised, one-hot.
    let set = MnistSet::load_dir(&dir, None).map_err(|e| e.to_string())?;
    let train = set.train;
    let batch_options = BatchOptions {
        batch_size: 128,
        shuffle_seed: Some(1),
        pixels: Pixels::Standardized(train.pixel_stats()),
        one_hot: true,
        drop_last: false,
    };
    let mut batches = Batches::new(&train, batch_options).map_err(|e| e.to_string())?;
    let mut batch = Batch::new();
    let mut epoch = 0;
    let (name, epoch_s) = time_load(
        "one epoch of batches (B=128, shuffled, standardised)",
        &mut || {
            batches.start_epoch(epoch);
            epoch += 1;
            while batches.next_batch(&mut batch) {}
        },
    );
    let images_per_s = train.len() as f64 / epoch_s;
    table.push(format!(
        "| {name} | {epoch_s:.3} s ({:.1} M images/s) | | | |",
        images_per_s / 1e6
    ));
    rows.push(json!({
        "bench": "data", "workload": name, "median_s": epoch_s, "runs": runs,
        "images_per_s": images_per_s,
    }));

    println!(
        "\n## Data loading (`cargo xtask bench data`)\n\n{}\n",
        table.join("\n")
    );
    Ok(rows)
}

fn set_for_csv(dir: &std::path::Path) -> Result<Dataset, String> {
    MnistSet::load_dir(dir, None)
        .map(|set| set.train)
        .map_err(|e| e.to_string())
}

/// Writes `set` as CSV: a header, then `label,p0,...,p783` per image.
fn write_csv(path: &std::path::Path, set: &Dataset) -> Result<(), String> {
    use std::io::Write;
    // On a fresh clone target/bench does not exist until a report is written.
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let header: Vec<String> = std::iter::once("label".to_string())
        .chain((0..set.pixels_per_image()).map(|i| format!("pixel{i}")))
        .collect();
    let write = |out: &mut std::io::BufWriter<std::fs::File>| -> std::io::Result<()> {
        writeln!(out, "{}", header.join(","))?;
        for i in 0..set.len() {
            write!(out, "{}", set.label(i))?;
            for p in set.image(i) {
                write!(out, ",{p}")?;
            }
            writeln!(out)?;
        }
        out.flush()
    };
    write(&mut out).map_err(|e| format!("{}: {e}", path.display()))
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

/// Runs `f` and returns its result and how many bytes the process's peak
/// resident set rose above its resident set before the call.
fn peak_resident_added<T>(f: impl FnOnce() -> T) -> Result<(T, Result<usize, String>), String> {
    let reset = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_kib("VmRSS");
    let result = f();
    let peak = status_kib("VmHWM");
    let added = match (reset, before, peak) {
        (Ok(()), Some(before), Some(peak)) => Ok(peak.saturating_sub(before) * 1024),
        (Err(e), _, _) => Err(format!("cannot reset the peak: {e}")),
        _ => Err("no VmRSS/VmHWM in /proc/self/status".into()),
    };
    Ok((result, added))
}

/// A `kB` field of `/proc/self/status`.
fn status_kib(field: &str) -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
