//! The parent's side of an agent: starts `bgp-bench agent ...` in a namespace, sends
//! it commands and receives its event lines, each stamped on arrival.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::BenchError;
use crate::lab::{Netns, Proc};

/// One event line: its arrival time, tag (first word) and `key=value` fields.
#[derive(Debug, Clone)]
pub struct Event {
    /// When the parent read it.
    pub at: Instant,
    /// First word (`ready`, `done`, ...).
    pub tag: String,
    /// `key=value` fields.
    pub fields: HashMap<String, String>,
    /// The whole line.
    pub line: String,
}

impl Event {
    fn parse(at: Instant, line: String) -> Event {
        let mut words = line.split_whitespace();
        let tag = words.next().unwrap_or("").to_string();
        let fields = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Event {
            at,
            tag,
            fields,
            line,
        }
    }

    /// A numeric field, 0 when absent.
    pub fn num(&self, key: &str) -> f64 {
        self.fields
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}

/// A running agent.
#[derive(Debug)]
pub struct AgentProc {
    name: String,
    stdin: Option<ChildStdin>,
    events: mpsc::Receiver<Event>,
    log: PathBuf,
    proc: Proc,
}

impl AgentProc {
    /// Starts `bgp-bench agent <args>` in `ns`; stderr goes to `<dir>/<name>.log`.
    pub fn start(
        ns: &Netns,
        name: &str,
        args: &[String],
        dir: &Path,
    ) -> Result<AgentProc, BenchError> {
        let exe =
            std::env::current_exe().map_err(BenchError::io("find the benchmark's own binary"))?;
        let log = dir.join(format!("{name}.log"));
        let err = std::fs::File::create(&log).map_err(BenchError::io("create agent log"))?;
        let mut cmd = ns.command(exe);
        cmd.arg("agent")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(err);
        let mut proc = Proc::spawn(cmd, name)?;
        let stdin = proc.child_mut().stdin.take();
        let stdout = proc.child_mut().stdout.take();
        let (tx, events) = mpsc::channel();
        if let Some(out) = stdout {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { return };
                    if tx.send(Event::parse(Instant::now(), line)).is_err() {
                        return;
                    }
                }
            });
        }
        Ok(AgentProc {
            name: name.to_string(),
            stdin,
            events,
            log,
            proc,
        })
    }

    /// Sends one command line (`go`, `report`).
    pub fn send(&mut self, cmd: &str) -> Result<(), BenchError> {
        let failed = |e: std::io::Error| BenchError::Agent {
            agent: self.name.clone(),
            detail: e.to_string(),
        };
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| failed(std::io::ErrorKind::BrokenPipe.into()))?;
        writeln!(stdin, "{cmd}")
            .and_then(|_| stdin.flush())
            .map_err(failed)
    }

    fn died(&self, detail: &str) -> BenchError {
        let tail = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(5).collect();
        BenchError::Agent {
            agent: self.name.clone(),
            detail: format!(
                "{detail}{}{}",
                if tail.is_empty() { "" } else { "; stderr: " },
                tail.join(" | ")
            ),
        }
    }

    /// The next event within `timeout`: `Ok(None)` on timeout, an error when the agent
    /// reported `error ...` or died.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Event>, BenchError> {
        match self.events.recv_timeout(timeout) {
            Ok(ev) if ev.tag == "error" => Err(self.died(ev.line.trim_start_matches("error "))),
            Ok(ev) => Ok(Some(ev)),
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(self.died("exited")),
        }
    }

    /// Waits for an event tagged `tag`, skipping others.
    pub fn expect(&mut self, tag: &str, timeout: Duration) -> Result<Event, BenchError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left)? {
                Some(ev) if ev.tag == tag => return Ok(ev),
                Some(_) => {}
                None => {
                    return Err(BenchError::Timeout {
                        what: format!("`{tag}` from {}", self.name),
                        secs: timeout.as_secs_f64(),
                    });
                }
            }
        }
    }

    /// Closes stdin (the agent exits) and waits briefly before killing it.
    pub fn stop(&mut self) {
        self.stdin = None;
        self.proc.stop(Duration::from_secs(2));
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        self.stop();
    }
}
