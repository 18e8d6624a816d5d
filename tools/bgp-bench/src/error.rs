//! The benchmark's error type: every variant says what failed and what happens next.

/// Why a benchmark step failed. A failed daemon run is reported and the next daemon
/// still runs; a missing binary or a bad argument stops before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A daemon's binary is not installed.
    #[error("{daemon} binary {binary} not found: {hint}; nothing was run")]
    MissingBinary {
        /// Daemon name as given to `--daemons`.
        daemon: String,
        /// Path or name looked for.
        binary: String,
        /// How to get it.
        hint: String,
    },
    /// A command-line argument is unusable.
    #[error("invalid arguments: {0}")]
    Usage(String),
    /// A helper command (`ip`, `birdc`, `vtysh`, ...) could not be started or failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status and output, or the spawn error.
        detail: String,
    },
    /// Reading or writing a local file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A step did not finish in time; the daemon's run is abandoned and cleaned up.
    #[error("timed out after {secs:.1} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long it waited.
        secs: f64,
    },
    /// A daemon's status output could not be understood.
    #[error("cannot read {daemon} status: {detail}")]
    Status {
        /// Daemon name.
        daemon: String,
        /// What was wrong.
        detail: String,
    },
    /// An in-namespace peer (feeder, sink, leaves, fib) reported a failure or died.
    #[error("{agent} failed: {detail}")]
    Agent {
        /// Which agent.
        agent: String,
        /// Its last words.
        detail: String,
    },
    /// The daemon process exited during the run.
    #[error("{daemon} exited during the run (see its log {log})")]
    DaemonDied {
        /// Daemon name.
        daemon: String,
        /// Its log file.
        log: String,
    },
}

impl BenchError {
    /// An [`BenchError::Io`] for `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
        let what = what.into();
        move |source| BenchError::Io { what, source }
    }
}
