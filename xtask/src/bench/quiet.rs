//! Is the machine quiet? Timings on a 2-core machine shared with compilers
//! are only worth reporting when nothing else ran beside them, so `train`
//! and `infer` wait (a bounded time) for other processes to go idle before
//! each run, and record how much CPU others took during it.
//!
//! Linux only (`/proc/stat`, `/proc/PID/stat`); elsewhere nothing waits and
//! nothing is recorded.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Others' share of the machine's CPU time above which a run is flagged,
/// in percent (5% of 2 cores: a tenth of a core).
pub const BUSY_PERCENT: f64 = 5.0;

/// How long to wait for quiet before running anyway, unless
/// `BENCH_QUIET_WAIT=SECONDS` says otherwise: when another developer keeps
/// both cores busy for the whole bench, the waits (one before each of a
/// row's runs) only delay it, by 90 s x 24 for the CNN rows alone.
const MAX_WAIT: Duration = Duration::from_secs(90);

/// [`MAX_WAIT`], or `BENCH_QUIET_WAIT` seconds when that is set.
fn max_wait() -> Duration {
    std::env::var("BENCH_QUIET_WAIT")
        .ok()
        .and_then(|seconds| seconds.trim().parse::<f64>().ok())
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
        .map_or(MAX_WAIT, Duration::from_secs_f64)
}

/// The machine's busy and total CPU time (all cores, in clock ticks) from
/// the first line of `/proc/stat`.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_machine_ticks(stat.lines().next()?)
}

/// `cpu user nice system idle iowait irq softirq steal ...`: idle and iowait
/// are idle time, the rest busy.
fn parse_machine_ticks(line: &str) -> Option<(u64, u64)> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let values: Vec<u64> = fields.take(8).filter_map(|f| f.parse().ok()).collect();
    if values.len() < 8 {
        return None;
    }
    let total: u64 = values.iter().sum();
    let idle = values[3] + values[4];
    Some((total - idle, total))
}

/// User plus system CPU time (clock ticks) of process `pid` ("self" for us).
pub fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_process_ticks(&stat)
}

/// Fields 14 and 15 (utime, stime) of `/proc/PID/stat`, counted after the
/// `)` that closes the command name (which may itself hold spaces).
fn parse_process_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3 (state), so utime (14) is index 11.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Measures other processes' CPU use over a stretch of time.
pub struct CpuWatch {
    start: Option<(u64, u64)>,
}

impl CpuWatch {
    pub fn start() -> CpuWatch {
        CpuWatch {
            start: machine_ticks(),
        }
    }

    /// Percent of the machine's CPU time since `start` used by processes
    /// other than ours, given the ticks ours used (`own_ticks`).
    pub fn others_percent(&self, own_ticks: u64) -> Option<f64> {
        let (busy_before, total_before) = self.start?;
        let (busy, total) = machine_ticks()?;
        let total = total.checked_sub(total_before).filter(|&t| t > 0)?;
        let others = (busy - busy_before).saturating_sub(own_ticks);
        Some(100.0 * others as f64 / total as f64)
    }
}

/// Waits until other processes use less than [`BUSY_PERCENT`] of the
/// machine over a half-second window, at most [`max_wait`]; says on stderr
/// that it is waiting. Returns false if it gave up (the run goes ahead).
pub fn wait_for_quiet(what: &str) -> bool {
    let started = Instant::now();
    let mut said = false;
    loop {
        let own_before = process_ticks("self").unwrap_or(0);
        let watch = CpuWatch::start();
        std::thread::sleep(Duration::from_millis(500));
        let own = process_ticks("self").unwrap_or(0) - own_before;
        match watch.others_percent(own) {
            None => return true,
            Some(percent) if percent < BUSY_PERCENT => return true,
            Some(percent) if started.elapsed() > max_wait() => {
                eprintln!(
                    "xtask bench: still busy ({percent:.0}% of the CPU used by others); running {what} anyway"
                );
                return false;
            }
            Some(percent) => {
                if !said {
                    eprintln!(
                        "xtask bench: waiting for the machine to be quiet before {what} \
                         ({percent:.0}% of the CPU used by others)"
                    );
                    said = true;
                }
            }
        }
    }
}

/// What [`run_watched`] saw of a child process.
pub struct Watched {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// Peak resident set (`VmHWM`), KiB, as last polled.
    pub peak_kib: Option<u64>,
    /// Percent of the machine's CPU time other processes used meanwhile.
    pub others_percent: Option<f64>,
}

/// How often [`run_watched`] reads the child's `/proc` files. Both figures
/// it reads only grow (the peak resident set and CPU time), so a longer
/// interval loses at most its last stretch; at 10 ms the polling took ~1.5%
/// of a core, the core a one-thread run shares with it (see
/// `report::on_one_core`).
const POLL: Duration = Duration::from_millis(50);

/// The machine's load average over the last minute (`/proc/loadavg`): on
/// this 2-core machine shared with compilers, read after each run so that
/// every figure carries how busy the machine was while it was taken.
pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Runs `command` to completion with stdout and stderr captured, polling
/// the child every [`POLL`] for its peak resident set and its CPU time.
pub fn run_watched(command: &mut Command) -> Result<Watched, String> {
    let watch = CpuWatch::start();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start: {e}"))?;
    let pid = child.id().to_string();
    // Drain both pipes on their own threads, so a full pipe never stalls the child.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let (mut peak_kib, mut child_ticks) = (None::<u64>, 0);
    let status = loop {
        if let Some(kib) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|text| status_kib(&text, "VmHWM"))
        {
            peak_kib = Some(peak_kib.map_or(kib, |peak| peak.max(kib)));
        }
        child_ticks = process_ticks(&pid).unwrap_or(child_ticks).max(child_ticks);
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => return Err(format!("waiting for it: {e}")),
        }
    };
    // The child's last poll interval is not in `child_ticks`: up to five
    // ticks (at 100 a second) may show up as others' use.
    Ok(Watched {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        peak_kib,
        others_percent: watch.others_percent(child_ticks),
    })
}

/// A `kB` field (`VmHWM`, `VmRSS`) of a `/proc/PID/status` text.
fn status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status
        .lines()
        .find(|line| line.split(':').next() == Some(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_in_kib() {
        let status = "Name:\ttrainer\nVmHWM:\t  123456 kB\nVmRSS:\t   1000 kB\n";
        assert_eq!(status_kib(status, "VmHWM"), Some(123_456));
        assert_eq!(status_kib(status, "VmRSS"), Some(1000));
        assert_eq!(status_kib(status, "VmPeak"), None);
    }

    #[test]
    fn machine_ticks_count_idle_and_iowait_as_idle() {
        // user nice system idle iowait irq softirq steal
        let line = "cpu  100 5 20 1000 7 3 2 1 0 0";
        assert_eq!(parse_machine_ticks(line), Some((131, 1138)));
        assert_eq!(parse_machine_ticks("cpu0 1 2 3 4 5 6 7 8"), None);
        assert_eq!(parse_machine_ticks("cpu 1 2"), None);
    }

    #[test]
    fn process_ticks_survive_spaces_in_the_name() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194304 500 0 0 0 \
                    250 30 0 0 20 0 3 0 12345 1000000 2000";
        assert_eq!(parse_process_ticks(stat), Some(280));
        assert_eq!(parse_process_ticks("garbage"), None);
    }
}
