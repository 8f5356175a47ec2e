//! [`Cgroup`]: a throw-away cgroup v2 slice `sdtest-<pid>-<n>.slice` under the host's cgroup2
//! mount, with child cgroups (`web.service`, `api.service`) and processes started inside them
//! before they make a socket. Dropping it kills every process left in the slice (by PID, from
//! `cgroup.procs`) and removes its cgroups, deepest first, also while a failing test unwinds.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::netns::{spawn_kept, Netns};
use crate::sys;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The cgroup2 mount point of this process's mount namespace.
pub fn root() -> io::Result<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    text.lines()
        .find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            right
                .starts_with("cgroup2 ")
                .then(|| left.split(' ').nth(4).map(PathBuf::from))?
        })
        .ok_or_else(|| io::Error::other("no cgroup2 mount in /proc/self/mountinfo"))
}

/// A lab slice and what the test started in it; removed on drop.
#[derive(Debug)]
pub struct Cgroup {
    dir: PathBuf,
    rel: String,
    children: Mutex<Vec<Child>>,
}

/// A cgroup inside a lab slice (removed with it).
#[derive(Clone, Debug)]
pub struct Sub {
    dir: PathBuf,
    rel: String,
}

impl Cgroup {
    /// Creates `sdtest-<pid>-<n>.slice` at the cgroup2 root. Needs root.
    pub fn slice() -> io::Result<Cgroup> {
        let name = format!(
            "sdtest-{}-{}.slice",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = root()?.join(&name);
        std::fs::create_dir(&dir)
            .map_err(|e| io::Error::new(e.kind(), format!("mkdir {}: {e}", dir.display())))?;
        Ok(Cgroup {
            dir,
            rel: format!("/{name}"),
            children: Mutex::new(Vec::new()),
        })
    }

    /// Creates the cgroup `name` in the slice.
    pub fn child(&self, name: &str) -> io::Result<Sub> {
        let dir = self.dir.join(name);
        std::fs::create_dir(&dir)
            .map_err(|e| io::Error::new(e.kind(), format!("mkdir {}: {e}", dir.display())))?;
        Ok(Sub {
            dir,
            rel: format!("{}/{name}", self.rel),
        })
    }

    /// The slice's path from the cgroup2 root (`/sdtest-1234-0.slice`).
    pub fn rel(&self) -> String {
        self.rel.clone()
    }

    /// The slice's cgroup id (its directory's inode).
    pub fn id(&self) -> u64 {
        std::fs::metadata(&self.dir).map_or(0, |m| m.ino())
    }

    /// The slice's directory name (`sdtest-1234-0.slice`).
    pub fn name(&self) -> &str {
        self.rel.trim_start_matches('/')
    }

    /// Starts `args` in `sub` (inside `ns` when given): a shell writes its own PID into
    /// `cgroup.procs` and then execs the program, so every socket it makes is the cgroup's. Its
    /// stdin is a pipe kept open, its output discarded. Returns the PID; killed on drop.
    pub fn spawn(&self, sub: &Sub, ns: Option<&Netns>, args: &[&str]) -> io::Result<u32> {
        let procs = sub.dir.join("cgroup.procs");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("echo $$ > \"$0\" && exec \"$@\"")
            .arg(&procs);
        if let Some(ns) = ns {
            cmd.args(["ip", "netns", "exec", ns.name()]);
        }
        cmd.args(args);
        spawn_kept(cmd, &self.children)
    }
}

impl Sub {
    /// The cgroup's path from the cgroup2 root (`/sdtest-1234-0.slice/web.service`).
    pub fn rel(&self) -> String {
        self.rel.clone()
    }

    /// The cgroup id (its directory's inode).
    pub fn id(&self) -> u64 {
        std::fs::metadata(&self.dir).map_or(0, |m| m.ino())
    }

    /// The PIDs in this cgroup now.
    pub fn pids(&self) -> Vec<u32> {
        pids_in(&self.dir)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn pids_in(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// Kill what is left in `dir` and below, then remove them, deepest first.
fn remove_tree(dir: &Path, deadline: Instant) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path(), deadline);
            }
        }
    }
    let me = std::process::id();
    loop {
        for pid in pids_in(dir) {
            if pid != me {
                let _ = sys::kill(pid, libc::SIGKILL);
            }
        }
        // A cgroup empties once its killed processes are gone.
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() || Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let mut children = self.children.lock().unwrap_or_else(PoisonError::into_inner);
        for child in children.iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        remove_tree(&self.dir, Instant::now() + Duration::from_secs(10));
        if self.dir.exists() {
            eprintln!(
                "sockdoc-lab: could not remove cgroup {}",
                self.dir.display()
            );
        }
    }
}
