//! [`Netns`]: a named, throw-away network namespace (`ip netns add sdlab-PID-N`) with loopback up,
//! helpers to run commands and nftables rulesets inside it, and a `Drop` that kills its processes
//! and deletes it, also while a failing test unwinds.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::{Mutex, Once, PoisonError};

use crate::lock::SharedNetnsLock;
use crate::sys;

/// Prefix of every lab namespace name.
pub const NAME_PREFIX: &str = "sdlab-";

/// Name of the nftables table the lab installs its drop rules in.
pub const NFT_TABLE: &str = "sdlab";

static COUNTER: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

/// Netfilter hook of a lab drop rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// Packets delivered to a local socket (on loopback: after they were "sent").
    Input,
    /// Packets sent by a local socket.
    Output,
}

impl Hook {
    fn chain(self) -> &'static str {
        match self {
            Hook::Input => "input",
            Hook::Output => "output",
        }
    }
}

/// A network namespace owned by the current test; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
    children: Mutex<Vec<Child>>,
    pids: Mutex<Vec<u32>>,
    next_port: AtomicU16,
    _lock: Option<SharedNetnsLock>,
}

impl Netns {
    /// Creates a fresh namespace `sdlab-<pid>-<n>` with `lo` up, holding the shared lab lock
    /// (see [`crate::lock`]).
    pub fn new() -> io::Result<Netns> {
        let lock = SharedNetnsLock::acquire()?;
        Netns::create(Some(lock))
    }

    /// Like [`Netns::new`], then adds `addrs` to `lo` (e.g. 127.0.0.2, ::2).
    pub fn with_loopback_addrs(addrs: &[IpAddr]) -> io::Result<Netns> {
        let ns = Netns::new()?;
        for addr in addrs {
            ns.add_loopback_addr(*addr)?;
        }
        Ok(ns)
    }

    /// Creates a namespace without taking the shared lock (the caller holds it exclusively).
    pub(crate) fn create_unlocked() -> io::Result<Netns> {
        Netns::create(None)
    }

    fn create(lock: Option<SharedNetnsLock>) -> io::Result<Netns> {
        SWEEP.call_once(sweep_stale);
        let name = format!(
            "{NAME_PREFIX}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        run_checked(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Netns {
            name,
            children: Mutex::new(Vec::new()),
            pids: Mutex::new(Vec::new()),
            next_port: AtomicU16::new(20000),
            _lock: lock,
        };
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Deletes the namespace's name and gives it to a fresh namespace (`lo` up), as an operator's
    /// `ip netns del X; ip netns add X` would: processes inside the old one keep running there (and
    /// keep it alive). Returns the new namespace's inode. `Drop` deletes the new one.
    pub fn recreate(&self) -> io::Result<u64> {
        run_checked(Command::new("ip").args(["netns", "del", &self.name]))?;
        run_checked(Command::new("ip").args(["netns", "add", &self.name]))?;
        self.exec(&["ip", "link", "set", "lo", "up"])?;
        self.inode()
    }

    /// Deletes the namespace's name only (`ip netns del X`); processes inside keep it alive.
    pub fn delete_name(&self) -> io::Result<()> {
        run_checked(Command::new("ip").args(["netns", "del", &self.name])).map(|_| ())
    }

    /// The namespace name (`sdlab-<pid>-<n>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/<name>`, the bind mount that keeps the namespace alive.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// The namespace's nsfs inode number (what `ls -Li /proc/PID/ns/net` shows).
    pub fn inode(&self) -> io::Result<u64> {
        Ok(std::fs::metadata(self.path())?.ino())
    }

    /// A port number not handed out before in this namespace (20000, 20001, ...), for listeners
    /// and blackholed peers whose number must be known before the socket exists.
    pub fn fresh_port(&self) -> u16 {
        self.next_port.fetch_add(1, Ordering::Relaxed)
    }

    /// `ip netns exec <name> <program>`, ready for more arguments.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Runs `args` inside the namespace and returns its stdout; a non-zero exit is an error that
    /// carries stderr.
    pub fn exec(&self, args: &[&str]) -> io::Result<String> {
        let (program, rest) = args
            .split_first()
            .ok_or_else(|| io::Error::other("exec: empty command"))?;
        let out = run_checked(self.command(program).args(rest))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Feeds `ruleset` (multi-line nft syntax) to `nft -f -` inside the namespace.
    pub fn nft(&self, ruleset: &str) -> io::Result<()> {
        let mut child = self
            .command("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(ruleset.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "nft -f - in {} failed ({}): {}\nruleset:\n{ruleset}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// Installs `<matcher> drop` in the lab table's `hook` chain (created on first use), e.g.
    /// `drop_packets(Hook::Input, "tcp dport 20000 tcp flags & (syn|ack) == ack")`.
    pub fn drop_packets(&self, hook: Hook, matcher: &str) -> io::Result<()> {
        let t = NFT_TABLE;
        let ruleset = format!(
            "add table inet {t}\n\
             add chain inet {t} input {{ type filter hook input priority 0; policy accept; }}\n\
             add chain inet {t} output {{ type filter hook output priority 0; policy accept; }}\n\
             add rule inet {t} {} {matcher} drop\n",
            hook.chain()
        );
        self.nft(&ruleset)
    }

    /// Adds `addr` to `lo` (host prefix, no duplicate address detection); idempotent.
    pub fn add_loopback_addr(&self, addr: IpAddr) -> io::Result<()> {
        let cidr = match addr {
            IpAddr::V4(a) => format!("{a}/32"),
            IpAddr::V6(a) => format!("{a}/128"),
        };
        // `replace` rather than `add`: adding an address twice is not an error.
        let mut args = vec!["ip", "addr", "replace", &cidr, "dev", "lo"];
        if addr.is_ipv6() {
            args.push("nodad");
        }
        self.exec(&args).map(drop)
    }

    /// Starts `args` inside the namespace (stdin a pipe kept open, stdout/stderr discarded) and
    /// returns its PID. The process is killed when the namespace is dropped.
    pub fn spawn(&self, args: &[&str]) -> io::Result<u32> {
        let (program, rest) = args
            .split_first()
            .ok_or_else(|| io::Error::other("spawn: empty command"))?;
        let mut cmd = self.command(program);
        cmd.args(rest);
        self.spawn_command(cmd)
    }

    /// Like [`Netns::spawn`] for a prepared command (normally from [`Netns::command`]; `ip netns
    /// exec` execs in place, so the PID is the program's).
    pub fn spawn_command(&self, cmd: Command) -> io::Result<u32> {
        spawn_kept(cmd, &self.children)
    }

    /// Registers a PID to SIGKILL on drop (a process the test started some other way).
    pub fn register_pid(&self, pid: u32) {
        self.pids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(pid);
    }

    /// PIDs of processes whose network namespace is this one (`ip netns pids`).
    pub fn pids(&self) -> io::Result<Vec<u32>> {
        let out = run_checked(Command::new("ip").args(["netns", "pids", &self.name]))?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect())
    }

    fn kill_processes(&self) {
        let mut children = self.children.lock().unwrap_or_else(PoisonError::into_inner);
        for child in children.iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        children.clear();
        let registered = self.pids.lock().unwrap_or_else(PoisonError::into_inner);
        for pid in registered.iter() {
            let _ = sys::kill(*pid, libc::SIGKILL);
        }
        // Whatever those processes forked (socat's per-connection children) is still inside.
        let me = std::process::id();
        for pid in self.pids().unwrap_or_default() {
            if pid != me {
                let _ = sys::kill(pid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.kill_processes();
        // A test may have deleted the name itself (delete_name).
        if !self.path().exists() {
            return;
        }
        if let Err(e) = run_checked(Command::new("ip").args(["netns", "del", &self.name])) {
            eprintln!("sockdoc-lab: could not delete namespace {}: {e}", self.name);
        }
    }
}

/// Starts `cmd` (stdin a pipe kept open, stdout/stderr discarded), keeps it in `children` (to be
/// killed and reaped by the keeper's `Drop`) and returns its PID.
pub(crate) fn spawn_kept(mut cmd: Command, children: &Mutex<Vec<Child>>) -> io::Result<u32> {
    let child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    children
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(child);
    Ok(pid)
}

/// Runs `cmd`, returning its output; a spawn failure or non-zero exit is an error with stderr.
fn run_checked(cmd: &mut Command) -> io::Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("{cmd:?}: {e}")))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(io::Error::other(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Deletes lab namespaces left behind by test processes that no longer exist (killed by a
/// timeout, say). Namespaces of live processes are left alone.
fn sweep_stale() {
    let Ok(out) = run_checked(Command::new("ip").args(["netns", "list"])) else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(owner) = stale_owner(name) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{owner}")).exists() {
            let _ = run_checked(Command::new("ip").args(["netns", "del", name]));
        }
    }
}

/// The creating PID encoded in a lab namespace name `sdlab-<pid>-<n>`.
fn stale_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let (pid, n) = rest.split_once('-')?;
    n.parse::<u32>().ok()?;
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_from_name() {
        assert_eq!(stale_owner("sdlab-1234-7"), Some(1234));
        assert_eq!(stale_owner("sdlab-x-7"), None);
        assert_eq!(stale_owner("other-1-2"), None);
        assert_eq!(stale_owner("sdlab-12"), None);
    }
}
