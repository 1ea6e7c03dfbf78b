//! What every benchmark shares: options, timing, machine facts, peer
//! (Python) runs, building the trainer, and writing `target/bench/NAME.json`.
//! `interop` uses the peers' Python and the trainer from here too.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
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

/// What a sample's seconds are counted on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Clock {
    /// Elapsed time, what a user waits: the figure every table reports.
    #[default]
    Wall,
    /// Time the calling thread ran on a core (`/proc/thread-self/schedstat`,
    /// in ns; Linux only). On a machine shared with builds, where a
    /// one-thread run gets a fraction of its core, this leaves out the time
    /// the scheduler gave to others (not what they did to the caches); it
    /// means nothing for work done on other threads.
    ThreadCpu,
}

impl Clock {
    /// Seconds from an arbitrary start. `ThreadCpu` falls back to elapsed
    /// time where the file cannot be read.
    pub fn now(self) -> f64 {
        static START: OnceLock<Instant> = OnceLock::new();
        let wall = || START.get_or_init(Instant::now).elapsed().as_secs_f64();
        match self {
            Clock::Wall => wall(),
            Clock::ThreadCpu => std::fs::read_to_string("/proc/thread-self/schedstat")
                .ok()
                .as_deref()
                .and_then(schedstat_run_seconds)
                .unwrap_or_else(wall),
        }
    }
}

/// The first field of a `schedstat` file: nanoseconds spent running.
fn schedstat_run_seconds(text: &str) -> Option<f64> {
    let nanoseconds: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(nanoseconds as f64 * 1e-9)
}

/// How many calls of `call` take about `sample_seconds` on `clock`, timed
/// warm: the first call of a shape also grows buffers and faults their
/// pages in, so it is made untimed, then calls are timed over ~2 ms (at
/// least one). Timing the first call alone made 10 ms samples of 1.5-4 ms
/// in `matmul`, short enough that waking the parked pool worker at the
/// start of each weighed on them. `xtask/peers/timing.py` sizes the peers'
/// samples the same way.
pub fn calls_per_sample(sample_seconds: f64, clock: Clock, mut call: impl FnMut()) -> usize {
    call();
    let start = clock.now();
    let mut calls = 0;
    while calls == 0 || clock.now() - start < 0.002 {
        call();
        calls += 1;
    }
    let once = ((clock.now() - start) / calls as f64).max(1e-7);
    ((sample_seconds / once) as usize).max(1)
}

/// Seconds per call of `call` on `clock`, one figure per sample of `calls`
/// calls, for as many samples as fit in `budget_seconds` (on the same
/// clock) but at least `min_samples`.
pub fn samples_within(
    budget_seconds: f64,
    min_samples: usize,
    calls: usize,
    clock: Clock,
    mut call: impl FnMut(),
) -> Vec<f64> {
    let start = clock.now();
    let mut samples = Vec::new();
    while samples.len() < min_samples.max(1) || clock.now() - start < budget_seconds {
        let sample = clock.now();
        (0..calls).for_each(|_| call());
        samples.push((clock.now() - sample) / calls as f64);
    }
    samples
}

/// Runs `f`, on one core when `one_core`: on a thread pinned to the first
/// core this process may use, so that `f` and every process it starts (they
/// inherit the pin) share that core.
///
/// One-thread figures of ours and of a peer are taken this way. This VM's
/// cores slow down one at a time (at one moment GEMM ran at 75 GFLOP/s on
/// one and 95 on the other), so a process on each made a one-thread ratio a
/// comparison of cores.
///
/// On Linux only: elsewhere `core_affinity` pins loosely or not at all, and
/// children do not inherit it. A thread that `f` starts stays on the core for
/// good, so `f` must not be the first user of a thread pool (one-thread
/// GEMMs never start tensor's).
pub fn on_one_core<T: Send>(one_core: bool, f: impl FnOnce() -> T + Send) -> T {
    let core = one_core
        .then(core_affinity::get_core_ids)
        .flatten()
        .and_then(|cores| cores.first().copied());
    let Some(core) = core else { return f() };
    std::thread::scope(|scope| {
        let pinned = scope.spawn(|| {
            if !core_affinity::set_for_current(core) {
                println!("(could not pin the one-thread runs to core {})", core.id);
            }
            f()
        });
        pinned
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

/// Runs `command` to its end; a failure to start or a non-zero exit is an
/// error with the command and what it printed on stderr.
pub fn run_to_end(command: &mut Command) -> Result<std::process::Output, String> {
    let shown = format!("{command:?}");
    let output = command
        .output()
        .map_err(|e| format!("{shown}: could not start: {e}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "{shown}: {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Builds the trainer in release mode and returns the binary's path.
pub fn build_trainer() -> Result<PathBuf, String> {
    build_release(&["-p", "trainer"], "trainer")
}

/// Builds the trainer's example `name` in release mode and returns the
/// binary's path.
pub fn build_trainer_example(name: &str) -> Result<PathBuf, String> {
    build_release(
        &["-p", "trainer", "--example", name],
        &format!("examples/{name}"),
    )
}

/// `cargo build --release ARGS`, and the path of `binary` (relative to the
/// release directory) that it built.
fn build_release(args: &[&str], binary: &str) -> Result<PathBuf, String> {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let shown = format!("{cargo} build --release {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(["build", "--release", "--quiet"])
        .args(args)
        .current_dir(&root)
        .status()
        .map_err(|e| format!("could not run {shown}: {e}"))?;
    if !status.success() {
        return Err(format!("{shown} failed: {status}"));
    }
    // Where the build above put it: `CARGO_TARGET_DIR` when set (worktrees
    // that share one target directory), relative to `root` where cargo ran.
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or(root.join("target"), |dir| root.join(dir));
    let binary = target
        .join("release")
        .join(binary)
        .with_extension(std::env::consts::EXE_EXTENSION);
    if binary.exists() {
        Ok(binary)
    } else {
        Err(format!("{} was not built", binary.display()))
    }
}

/// Writes `rows` as a JSON array to `target/bench/NAME.json`, atomically.
pub fn write_json(name: &str, rows: &[serde_json::Value]) -> Result<(), String> {
    let path = workspace_root().join(format!("target/bench/{name}.json"));
    let text = serde_json::to_string_pretty(rows).expect("JSON values always serialise");
    write_atomically(&path, &text)?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Writes `text` to `path` through a temporary file beside it, so a reader
/// never sees half a file, creating the folder if need be.
pub fn write_atomically(path: &std::path::Path, text: &str) -> Result<(), String> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(format!("{} is not a file path", path.display()));
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    std::fs::write(&tmp, text).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(())
}

/// A table cell: `row[key]` with `digits` decimals, or `-` when the row
/// lacks it.
pub fn number(row: &serde_json::Value, key: &str, digits: usize) -> String {
    row[key]
        .as_f64()
        .map_or("-".to_string(), |v| format!("{v:.digits$}"))
}

/// The machine this ran on, as a Markdown header: CPU model, cores, SIMD
/// features detected, and the FP32 peak measured by [`peak_gflops_per_core`].
pub fn machine_header() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_core = peak_gflops_per_core();
    let all_cores = peak_gflops_all_cores();
    format!(
        "## Machine\n\n\
         - CPU: {} ({cores} cores available)\n\
         - SIMD detected: {}\n\
         - FP32 peak, measured with a register-only loop of the widest FMAs the \
         GEMM kernel uses: {per_core:.1} GFLOP/s per core, {all_cores:.1} GFLOP/s on all \
         {cores} cores\n\
         - GEMM (blocked path), chosen for this CPU: {}\n\
         - Core-to-core round trip of a cache line, now: {} (it varies from minute to \
         minute on a VM, and multi-thread figures with it: see each row)\n",
        cpu_model(),
        simd_features().join(" "),
        tensor::describe_gemm(tensor::KernelChoice::Auto),
        core_to_core_round_trip_ns().map_or("-".into(), |ns| format!("{ns:.0} ns")),
    )
}

/// How long a cache line takes to go from one core to another and back,
/// in ns: two threads hand a counter back and forth (the median of 9
/// windows of 20,000 round trips, each window capped at 20 ms).
///
/// On this project's VM it moves between about 60 and 650 ns from minute
/// to minute (the host places the two vCPUs farther apart, or shares their
/// cores with other guests), and every two-thread figure follows it:
/// 784-100-10 trained at 240-320k samples/s when it was under 160 ns,
/// 148-175k when it was over 330 ns.
/// So the bench records it beside every multi-thread row. `None` with one core.
pub fn core_to_core_round_trip_ns() -> Option<f64> {
    use std::sync::atomic::{AtomicU64, Ordering};
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return None;
    }
    const TRIPS: u64 = 20_000;
    const WINDOW_CAP: std::time::Duration = std::time::Duration::from_millis(20);
    let mut windows: Vec<f64> = (0..9)
        .filter_map(|_| {
            // Odd values are the caller's serve, even ones the reply; 0 ends it.
            let ball = AtomicU64::new(1);
            std::thread::scope(|scope| {
                scope.spawn(|| loop {
                    let seen = ball.load(Ordering::Acquire);
                    if seen == 0 {
                        return;
                    }
                    if seen % 2 == 1 {
                        ball.store(seen + 1, Ordering::Release);
                    }
                });
                let started = Instant::now();
                let mut trips = 0;
                // The clock is read every 256 trips, not every trip, so it
                // adds next to nothing to the time per trip.
                while trips < TRIPS && (trips % 256 != 0 || started.elapsed() < WINDOW_CAP) {
                    let serve = 2 * trips + 1;
                    ball.store(serve, Ordering::Release);
                    // No `spin_loop()`: its pause would add to every trip.
                    while ball.load(Ordering::Acquire) == serve {}
                    trips += 1;
                }
                let elapsed = started.elapsed();
                ball.store(0, Ordering::Release);
                (trips > 0).then(|| elapsed.as_nanos() as f64 / trips as f64)
            })
        })
        .collect();
    windows.sort_by(f64::total_cmp);
    windows.get(windows.len() / 2).copied()
}

/// The CPU's model name from `/proc/cpuinfo` ("unknown" elsewhere).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The SIMD extensions this process can use (run-time detection).
pub fn simd_features() -> Vec<&'static str> {
    let mut found = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($name:tt),*) => {$(
                if std::is_x86_feature_detected!($name) {
                    found.push($name);
                }
            )*};
        }
        probe!("sse4.2", "avx", "avx2", "fma", "avx512f");
    }
    found
}

/// One core's FP32 peak in GFLOP/s, measured once per process with a loop
/// of independent FMAs (AVX-512 where the CPU has it, as the GEMM kernel
/// then does, else AVX2) that never touches memory, so it is the most the
/// GEMM can reach. Falls back to 0.0 when the CPU has no AVX2+FMA.
pub fn peak_gflops_per_core() -> f64 {
    measured_peaks().0
}

/// The FP32 peak of all cores together, in GFLOP/s (see [`measured_peaks`]).
pub fn peak_gflops_all_cores() -> f64 {
    measured_peaks().1
}

/// (one core, all cores): the best window of one core alone (60 windows of
/// 1-2 ms) and of all cores at once (30 windows, every core running the
/// loop in the same window, started together at a barrier, since the clock
/// may drop when all cores are busy). The windows are 10 ms apart, each
/// after an untimed tenth of a window, so the core is running at speed
/// again when the clock starts. Short windows, because on a shared machine
/// a longer one almost always includes time the core spent on someone
/// else, which would understate the peak and flatter every percentage.
///
/// For the same reason one core's peak is never taken below its share of
/// the all-core peak: once the host slowed one core through all 60 of its
/// windows (74.8 GFLOP/s, against 108 per core in the all-core windows just
/// after), and that run reported 1024^3 at 123% of "peak". (The other way
/// round would hide a real drop of the all-core clock, so it is not done.)
fn measured_peaks() -> (f64, f64) {
    static PEAKS: OnceLock<(f64, f64)> = OnceLock::new();
    *PEAKS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let window = || {
            std::thread::sleep(WINDOW_GAP);
            fma_gflops(FMA_ROUNDS / 10);
            fma_gflops(FMA_ROUNDS)
        };
        let alone = (0..60).map(|_| window()).fold(0.0, f64::max);
        let start = std::sync::Barrier::new(cores);
        let windows: Vec<Vec<f64>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..cores)
                .map(|_| {
                    scope.spawn(|| {
                        (0..30)
                            .map(|_| {
                                start.wait();
                                window()
                            })
                            .collect::<Vec<f64>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let together = (0..30)
            .map(|w| {
                windows
                    .iter()
                    .map(|core| core.get(w).copied().unwrap_or(0.0))
                    .sum::<f64>()
            })
            .fold(0.0, f64::max);
        (alone.max(together / cores as f64), together)
    })
}

/// The pause before each peak window, so that they sample more of the
/// host's moods than one stretch of 100 ms would.
const WINDOW_GAP: std::time::Duration = std::time::Duration::from_millis(10);

/// Rounds of the FMA loop per window: ~1 ms at 3.5 GHz (~2 ms where
/// 16-lane FMAs take two passes, as on Zen 4).
const FMA_ROUNDS: u64 = 300_000;

/// GFLOP/s of `rounds` rounds of 12 independent FMAs: 16-lane ones where
/// the CPU has AVX-512 (the GEMM's kernel then uses them; a CPU with two
/// 512-bit FMA units has twice the AVX2 peak), else 8-lane AVX2 ones.
fn fma_gflops(rounds: u64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        let avx512 = std::is_x86_feature_detected!("avx512f");
        let start = Instant::now();
        // SAFETY: AVX2 and FMA, or AVX-512F, were detected just above.
        let sink = unsafe {
            if avx512 {
                fma_loop_avx512(rounds)
            } else {
                fma_loop(rounds)
            }
        };
        let seconds = start.elapsed().as_secs_f64();
        std::hint::black_box(sink);
        let lanes = if avx512 { 16 } else { 8 };
        return (rounds * 12 * lanes * 2) as f64 / seconds / 1e9;
    }
    let _ = rounds;
    0.0
}

/// 12 independent FMA chains: more than the 2 pipes x 4 cycles of latency
/// needs in flight, so the loop runs at the FMA units' throughput.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_loop(rounds: u64) -> f32 {
    use std::arch::x86_64::*;
    let scale = _mm256_set1_ps(0.999_999);
    let offset = _mm256_set1_ps(1e-7);
    let mut acc = [_mm256_set1_ps(1.0); 12];
    for _ in 0..rounds {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, scale, offset);
        }
    }
    let mut sum = _mm256_setzero_ps();
    for a in acc {
        sum = _mm256_add_ps(sum, a);
    }
    let mut lanes = [0.0f32; 8];
    // SAFETY: `lanes` holds 8 writable floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
    lanes.iter().sum()
}

/// [`fma_loop`] with 16-lane FMAs.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_loop_avx512(rounds: u64) -> f32 {
    use std::arch::x86_64::*;
    let scale = _mm512_set1_ps(0.999_999);
    let offset = _mm512_set1_ps(1e-7);
    let mut acc = [_mm512_set1_ps(1.0); 12];
    for _ in 0..rounds {
        for a in acc.iter_mut() {
            *a = _mm512_fmadd_ps(*a, scale, offset);
        }
    }
    let mut sum = _mm512_setzero_ps();
    for a in acc {
        sum = _mm512_add_ps(sum, a);
    }
    _mm512_reduce_add_ps(sum)
}

/// The Python that runs peer scripts: `.venv-peers/bin/python` when
/// `--setup-peers` made it, else `python3` from the PATH.
pub fn peer_python() -> PathBuf {
    let venv = workspace_root().join(".venv-peers/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// The command that runs the peer script `xtask/peers/SCRIPT` at `threads`
/// threads (see [`peer_python_command`]).
pub fn peer_command(script: &str, threads: usize) -> Command {
    let mut command = peer_python_command(threads);
    command.arg(workspace_root().join("xtask/peers").join(script));
    command
}

/// The peers' Python ([`peer_python`]) at `threads` threads, with no
/// arguments yet.
///
/// The thread count goes through the environment, which OpenBLAS, OpenMP
/// and MKL read when numpy or torch is imported. `OPENBLAS_CORETYPE` and
/// `OPENBLAS_L2_SIZE`, which this machine's setup exports for another CPU
/// and which slow OpenBLAS down here, are removed: the comparison is
/// against the peers at their best. No `__pycache__` is written beside the
/// scripts.
pub fn peer_python_command(threads: usize) -> Command {
    let threads = threads.to_string();
    let mut command = Command::new(peer_python());
    command
        .env_remove("OPENBLAS_CORETYPE")
        .env_remove("OPENBLAS_L2_SIZE")
        .env("OPENBLAS_NUM_THREADS", &threads)
        .env("OMP_NUM_THREADS", &threads)
        .env("MKL_NUM_THREADS", &threads)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    command
}

/// What `cargo xtask bench --setup-peers` installs: numpy and threadpoolctl
/// are needed by every comparison, torch only by PyTorch's.
pub const BENCH_PEERS: PeerPackages = PeerPackages {
    required: &["numpy", "threadpoolctl"],
    optional: &["torch"],
};

/// Python packages for `.venv-peers`, each named as pip installs it and as
/// Python imports it (the same for every package used here).
pub struct PeerPackages {
    /// A failure to install one of these is an error.
    pub required: &'static [&'static str],
    /// A failure to install one of these is a note on stderr: the
    /// comparisons that need it are skipped.
    pub optional: &'static [&'static str],
}

/// Creates `.venv-peers` when it is missing (`python3 -m venv`) and
/// pip-installs each of `packages` that its Python cannot import yet, so a
/// second run needs no network. torch comes from PyPI as pip picks it.
pub fn setup_peers(packages: &PeerPackages) -> Result<(), String> {
    let venv = workspace_root().join(".venv-peers");
    let python = venv.join("bin/python");
    if !python.exists() {
        println!("creating {} (python3 -m venv)", venv.display());
        run_command(Command::new("python3").arg("-m").arg("venv").arg(&venv)).map_err(|e| {
            format!(
                "creating {} needs python3 with its venv module \
                 (Debian: apt-get install python3-venv): {e}",
                venv.display()
            )
        })?;
    }
    let install = |package: &str| {
        if python_can_import(&python, package) {
            return Ok(());
        }
        println!("installing {package} into {} (pip)", venv.display());
        run_command(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--quiet",
                ])
                .arg(package),
        )
        .map_err(|e| {
            format!(
                "installing {package} into {} failed (pip needs PyPI; or install it \
                 yourself: {} -m pip install {package}): {e}",
                venv.display(),
                python.display()
            )
        })
    };
    for package in packages.required {
        install(package)?;
    }
    for package in packages.optional {
        if let Err(e) = install(package) {
            eprintln!("xtask: {e}; the comparisons that need {package} will be skipped");
        }
    }
    Ok(())
}

/// Whether `python` runs and can `import module`.
pub fn python_can_import(python: &Path, module: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {module}")])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs `command`, turning a failure to start or a non-zero exit into an
/// error that names the command.
fn run_command(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let status = command
        .status()
        .map_err(|e| format!("{shown}: could not start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown}: {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_within_a_spent_budget_still_takes_the_minimum() {
        let mut calls = 0;
        let samples = samples_within(0.0, 3, 5, Clock::Wall, || calls += 1);
        assert_eq!((samples.len(), calls), (3, 15));
        assert!(samples.iter().all(|s| *s >= 0.0));
    }

    #[test]
    fn a_call_longer_than_a_sample_makes_a_sample_of_one_call() {
        // Sleeps never end early, so each call takes at least 20 ms.
        let mut calls = 0;
        let per_sample = calls_per_sample(0.01, Clock::Wall, || {
            calls += 1;
            std::thread::sleep(std::time::Duration::from_millis(20));
        });
        // One untimed call, then one timed (the ~2 ms of timing end after it).
        assert_eq!((per_sample, calls), (1, 2));
    }

    #[test]
    fn a_thread_runs_for_the_first_field_of_its_schedstat() {
        // run ns, wait ns, time slices
        assert_eq!(
            schedstat_run_seconds("154549491 481826124 68\n"),
            Some(0.154549491)
        );
        assert_eq!(schedstat_run_seconds(""), None);
        assert_eq!(schedstat_run_seconds("x 1 2"), None);
    }
}
