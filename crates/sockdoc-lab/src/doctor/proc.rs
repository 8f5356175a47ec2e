//! [`Proc`]: a process started inside a lab namespace, with its output in a log file, killed (by
//! PID) and reaped on drop.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::time::Duration;

use crate::netns::Netns;
use crate::sys;
use crate::wait;

/// A child process running inside a namespace (`ip netns exec NS PROGRAM ...`, which execs in
/// place, so [`Proc::pid`] is the program's own PID). stdin is a pipe kept open for the process's
/// life; stdout and stderr go to `<workdir>/<label>.log`.
#[derive(Debug)]
pub struct Proc {
    label: String,
    pid: u32,
    child: Option<Child>,
    _stdin: Option<ChildStdin>,
    log: PathBuf,
}

impl Proc {
    /// Starts `program args...` in `ns`; output goes to `log_dir/<label>.log`.
    pub fn spawn<S: AsRef<OsStr>>(
        ns: &Netns,
        log_dir: &std::path::Path,
        label: &str,
        program: &str,
        args: &[S],
    ) -> io::Result<Proc> {
        let log = log_dir.join(format!("{label}.log"));
        let out = File::create(&log)?;
        let err = out.try_clone()?;
        let mut cmd = ns.command(program);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let mut child = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("start {label} ({program}): {e}")))?;
        let stdin = child.stdin.take();
        Ok(Proc {
            label: label.to_string(),
            pid: child.id(),
            child: Some(child),
            _stdin: stdin,
            log,
        })
    }

    /// The process's PID (also what sockdoc and `ss -p` report as the owner).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The label it was started under (also the log file's name).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Everything it printed so far (stdout and stderr).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Waits until its output has a line starting with `prefix` and returns that line. Fails at
    /// once when the process exits first, with its log.
    pub fn wait_line(&mut self, prefix: &str, timeout: Duration) -> io::Result<String> {
        let what = format!("{} to print {prefix:?}", self.label);
        wait::poll(timeout, &what, || {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| l.starts_with(prefix)) {
                return Ok(Ok(line.to_string()));
            }
            if !self.running() {
                return Err(io::Error::other(format!(
                    "{} exited before printing {prefix:?}; log:\n{log}",
                    self.label
                )));
            }
            Ok(Err(format!("log so far: {log:?}")))
        })
    }

    /// Waits for the process to exit; on timeout it is killed and an error returned. A non-zero
    /// exit is an error carrying the log.
    pub fn wait_exit(&mut self, timeout: Duration) -> io::Result<ExitStatus> {
        let what = format!("{} to exit", self.label);
        let status = wait::poll(timeout, &what, || {
            let child = self
                .child
                .as_mut()
                .ok_or_else(|| io::Error::other("process already reaped"))?;
            Ok(match child.try_wait()? {
                Some(status) => Ok(status),
                None => Err(format!("log so far: {:?}", self.log())),
            })
        });
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                self.kill();
                return Err(e);
            }
        };
        self.child = None;
        if status.success() {
            Ok(status)
        } else {
            Err(io::Error::other(format!(
                "{} failed ({status}); log:\n{}",
                self.label,
                self.log()
            )))
        }
    }

    /// SIGKILL and reap (idempotent).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = sys::kill(self.pid, libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}
