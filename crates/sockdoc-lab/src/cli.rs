//! Running the real `sockdoc` binary from tests: with a deadline, both pipes drained on threads (a chatty
//! child never blocks), and the JSON envelope (schema 1, command) checked when parsed.

use std::io::{self, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A run that takes longer than this is killed.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    /// The arguments as shown in failure messages.
    pub args: Vec<String>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Exit code (`None` when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics (failing the test) unless the run exited 0.
    pub fn expect_ok(self) -> Run {
        assert!(
            self.status.success(),
            "`sockdoc {}` failed ({}):\nstderr: {}\nstdout: {}",
            self.args.join(" "),
            self.status,
            self.stderr,
            self.stdout
        );
        self
    }

    /// stdout as JSON with schema 1 and the given `command`; panics (failing the test) otherwise.
    pub fn json(&self, command: &str) -> Value {
        let v: Value = serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "`sockdoc {}` did not print JSON ({e}, exit {:?}):\n{}\nstderr: {}",
                self.args.join(" "),
                self.code(),
                self.stdout,
                self.stderr
            )
        });
        assert_eq!(v["schema"], 1, "schema: {v}");
        assert_eq!(v["command"], command, "command: {v}");
        v
    }

    /// Non-empty stderr lines.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

/// Run a prepared command to completion, or kill it after `deadline` (an error naming `shown_args`).
pub fn run_command(
    mut cmd: Command,
    shown_args: Vec<String>,
    deadline: Duration,
) -> io::Result<Run> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut out_pipe = child
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no stdout pipe"))?;
    let mut err_pipe = child
        .stderr
        .take()
        .ok_or_else(|| io::Error::other("no stderr pipe"))?;
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "`sockdoc {}` ran longer than {deadline:?}",
                    shown_args.join(" ")
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(Run {
        args: shown_args,
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

/// `binary ARGS...` with the default deadline.
pub fn run(binary: &str, args: &[&str]) -> io::Result<Run> {
    let mut cmd = Command::new(binary);
    cmd.args(args);
    run_command(cmd, args.iter().map(|s| s.to_string()).collect(), DEADLINE)
}
