//! `trainer serve` running in the background for a test.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

pub struct Server {
    pub child: Child,
    /// `127.0.0.1:PORT`, as the server printed it.
    pub address: String,
}

impl Server {
    /// Starts `trainer serve` with `args` on a free loopback port and
    /// waits for the line that says where it listens.
    pub fn start(args: &[&str]) -> Server {
        let mut child = super::trainer()
            .arg("serve")
            .args(args)
            .args(["--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("trainer serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(address) = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .map(str::to_string)
        else {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "trainer serve {args:?} printed {line:?}; stderr: {}",
                super::text(&output.stderr)
            );
        };
        Server { child, address }
    }

    /// Serving the one model at `model`.
    pub fn with_model(model: &Path) -> Server {
        Server::start(&["--model", super::path_arg(model)])
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. "TERM") with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The resident memory of the server, in KiB (VmRSS in /proc).
    pub fn resident_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    /// The number of threads of the server (Threads in /proc).
    pub fn threads(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("Threads:"))
            .and_then(|value| value.trim().parse().ok())
            .expect("Threads in /proc/PID/status")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
