//! Processes close to their open-file limit: Python helpers that lower their own `RLIMIT_NOFILE`
//! soft limit and then open descriptors (one listening socket, the rest `/dev/null`) up to a
//! target count.
//!
//! Per-process descriptor pressure is a property of the host, not of a network namespace: a doctor
//! run on any namespace may report these processes. So the scenario holds the lab lock
//! exclusively ([`ExclusiveNetnsLock`]): while it exists no other lab namespace does, and no other
//! lab test can see its processes.

use std::fs;
use std::io;

use super::proc::Proc;
use super::services::helper_ready;
use super::workdir::Workdir;
use crate::lock::ExclusiveNetnsLock;
use crate::netns::Netns;

/// One process of an [`FdLimit`] scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdHog {
    /// Its name (`/proc/PID/comm`).
    pub process: String,
    pub pid: u32,
    /// Descriptors open (entries of `/proc/PID/fd`) once it settled.
    pub open: usize,
    /// Its RLIMIT_NOFILE soft limit.
    pub soft: u64,
}

/// A namespace with one process per `(name, soft limit, open descriptors)` given to
/// [`FdLimit::build`], each holding a listening socket in the namespace. Building it waits until no
/// other lab namespace exists (see the module documentation).
#[derive(Debug)]
pub struct FdLimit {
    procs: Vec<Proc>,
    pub ns: Netns,
    pub hogs: Vec<FdHog>,
    _dir: Workdir,
    // Released last, after the namespace is gone.
    _lock: ExclusiveNetnsLock,
}

impl FdLimit {
    pub fn build(specs: &[(&str, u64, usize)]) -> io::Result<FdLimit> {
        let lock = ExclusiveNetnsLock::acquire()?;
        let dir = Workdir::new("fd-limit")?;
        let ns = lock.netns()?;
        let mut procs = Vec::new();
        let mut hogs = Vec::new();
        for &(name, soft, target) in specs {
            let (p, line) = helper_ready(
                &ns,
                &dir,
                name,
                &["fdhog", &soft.to_string(), &target.to_string()],
            )?;
            let pid = p.pid();
            procs.push(p);
            let open = fs::read_dir(format!("/proc/{pid}/fd"))?.count();
            let reported: usize = line
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if open != target || reported != target {
                return Err(io::Error::other(format!(
                    "{name}: {open} descriptors open ({reported} reported), wanted {target}"
                )));
            }
            let limits = fs::read_to_string(format!("/proc/{pid}/limits"))?;
            let soft_now = limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|n| n.parse().ok());
            if soft_now != Some(soft) {
                return Err(io::Error::other(format!(
                    "{name}: soft limit {soft_now:?}, wanted {soft}"
                )));
            }
            hogs.push(FdHog {
                process: name.to_string(),
                pid,
                open,
                soft,
            });
        }
        Ok(FdLimit {
            procs,
            ns,
            hogs,
            _dir: dir,
            _lock: lock,
        })
    }

    /// The hog called `name`.
    pub fn hog(&self, name: &str) -> &FdHog {
        self.hogs
            .iter()
            .find(|h| h.process == name)
            .unwrap_or_else(|| panic!("no hog {name}"))
    }

    /// PIDs of the scenario's processes.
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(Proc::pid).collect()
    }
}
