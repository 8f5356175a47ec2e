//! [`Reaper`]: `sockdoc reap` running in the background for a test — its configuration in a temp
//! directory, its action log (stdout) and messages (stderr) in files there, killed by PID on drop
//! (also while a failing test unwinds).
//!
//! The test drives it like an operator would: rewrite the configuration and send SIGHUP, scrape
//! `/metrics`, read the JSON lines, send SIGTERM and check the exit status.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::doctor::Workdir;
use crate::netns::Netns;
use crate::sys;
use crate::wait::poll;

/// How long the daemon may take to write its start line.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running `sockdoc --netns NS reap --config DIR/reap.toml`; see the module comment.
#[derive(Debug)]
pub struct Reaper {
    child: Option<Child>,
    pub pid: u32,
    pub config: PathBuf,
    log: PathBuf,
    err: PathBuf,
    /// `/metrics` address from the start line, when metrics are on.
    pub metrics: Option<String>,
    _dir: Workdir,
}

impl Reaper {
    /// Writes `config` and starts `binary --netns NS reap --config FILE EXTRA...` with `env` added
    /// (`SSH_CONNECTION` removed unless `env` sets it); returns once the start line is logged.
    pub fn start(
        binary: &str,
        ns: &Netns,
        config: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> io::Result<Reaper> {
        Reaper::start_with(binary, ns, config, extra, env, Stderr::File)
    }

    /// [`Reaper::start`] with stderr going where `stderr` says.
    pub fn start_with(
        binary: &str,
        ns: &Netns,
        config: &str,
        extra: &[&str],
        env: &[(&str, &str)],
        stderr: Stderr,
    ) -> io::Result<Reaper> {
        let dir = Workdir::new("reap")?;
        let path = dir.write("reap.toml", config)?;
        let log = dir.join("actions.jsonl");
        let err = dir.join("stderr.log");
        let mut cmd = Command::new(binary);
        cmd.args(["--netns", ns.name(), "reap", "--config"])
            .arg(&path)
            .args(extra)
            .env_remove("SSH_CONNECTION")
            .stdin(Stdio::null())
            .stdout(Stdio::from(File::create(&log)?))
            .stderr(match stderr {
                Stderr::File => Stdio::from(File::create(&err)?),
                Stderr::ClosedPipe => crate::serve::closed_pipe()?,
            });
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn()?;
        let mut r = Reaper {
            pid: child.id(),
            child: Some(child),
            config: path,
            log,
            err,
            metrics: None,
            _dir: dir,
        };
        let start = r.wait_line("the start line", START_TIMEOUT, |v| v["action"] == "start")?;
        r.metrics = start["metrics"].as_str().map(str::to_string);
        Ok(r)
    }

    /// Every action line so far, parsed (a line cut short by a concurrent write is skipped).
    pub fn lines(&self) -> Vec<Value> {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// What it printed on stderr.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Waits for an action line matching `pred`; fails early (with the logs) if the daemon exits.
    pub fn wait_line(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> io::Result<Value> {
        self.wait_for_line(what, timeout, pred, true)
    }

    /// Waits for an action line matching `pred`, also after the daemon exited (its last lines).
    pub fn wait_line_even_if_exited(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> io::Result<Value> {
        self.wait_for_line(what, timeout, pred, false)
    }

    /// Polls the action log for a line matching `pred`; with `fail_on_exit`, a daemon that has
    /// exited without writing it fails the wait at once.
    fn wait_for_line(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
        fail_on_exit: bool,
    ) -> io::Result<Value> {
        poll(timeout, what, || {
            if let Some(v) = self.lines().into_iter().find(|v| pred(v)) {
                return Ok(Ok(v));
            }
            if fail_on_exit && !self.running() {
                return Err(io::Error::other(format!(
                    "sockdoc reap exited while waiting for {what}; stderr:\n{}\nlog:\n{}",
                    self.stderr(),
                    fs::read_to_string(&self.log).unwrap_or_default()
                )));
            }
            Ok(Err(format!("{} lines so far", self.lines().len())))
        })
    }

    /// Waits until the daemon has finished `n` more scans than now (per `/metrics`).
    pub fn wait_scans(&mut self, n: u64, timeout: Duration) -> io::Result<()> {
        let now = self.metric("sockdoc_reap_scans_total")?.unwrap_or(0.0) as u64;
        poll(timeout, &format!("{n} more scans"), || {
            if !self.running() {
                return Err(io::Error::other(format!(
                    "sockdoc reap exited; stderr:\n{}",
                    self.stderr()
                )));
            }
            let v = self.metric("sockdoc_reap_scans_total")?.unwrap_or(0.0) as u64;
            Ok(if v >= now + n {
                Ok(())
            } else {
                Err(format!("{v} scans"))
            })
        })
    }

    /// Replaces the configuration file.
    pub fn rewrite(&self, config: &str) -> io::Result<()> {
        let tmp = self.config.with_extension("toml.new");
        fs::write(&tmp, config)?;
        fs::rename(&tmp, &self.config)
    }

    /// Sends `signal` to the daemon.
    pub fn signal(&self, signal: i32) -> io::Result<()> {
        sys::kill(self.pid, signal)
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGTERM, then waits for the exit (SIGKILL after `timeout`).
    pub fn stop(&mut self, timeout: Duration) -> io::Result<ExitStatus> {
        self.signal(libc::SIGTERM)?;
        let mut child = self
            .child
            .take()
            .ok_or_else(|| io::Error::other("already stopped"))?;
        let status = poll(timeout, "sockdoc reap to exit", || {
            Ok(match child.try_wait()? {
                Some(s) => Ok(s),
                None => Err("still running".to_string()),
            })
        });
        if status.is_err() {
            let _ = child.kill();
            let _ = child.wait();
        }
        status
    }

    /// GET `path` from the metrics listener: the whole HTTP response.
    pub fn get(&self, path: &str) -> io::Result<String> {
        let addr = self
            .metrics
            .as_deref()
            .ok_or_else(|| io::Error::other("metrics are off"))?;
        crate::serve::get(addr, path, Duration::from_secs(10))
    }

    /// The value of the first `/metrics` series starting with `series` (name and labels).
    pub fn metric(&self, series: &str) -> io::Result<Option<f64>> {
        Ok(metric_value(&self.get("/metrics")?, series))
    }

    /// The configuration file's path.
    pub fn config_path(&self) -> &Path {
        &self.config
    }
}

/// Where the daemon's stderr goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stderr {
    /// A file in its temp directory ([`Reaper::stderr`]).
    File,
    /// A pipe whose read end is already closed: every write fails with EPIPE.
    ClosedPipe,
}

/// The value of the first line of an OpenMetrics text starting with `series`.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if matches!(c.try_wait(), Ok(None)) {
                let _ = sys::kill(self.pid, libc::SIGKILL);
            }
            let _ = c.wait();
        }
    }
}
