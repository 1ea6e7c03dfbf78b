//! `byte-fuzz`: a small seeded byte-mutation fuzzer that runs as an
//! ordinary `#[test]` on stable Rust (`cargo fuzz` needs nightly). Each
//! reader of outside bytes (IDX, CSV, safetensors, checkpoints, pictures)
//! is a target: a check that takes any bytes and must return without a
//! panic, an abort or a hang, with `Ok` or the reader's error.
//!
//! A run of one target:
//! 1. replays every file in its `tests/regressions/<target>/` folder: each
//!    input any run ever found to break the reader, kept for good;
//! 2. runs every seed (small valid files, `tests/corpus/...`);
//! 3. until its time is up ([`budget`], `FUZZ_SECONDS`, 10 s by default),
//!    takes a seed (half the time) or an earlier mutant and applies 1 to 8
//!    mutations: bit
//!    flips, interesting bytes, truncations, deletions, duplications,
//!    splices with another seed, 16/32/64-bit fields set to huge values,
//!    numbers written as text (JSON headers, CSV) replaced by huge ones.
//!
//! The sequence of inputs is a function of the target's name (or of
//! `FUZZ_SEED`), so a run is reproducible. A failing input is written to
//! `$TMPDIR/byte-fuzz-found/` and the test fails naming it: copy it into
//! the target's regressions folder, then fix the reader. A case that runs
//! longer than `FUZZ_HANG_SECONDS` (10 by default) is reported as a hang,
//! with its input saved the same way.

#![warn(missing_docs)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// xorshift64*: small, fast, and the same everywhere (Vigna 2016).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is taken as 1: xorshift never leaves 0).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform enough in `0..n`; `0` when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// FNV-1a: names saved inputs by their content, and seeds the RNG by name.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Values that break length and offset arithmetic.
const HUGE: [u64; 8] = [
    0,
    1,
    0x7F,
    0xFF,
    0x7FFF_FFFF,
    0xFFFF_FFFF,
    0x7FFF_FFFF_FFFF_FFFF,
    u64::MAX,
];

/// Applies one random mutation to `bytes`; `others` are splice partners.
pub fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>, others: &[Vec<u8>]) {
    let len = bytes.len();
    match rng.below(12) {
        9 | 10 if len > 0 => {
            // A number written as text (a JSON header's offsets and shapes,
            // a CSV field) replaced by one that breaks arithmetic.
            let mut start = rng.below(len);
            if !bytes[start].is_ascii_digit() {
                match bytes[start..].iter().position(u8::is_ascii_digit) {
                    Some(ahead) => start += ahead,
                    None => return,
                }
            }
            while start > 0 && bytes[start - 1].is_ascii_digit() {
                start -= 1;
            }
            let end = start
                + bytes[start..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
            let number: &[u8] = [
                &b"0"[..],
                b"1",
                b"-1",
                b"255",
                b"256",
                b"65536",
                b"2147483648",
                b"4294967296",
                b"18446744073709551615",
                b"18446744073709551616",
                b"99999999999999999999999",
                b"1e308",
                b"0.5",
            ][rng.below(13)];
            bytes.splice(start..end, number.iter().copied());
        }
        0 | 1 if len > 0 => {
            let at = rng.below(len);
            bytes[at] ^= 1 << rng.below(8);
        }
        2 if len > 0 => {
            let at = rng.below(len);
            bytes[at] = [0, 0xFF, 0x7F, 0x80, b'0', b'9', b',', b'\n'][rng.below(8)];
        }
        3 => bytes.truncate(rng.below(len + 1)),
        4 if len > 0 => {
            let at = rng.below(len);
            let end = (at + 1 + rng.below(64)).min(len);
            bytes.drain(at..end);
        }
        5 if len > 0 => {
            // Duplicate a range in place (repeated chunks, longer lines).
            let at = rng.below(len);
            let end = (at + 1 + rng.below(256)).min(len);
            let copy = bytes[at..end].to_vec();
            let to = rng.below(len + 1);
            bytes.splice(to..to, copy);
        }
        6 if !others.is_empty() => {
            // Splice: our head, another input's tail.
            let other = &others[rng.below(others.len())];
            let cut = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            bytes.truncate(cut);
            bytes.extend_from_slice(&other[from..]);
        }
        7 | 8 if len >= 2 => {
            // A length or offset field set to a huge (or tiny) value.
            let width = [2, 4, 8][rng.below(3)].min(len);
            let at = rng.below(len - width + 1);
            let value = HUGE[rng.below(HUGE.len())].wrapping_add(rng.below(3) as u64);
            let field = if rng.below(2) == 0 {
                value.to_le_bytes()
            } else {
                value.to_be_bytes()
            };
            let field = if field[0] == 0 && field[7] != 0 {
                &field[8 - width..] // big-endian: the low bytes are last
            } else {
                &field[..width]
            };
            bytes[at..at + width].copy_from_slice(field);
        }
        _ => {
            let at = rng.below(len + 1);
            let count = 1 + rng.below(16);
            let random: Vec<u8> = (0..count).map(|_| rng.next_u64() as u8).collect();
            bytes.splice(at..at, random);
        }
    }
}

/// Every file of `dir` (sorted by name; none if it does not exist), except
/// hidden files and READMEs.
pub fn files_in(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable folder").path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            !name.starts_with('.') && !name.starts_with("README")
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("a readable file");
            (p, bytes)
        })
        .collect()
}

fn seconds_from_env(name: &str, default: f64) -> Duration {
    let seconds = std::env::var(name)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(default);
    Duration::from_secs_f64(seconds)
}

/// How long each target mutates: `FUZZ_SECONDS`, else 10 s.
pub fn budget() -> Duration {
    seconds_from_env("FUZZ_SECONDS", 10.0)
}

/// What a finished run did.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// Saved inputs of earlier failures, replayed first.
    pub regressions: usize,
    /// Seed inputs the mutants were made from.
    pub seeds: usize,
    /// Mutated inputs tried.
    pub mutants: u64,
}

/// The check of one input: `Err` says which property failed (an error
/// message that names no file, an allocation beyond the input's size).
pub type Check = dyn Fn(&[u8]) -> Result<(), String> + Send + Sync;

/// One case under `catch_unwind`: a panic becomes its message.
fn run_case(check: &Check, bytes: &[u8]) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| check(bytes))) {
        Ok(result) => result,
        Err(panic) => Err(
            match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
                (Some(text), _) => format!("panicked: {text}"),
                (_, Some(text)) => format!("panicked: {text}"),
                _ => "panicked".to_string(),
            },
        ),
    }
}

/// Saves a failing input where a developer finds it; returns its path.
fn save_found(target: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join("byte-fuzz-found");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{target}-{:016x}", fnv1a(bytes)));
    let _ = std::fs::write(&path, bytes);
    path
}

fn fail(target: &str, regressions: &Path, bytes: &[u8], problem: &str) -> ! {
    let saved = save_found(target, bytes);
    panic!(
        "fuzz target {target}: {problem} on a {}-byte input, saved as {}; copy it into {} \
         and fix the reader",
        bytes.len(),
        saved.display(),
        regressions.display()
    );
}

/// Runs the target `name`: its regressions, its seeds, then mutants for
/// `budget`. Panics (failing the test) on the first input `check` rejects
/// or panics on, or that takes longer than `FUZZ_HANG_SECONDS`.
pub fn run(
    name: &str,
    seeds: &[Vec<u8>],
    regressions: &Path,
    budget: Duration,
    check: impl Fn(&[u8]) -> Result<(), String> + Send + Sync + 'static,
) -> Report {
    let hang_limit = seconds_from_env("FUZZ_HANG_SECONDS", 10.0);
    run_with_hang_limit(name, seeds, regressions, budget, hang_limit, check)
}

fn run_with_hang_limit(
    name: &str,
    seeds: &[Vec<u8>],
    regressions: &Path,
    budget: Duration,
    hang_limit: Duration,
    check: impl Fn(&[u8]) -> Result<(), String> + Send + Sync + 'static,
) -> Report {
    assert!(!seeds.is_empty(), "fuzz target {name}: no seeds");
    let check: Arc<Check> = Arc::new(check);
    let replayed = files_in(regressions);
    for (path, bytes) in &replayed {
        if let Err(problem) = run_case(check.as_ref(), bytes) {
            panic!(
                "fuzz target {name}: regression {} fails again: {problem}",
                path.display()
            );
        }
    }
    for (index, seed) in seeds.iter().enumerate() {
        if let Err(problem) = run_case(check.as_ref(), seed) {
            panic!("fuzz target {name}: seed {index} fails: {problem}");
        }
    }

    // The mutants, on a worker thread the watchdog below can give up on.
    let current = Arc::new(Mutex::new(Vec::new()));
    let case_started_ms = Arc::new(AtomicU64::new(0));
    let origin = Instant::now();
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fnv1a(name.as_bytes()));
    let (done, finished) = mpsc::channel();
    let worker = {
        let (current, started) = (Arc::clone(&current), Arc::clone(&case_started_ms));
        let (check, seeds) = (Arc::clone(&check), seeds.to_vec());
        std::thread::Builder::new()
            .name(format!("fuzz-{name}"))
            .spawn(move || {
                let mut rng = Rng::new(seed);
                // Earlier mutants, so mutations compound across cases.
                let mut pool: Vec<Vec<u8>> = seeds.clone();
                let mut mutants = 0u64;
                while origin.elapsed() < budget {
                    // Half the time a seed: without coverage feedback, a
                    // pool of mutants drifts into garbage every reader
                    // rejects in its first bytes.
                    let from = if rng.below(2) == 0 { &seeds } else { &pool };
                    let mut bytes = from[rng.below(from.len())].clone();
                    for _ in 0..1 + rng.below(8) {
                        mutate(&mut rng, &mut bytes, &seeds);
                    }
                    // Keep inputs small: big ones only slow the search.
                    bytes.truncate(1 << 16);
                    current.lock().unwrap().clone_from(&bytes);
                    started.store(origin.elapsed().as_millis() as u64 + 1, Ordering::SeqCst);
                    let result = run_case(check.as_ref(), &bytes);
                    started.store(0, Ordering::SeqCst);
                    if let Err(problem) = result {
                        let _ = done.send(Err((bytes, problem)));
                        return;
                    }
                    mutants += 1;
                    if pool.len() < 256 {
                        pool.push(bytes);
                    } else {
                        let at = rng.below(pool.len() - seeds.len()) + seeds.len();
                        pool[at] = bytes;
                    }
                }
                let _ = done.send(Ok(mutants));
            })
            .expect("a thread for the fuzz target")
    };
    loop {
        match finished.recv_timeout(Duration::from_millis(100)) {
            Ok(Ok(mutants)) => {
                worker.join().expect("the worker catches panics");
                // Shown with --nocapture: how much ground the run covered.
                println!(
                    "fuzz target {name}: {} regressions, {} seeds, {mutants} mutants in {:.1} s",
                    replayed.len(),
                    seeds.len(),
                    origin.elapsed().as_secs_f64()
                );
                return Report {
                    regressions: replayed.len(),
                    seeds: seeds.len(),
                    mutants,
                };
            }
            Ok(Err((bytes, problem))) => fail(name, regressions, &bytes, &problem),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let started = case_started_ms.load(Ordering::SeqCst);
                let now = origin.elapsed().as_millis() as u64 + 1;
                if started != 0 && now - started > hang_limit.as_millis() as u64 {
                    // The worker is left spinning; the test fails now.
                    let bytes = current.lock().unwrap().clone();
                    fail(name, regressions, &bytes, "a hang (no answer in time)");
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("fuzz target {name}: the worker thread died")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_mutants() {
        let seeds = vec![
            b"0,1,2,3\n4,5,6,7\n".to_vec(),
            vec![0, 0, 8, 1, 0, 0, 0, 2, 7, 9],
        ];
        let sequence = |seed| {
            let mut rng = Rng::new(seed);
            let mut bytes = seeds[0].clone();
            (0..200)
                .map(|_| {
                    mutate(&mut rng, &mut bytes, &seeds);
                    bytes.clone()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(sequence(7), sequence(7));
        assert_ne!(sequence(7), sequence(8));
    }

    /// The harness must catch what it exists to catch: a panic, a wrong
    /// answer, a hang, each with the input saved.
    #[test]
    fn a_panicking_reader_fails_the_run_and_its_input_is_saved() {
        let seeds = vec![vec![1u8, 2, 3, 4]];
        let dir = std::env::temp_dir().join("byte-fuzz-self-test-none");
        let outcome = std::panic::catch_unwind(|| {
            run(
                "self-test",
                &seeds,
                &dir,
                Duration::from_secs(5),
                |bytes: &[u8]| {
                    // A reader that trusts a length field.
                    let claimed = bytes.first().copied().unwrap_or(0) as usize;
                    let _ = bytes[..claimed.min(8)].len();
                    if bytes.len() < 4 {
                        return Err("short input accepted".into());
                    }
                    Ok(())
                },
            )
        });
        let message = match outcome {
            Ok(report) => panic!("nothing found in {} mutants", report.mutants),
            Err(panic) => *panic.downcast::<String>().unwrap(),
        };
        assert!(message.contains("fuzz target self-test"), "{message}");
        let saved = message.split("saved as ").nth(1).unwrap();
        let saved = PathBuf::from(saved.split("; copy").next().unwrap());
        assert!(saved.exists(), "{message}");
        std::fs::remove_file(saved).unwrap();
    }

    /// Every file of the regressions folder is replayed before anything else.
    #[test]
    fn a_kept_regression_that_fails_again_fails_the_run() {
        let dir =
            std::env::temp_dir().join(format!("byte-fuzz-regressions-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("README.md"), "skipped").unwrap();
        std::fs::write(dir.join("crash-1"), [0xDE, 0xAD]).unwrap();
        let seeds = vec![vec![1u8, 2, 3]];
        let outcome = std::panic::catch_unwind(|| {
            run(
                "replay",
                &seeds,
                &dir,
                Duration::ZERO,
                |bytes: &[u8]| match bytes.starts_with(&[0xDE, 0xAD]) {
                    true => Err("the old crash".into()),
                    false => Ok(()),
                },
            )
        });
        let message = *outcome.unwrap_err().downcast::<String>().unwrap();
        assert!(
            message.contains("regression")
                && message.contains("crash-1")
                && message.contains("the old crash"),
            "{message}"
        );
        // Fixed, it passes; the README is not an input.
        let report = run("replay", &seeds, &dir, Duration::ZERO, |bytes: &[u8]| {
            assert!(!bytes.starts_with(b"skipped"));
            Ok(())
        });
        assert_eq!((report.regressions, report.seeds), (1, 1));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_reader_that_never_returns_is_reported_as_a_hang() {
        let seeds = vec![vec![1u8, 2, 3, 4]];
        let dir = std::env::temp_dir().join("byte-fuzz-self-test-none");
        let outcome = std::panic::catch_unwind(|| {
            let limit = Duration::from_millis(300);
            run_with_hang_limit(
                "hang-test",
                &seeds,
                &dir,
                Duration::from_secs(5),
                limit,
                |b: &[u8]| {
                    if b.len() > 6 {
                        // Asleep rather than spinning: the abandoned worker costs no CPU.
                        std::thread::sleep(Duration::from_secs(3600));
                    }
                    Ok(())
                },
            )
        });
        let message = *outcome.unwrap_err().downcast::<String>().unwrap();
        assert!(
            message.contains("fuzz target hang-test: a hang"),
            "{message}"
        );
    }
}
