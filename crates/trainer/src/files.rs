//! Writing files so that a crash or Ctrl-C never leaves half of one, and
//! choosing the run folder.

use crate::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Writes `bytes` to `path` atomically: a temporary file in the same folder
/// (a rename is only atomic within one file system), flushed to disk, then
/// renamed over `path`. Readers see the old file or the new one, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::io(path, std::io::ErrorKind::InvalidInput.into()))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".tmp-{}", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    result.map_err(|source| {
        let _ = std::fs::remove_file(&temp);
        Error::io(path, source)
    })
}

/// The largest model or checkpoint file this trainer can have written: the
/// most parameters it accepts (`config::MAX_PARAMETERS`), as f32, three
/// times over (weights and Adam's two moments), plus room for the header.
pub const MAX_MODEL_BYTES: u64 = 3 * 4 * crate::config::MAX_PARAMETERS as u64 + (64 << 20);

/// The largest picture file `predict` reads: a 50-megapixel phone photo as
/// JPEG is about 25 MB, as PNG about 40.
pub const MAX_PICTURE_BYTES: u64 = 50 << 20;

/// Reads a whole file given by a person, at most `max_bytes` of it; `what`
/// names its kind in the error ("a model", "a picture"). Refuses what is
/// not a regular file before opening it: opening a FIFO blocks until a
/// writer comes, and `/dev/zero` or `/dev/urandom` never end.
pub fn read_bounded(path: &Path, max_bytes: u64, what: &str) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let error = |source| Error::io(path, source);
    let refuse = |problem: String| error(std::io::Error::other(problem));
    let not_a_file = || {
        refuse(format!(
            "not a regular file (a directory, device, FIFO or socket); {what} file is needed"
        ))
    };
    if !std::fs::metadata(path).map_err(error)?.is_file() {
        return Err(not_a_file());
    }
    let file = std::fs::File::open(path).map_err(error)?;
    // Asked again of the opened file, in case the path changed meanwhile.
    let metadata = file.metadata().map_err(error)?;
    if !metadata.is_file() {
        return Err(not_a_file());
    }
    let too_large = |size: u64| {
        refuse(format!(
            "{size} bytes, more than the {max_bytes} that {what} file can take"
        ))
    };
    if metadata.len() > max_bytes {
        return Err(too_large(metadata.len()));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    // One byte past the bound tells a file that grew since from one that fits.
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(error)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Serialises `value` as pretty JSON and writes it atomically.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), Error> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::io(path, std::io::Error::other(e)))?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Creates `dir` (and parents) if needed.
pub fn create_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::io(dir, source))
}

/// The lock file of a run folder: it holds the PID of the process writing
/// into the folder, and exists only while that process runs there.
pub const LOCK_NAME: &str = ".trainer.lock";

/// A run folder this process holds: its lock file is removed when this is
/// dropped, at the end of the run or when it fails. (A process that dies
/// leaves the lock behind; the next run takes it over, see below.)
#[derive(Debug)]
pub struct RunFolderLock {
    lock: PathBuf,
}

impl Drop for RunFolderLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}

/// Creates `dir` if needed and locks it for this run, removing the
/// temporary files interrupted saves left there. Refuses a folder that
/// another live process is writing into, and one that already holds files
/// of a run (which this run would silently replace, or mix with) unless it
/// is the folder of `resumed_checkpoint` or `overwrite` is set. A lock left
/// by a process that no longer exists is taken over with a warning.
pub fn lock_run_dir(
    dir: &Path,
    resumed_checkpoint: Option<&Path>,
    overwrite: bool,
) -> Result<RunFolderLock, Error> {
    create_dir(dir)?;
    let lock = take_lock(dir)?;
    let resuming_here = resumed_checkpoint.is_some_and(|checkpoint| {
        let folder = checkpoint
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        same_folder(folder, dir)
    });
    if !overwrite && !resuming_here {
        let mut held: Vec<String> = std::fs::read_dir(dir)
            .map_err(|source| Error::io(dir, source))?
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name != LOCK_NAME && !is_temporary_name(name))
            .collect();
        if !held.is_empty() {
            held.sort();
            return Err(Error::Usage(format!(
                "{}: the folder already holds files ({}); give --out a new folder, \
                 continue that run with --resume, or pass --overwrite to replace its files",
                dir.display(),
                held.join(", ")
            )));
        }
    }
    remove_temporaries(dir)?;
    Ok(lock)
}

/// Removes the temporary files of saves that never finished (a process
/// killed mid-write): with the folder's lock held, no live writer owns
/// them, and nothing else would ever remove them.
fn remove_temporaries(dir: &Path) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::io(dir, source))?;
    for entry in entries.filter_map(|entry| entry.ok()) {
        if is_temporary_name(&entry.file_name().to_string_lossy()) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|source| Error::io(&path, source))?;
        }
    }
    Ok(())
}

/// Whether two paths name one folder (both exist when this is asked).
fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Creates the lock file with our PID (create_new: of two runs starting
/// at once, one gets it). An existing lock whose process is gone (no
/// /proc/PID) is removed with a warning and taken.
fn take_lock(dir: &Path) -> Result<RunFolderLock, Error> {
    use std::io::ErrorKind;
    let path = dir.join(LOCK_NAME);
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                let lock = RunFolderLock { lock: path.clone() };
                writeln!(file, "{}", std::process::id()).map_err(|e| Error::io(&path, e))?;
                return Ok(lock);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let text = read_lock(&path);
                let owner = text.trim().parse::<u32>().ok();
                if let Some(pid) = owner.filter(|&pid| process_exists(pid)) {
                    return Err(Error::io(
                        &path,
                        std::io::Error::other(format!(
                            "another run (process {pid}) is writing into this folder; \
                             wait for it to end or give --out another folder"
                        )),
                    ));
                }
                let owner =
                    owner.map_or("an unreadable".to_string(), |pid| format!("process {pid}"));
                let _ = writeln!(
                    std::io::stderr(),
                    "warning: {}: taking over the lock left by {owner}, which no longer runs",
                    path.display()
                );
                // Removed only if unchanged, so a lock another starting
                // run has just taken over is not removed under it.
                if read_lock(&path) == text {
                    let _ = std::fs::remove_file(&path);
                }
            }
            Err(source) => return Err(Error::io(&path, source)),
        }
    }
    Err(Error::io(
        &path,
        std::io::Error::other("another run took this folder's lock at the same time"),
    ))
}

/// A lock file's text; empty if it cannot be read, and bounded (a lock
/// replaced by a FIFO or a link to /dev/zero must not hang or fill memory).
fn read_lock(path: &Path) -> String {
    read_bounded(path, 64, "a lock")
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// Whether a process with this PID runs (Linux: /proc/PID exists). Our own
/// PID in a lock can only be a dead process's that the PID was reused for.
fn process_exists(pid: u32) -> bool {
    pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists()
}

/// The names `write_atomic` and nn's writer give their temporary files:
/// `.NAME.tmp-PID` or `.NAME.tmp-PID-N`.
fn is_temporary_name(name: &str) -> bool {
    let Some((stem, suffix)) = name.rsplit_once(".tmp-") else {
        return false;
    };
    name.starts_with('.')
        && stem.len() > 1
        && !suffix.is_empty()
        && suffix
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

/// A new folder under `runs/` named by the UTC start time, e.g.
/// `runs/2026-11-22T12-00-00` (dashes, since ':' is not allowed on every
/// file system), with `-2`, `-3` ... appended when that name is taken.
pub fn new_run_dir(runs: &Path) -> Result<PathBuf, Error> {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let stamp = utc_timestamp(seconds);
    create_dir(runs)?;
    for n in 1.. {
        let name = if n == 1 {
            stamp.clone()
        } else {
            format!("{stamp}-{n}")
        };
        let dir = runs.join(name);
        // create_dir (not _all) fails if it exists: two runs never share one.
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(Error::io(dir, source)),
        }
    }
    unreachable!("some run folder name is free")
}

/// `YYYY-MM-DDTHH-MM-SS` for seconds since 1970 (UTC), using the days to
/// civil date conversion of Howard Hinnant's "chrono-compatible low-level
/// date algorithms".
pub fn utc_timestamp(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}-{:02}-{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The CPU's model name as `/proc/cpuinfo` gives it, or "unknown CPU".
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh empty folder under the system temp dir for one test.
    pub(crate) fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("trainer-unit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn timestamps_match_known_dates() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00-00-00");
        // 2000-02-29 (a leap day in a century leap year) 12:34:56.
        assert_eq!(utc_timestamp(951_827_696), "2000-02-29T12-34-56");
        // 2026-11-22 12:00:00.
        assert_eq!(utc_timestamp(1_795_348_800), "2026-11-22T12-00-00");
    }

    #[test]
    fn atomic_writes_replace_whole_files_and_leave_no_temporaries() {
        let dir = temp_dir("atomic");
        let path = dir.join("model.bin");
        write_atomic(&path, b"first version, longer").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("model.bin")]);
        // A folder that does not exist is an error naming the file.
        let error = write_atomic(&dir.join("missing/x.json"), b"{}").unwrap_err();
        assert!(error.to_string().contains("missing/x.json"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn temporary_names_are_those_of_the_atomic_writers() {
        for name in [
            ".checkpoint.tmp-123",
            ".metrics.jsonl.tmp-9",
            ".checkpoint.tmp-77-3",
        ] {
            assert!(is_temporary_name(name), "{name}");
        }
        for name in [
            "checkpoint",
            "checkpoint.tmp-12",
            ".tmp-12",
            ".x.tmp-",
            ".x.tmp-12a",
            ".x.tmp-1--2",
            LOCK_NAME,
        ] {
            assert!(!is_temporary_name(name), "{name}");
        }
    }

    #[test]
    fn run_folders_are_new_each_time() {
        let dir = temp_dir("runs");
        let a = new_run_dir(&dir).unwrap();
        let b = new_run_dir(&dir).unwrap();
        assert_ne!(a, b);
        assert!(a.is_dir() && b.is_dir());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
