//! A peer script that stays running and answers requests: one JSON line in,
//! one JSON line out. `matmul` (numpy) and `scaling` (PyTorch) keep one per
//! thread count, so that ours and the peer's can take turns at each shape
//! or point: a slow moment of the machine then falls on both sides.

use crate::report;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

pub struct PeerProcess {
    /// The script's file name, for messages.
    script: &'static str,
    child: Child,
    requests: ChildStdin,
    replies: BufReader<ChildStdout>,
    /// The framework's version, from the script's first line.
    pub version: String,
}

impl PeerProcess {
    /// Starts `xtask/peers/SCRIPT --threads THREADS` (see
    /// `report::peer_command`). Its first line must be `{"FRAMEWORK":
    /// VERSION}`, or `{"skipped": "why"}`, which becomes the error.
    pub fn start(
        script: &'static str,
        framework: &str,
        threads: usize,
    ) -> Result<PeerProcess, String> {
        let mut child = report::peer_command(script, threads)
            .args(["--threads", &threads.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not run {}: {e}", report::peer_python().display()))?;
        let requests = child.stdin.take().expect("stdin is piped");
        let replies = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut peer = PeerProcess {
            script,
            child,
            requests,
            replies,
            version: String::new(),
        };
        let hello = peer.reply()?;
        match (hello[framework].as_str(), hello.get("skipped")) {
            (Some(version), _) => {
                peer.version = version.to_string();
                Ok(peer)
            }
            (None, Some(skipped)) => Err(skipped
                .as_str()
                .map_or_else(|| skipped.to_string(), str::to_string)),
            (None, None) => Err(format!("{script} said {hello} at start-up")),
        }
    }

    /// The process id, to count the peer's CPU time as ours (see
    /// `quiet::process_ticks`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `request` and returns the reply.
    pub fn ask(&mut self, request: &Value) -> Result<Value, String> {
        writeln!(self.requests, "{request}")
            .and_then(|()| self.requests.flush())
            .map_err(|e| format!("could not write to {}: {e}", self.script))?;
        self.reply()
    }

    /// The `"seconds_per_call"` list of numbers in the reply to `request`,
    /// or an error quoting both; `expected` is its length when known.
    pub fn seconds_per_call(
        &mut self,
        request: &Value,
        expected: Option<usize>,
    ) -> Result<Vec<f64>, String> {
        let reply = self.ask(request)?;
        reply["seconds_per_call"]
            .as_array()
            .and_then(|seconds| {
                seconds
                    .iter()
                    .map(Value::as_f64)
                    .collect::<Option<Vec<_>>>()
            })
            .filter(|seconds| !seconds.is_empty() && expected.is_none_or(|n| seconds.len() == n))
            .ok_or_else(|| format!("{} replied {reply} to {request}", self.script))
    }

    /// The peer's next line of JSON.
    fn reply(&mut self) -> Result<Value, String> {
        let mut line = String::new();
        let read = self
            .replies
            .read_line(&mut line)
            .map_err(|e| format!("could not read from {}: {e}", self.script))?;
        if read == 0 {
            return Err(format!(
                "{} exited without replying; its error is above",
                self.script
            ));
        }
        serde_json::from_str(&line).map_err(|e| {
            format!(
                "{} printed something other than JSON ({e}): {line}",
                self.script
            )
        })
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        // Killed, not asked to finish: it has nothing to save, and a stuck
        // one must not hang the bench.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
