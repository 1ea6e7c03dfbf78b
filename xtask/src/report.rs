//! What every benchmark shares: options, timing, machine facts, peer
//! (Python) runs, and writing `target/bench/NAME.json`.

use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Default, Clone)]
pub struct BenchOptions {
    pub compare: bool,
    pub quick: bool,
    pub setup_peers: bool,
}

/// Runs `f` `warmup` times untimed, then `runs` times, and returns the median seconds.
pub fn median_seconds(warmup: usize, runs: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

/// Writes `rows` as a JSON array to `target/bench/NAME.json`, atomically.
pub fn write_json(name: &str, rows: &[serde_json::Value]) -> Result<(), String> {
    let dir = workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let path = dir.join(format!("{name}.json"));
    let tmp = dir.join(format!(".{name}.json.tmp"));
    let text = serde_json::to_string_pretty(rows).expect("JSON values always serialise");
    std::fs::write(&tmp, text).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("writing {}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// The machine this ran on, as a Markdown header.
pub fn machine_header() -> String {
    "## Machine\n(machine facts not written yet)".into()
}

/// Creates `.venv-peers` and installs numpy and torch (CPU) into it.
pub fn setup_peers() -> Result<(), String> {
    Err("--setup-peers not written yet".into())
}
