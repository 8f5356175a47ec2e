//! Network namespaces: the ones `ip netns` names (/run/netns) and the ones only processes hold
//! (containers), identified by inode, and entering one on the calling thread.
//!
//! A namespace resolved from `--netns NAME` or `--netns-pid PID` is pinned: it keeps the namespace
//! file open from resolution on and enters through that descriptor, so a name that is deleted and given to a new namespace, or a pid that
//! exits and is reused, never moves a long-running command into another namespace. [`Netns::changed`]
//! says when the name or pid now points elsewhere; following is the caller's decision
//! ([`Netns::resolve_again`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where `ip netns` keeps its names.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Errors finding or entering a namespace.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("no network namespace named '{0}' (see `ip netns list`)")]
    NoSuchName(String),
    #[error("no process {0}, or it has exited")]
    NoSuchPid(u32),
    #[error("cannot open {path}: {err}")]
    Open { path: PathBuf, err: io::Error },
    #[error("entering the network namespace {path} needs root (CAP_SYS_ADMIN): run with sudo")]
    NotPermitted { path: PathBuf },
    #[error("cannot enter the network namespace {path}: {err}")]
    Enter { path: PathBuf, err: io::Error },
    #[error("{0} is recorded evidence, not a live namespace: it cannot be entered")]
    Recorded(String),
}

/// A network namespace and how to reach it; see the module comment for pinning.
#[derive(Clone, Debug)]
pub struct Netns {
    /// Inode of the namespace (`ls -L -i /proc/PID/ns/net`), its identity.
    pub inode: u64,
    /// Names under /run/netns that point at it.
    pub names: Vec<String>,
    /// A process inside it (the lowest pid), when one was seen.
    pub pid: Option<u32>,
    /// A file to open for `setns`.
    pub path: PathBuf,
    /// True for the namespace the caller runs in.
    pub current: bool,
    /// The namespace file, open since resolution (none for the caller's own namespace).
    pin: Option<Arc<OwnedFd>>,
    /// How the user named it, to check later whether that still means this namespace.
    origin: Origin,
    /// Who lives in it, when known (`--all-netns` labels each namespace; see [`NsHolder`]).
    pub holder: Option<NsHolder>,
}

/// Who lives in a network namespace, as the cgroup of a process holding it names it: a container,
/// a Kubernetes pod, or the systemd service whose private namespace it is. Filled by the census
/// session (sockdoc-core), which can name containers; this crate only carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NsHolder {
    Container {
        runtime: crate::runtimes::Runtime,
        id: String,
        /// As the runtime names it, when it could say.
        name: Option<String>,
    },
    Pod {
        uid: String,
        /// `namespace/name`, when the node could say.
        name: Option<String>,
    },
    /// A systemd service (`nginx.service`).
    Unit(String),
}

impl NsHolder {
    /// `podman web` (the runtime and the name, or the short id), `pod shop/cart-0`,
    /// `nginx.service`: proper names only, the same in every language.
    pub fn label(&self) -> String {
        match self {
            NsHolder::Container { runtime, id, name } => {
                let short: String = id.chars().take(12).collect();
                format!("{} {}", runtime.name(), name.as_deref().unwrap_or(&short))
            }
            NsHolder::Pod { uid, name } => format!("pod {}", name.as_deref().unwrap_or(uid)),
            NsHolder::Unit(u) => u.clone(),
        }
    }
}

/// How a namespace was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Origin {
    Current,
    Name(String),
    Pid(u32),
    /// Found by listing every namespace (`--all-netns`).
    Listed,
    /// The namespace at this place in recorded evidence (a snapshot, another host's dumps):
    /// never entered.
    Recorded(usize),
}

/// How a namespace was asked for ([`Netns::asked`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asked<'a> {
    /// `--netns NAME`
    Name(&'a str),
    /// `--netns-pid PID`
    Pid(u32),
    /// The caller's own, or found by listing every namespace.
    Other,
}

/// What a namespace's name or pid now points at, when no longer the pinned namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetnsChange {
    /// The name was deleted, or the process exited: nothing to follow.
    Gone,
    /// The name (or pid) now means another namespace, with this inode.
    Replaced(u64),
}

impl PartialEq for Netns {
    /// The same namespace (inode) reached the same way; the open descriptor does not count.
    fn eq(&self, other: &Netns) -> bool {
        self.inode == other.inode
            && self.names == other.names
            && self.pid == other.pid
            && self.path == other.path
            && self.current == other.current
            && self.origin == other.origin
    }
}

impl Eq for Netns {}

/// Open a namespace file for pinning (no blocking, not inherited by children).
fn open_ns(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
}

impl Netns {
    /// The caller's own namespace.
    pub fn current() -> io::Result<Netns> {
        let path = PathBuf::from("/proc/thread-self/ns/net");
        let inode = std::fs::metadata(&path)?.ino();
        Ok(Netns {
            inode,
            names: names_by_inode().remove(&inode).unwrap_or_default(),
            pid: Some(std::process::id()),
            path,
            current: true,
            pin: None,
            origin: Origin::Current,
            holder: None,
        })
    }

    /// The namespace `ip netns` calls `name`.
    pub fn named(name: &str) -> Result<Netns, NetnsError> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(NetnsError::NoSuchName(name.to_string()));
        }
        let mut ns = Netns::at(Path::new(NETNS_RUN_DIR).join(name), None, || {
            NetnsError::NoSuchName(name.to_string())
        })?;
        ns.origin = Origin::Name(name.to_string());
        Ok(ns)
    }

    /// The namespace process `pid` lives in.
    pub fn of_pid(pid: u32) -> Result<Netns, NetnsError> {
        let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
        let mut ns = Netns::at(path, Some(pid), || NetnsError::NoSuchPid(pid))?;
        ns.origin = Origin::Pid(pid);
        Ok(ns)
    }

    /// The namespace behind a namespace file; `missing` says what a missing file means.
    fn at(
        path: PathBuf,
        pid: Option<u32>,
        missing: impl FnOnce() -> NetnsError,
    ) -> Result<Netns, NetnsError> {
        // Open first and take the inode from the open file: what is pinned is what was checked.
        let pinned = match open_ns(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing()),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(NetnsError::NotPermitted { path })
            }
            Err(err) => return Err(NetnsError::Open { path, err }),
        };
        let inode = match pinned.metadata() {
            Ok(meta) => meta.ino(),
            Err(err) => return Err(NetnsError::Open { path, err }),
        };
        // A name whose namespace is gone is a plain empty file left on /run/netns.
        if pid.is_none() && !is_nsfs(&path) {
            return Err(missing());
        }
        Ok(Netns {
            inode,
            names: names_by_inode().remove(&inode).unwrap_or_default(),
            pid,
            current: inode == current_inode(),
            path,
            pin: Some(Arc::new(OwnedFd::from(pinned))),
            origin: Origin::Listed,
            holder: None,
        })
    }

    /// The namespace a socket belongs to (`SIOCGSKNS`), pinned: for work that must happen where a
    /// socket lives, such as opening raw sockets next to a sock_diag socket opened there.
    pub fn of_socket(sock: BorrowedFd<'_>) -> Result<Netns, NetnsError> {
        /// `SIOCGSKNS` (linux/sockios.h): a new fd for the socket's network namespace.
        const SIOCGSKNS: libc::c_ulong = 0x894C;
        let path = PathBuf::from(format!("socket:[fd {}]", sock.as_raw_fd()));
        // SAFETY: ioctl on a valid socket fd; returns a new fd or -1.
        let fd = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCGSKNS as _) };
        if fd < 0 {
            let err = io::Error::last_os_error();
            return Err(NetnsError::Open { path, err });
        }
        // SAFETY: fd is a fresh descriptor we own.
        let pinned = unsafe { OwnedFd::from_raw_fd(fd) };
        let inode = match File::from(pinned.try_clone().map_err(|err| NetnsError::Open {
            path: path.clone(),
            err,
        })?)
        .metadata()
        {
            Ok(m) => m.ino(),
            Err(err) => return Err(NetnsError::Open { path, err }),
        };
        Ok(Netns {
            inode,
            names: names_by_inode().remove(&inode).unwrap_or_default(),
            pid: None,
            current: inode == current_inode(),
            path,
            pin: Some(Arc::new(pinned)),
            origin: Origin::Listed,
            holder: None,
        })
    }

    /// A namespace of recorded evidence: `label` as the evidence names it, `inode` when it says
    /// (0 otherwise), `index` its place in the evidence, `from` the file it came from. Never
    /// entered: [`Netns::enter`] refuses it.
    pub fn recorded(label: &str, inode: u64, index: usize, from: &std::path::Path) -> Netns {
        Netns {
            inode,
            names: vec![label.to_string()],
            pid: None,
            path: from.to_path_buf(),
            current: false,
            pin: None,
            origin: Origin::Recorded(index),
            holder: None,
        }
    }

    /// Its place in recorded evidence, for a namespace of [`Netns::recorded`].
    pub fn recorded_index(&self) -> Option<usize> {
        match self.origin {
            Origin::Recorded(i) => Some(i),
            _ => None,
        }
    }

    /// True when this was resolved from `--netns NAME` or `--netns-pid PID` (the cases where the name
    /// can later mean another namespace).
    pub fn is_named(&self) -> bool {
        matches!(self.origin, Origin::Name(_) | Origin::Pid(_))
    }

    /// How the user asked for it, for words about it.
    pub fn asked(&self) -> Asked<'_> {
        match &self.origin {
            Origin::Name(n) => Asked::Name(n),
            Origin::Pid(p) => Asked::Pid(*p),
            Origin::Current | Origin::Listed | Origin::Recorded(_) => Asked::Other,
        }
    }

    /// True when a change can be followed: a name (`ip netns`) can be given to a new namespace; a
    /// pid that exited does not come back (a reused pid is another process).
    pub fn followable(&self) -> bool {
        matches!(self.origin, Origin::Name(_))
    }

    /// Whether the name or pid this was resolved from still means this namespace (the pinned one):
    /// `None` when it does (or when there is nothing to compare: the caller's own namespace, one
    /// found by listing), else what it means now.
    pub fn changed(&self) -> Option<NetnsChange> {
        let path = match &self.origin {
            Origin::Name(_) | Origin::Pid(_) => &self.path,
            Origin::Current | Origin::Listed | Origin::Recorded(_) => return None,
        };
        match std::fs::metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Some(NetnsChange::Gone),
            // Cannot tell (permissions changed?): not a change.
            Err(_) => None,
            // A deleted name can leave a plain file behind.
            Ok(_) if matches!(self.origin, Origin::Name(_)) && !is_nsfs(path) => {
                Some(NetnsChange::Gone)
            }
            Ok(meta) if meta.ino() == self.inode => None,
            Ok(meta) => Some(NetnsChange::Replaced(meta.ino())),
        }
    }

    /// Resolve the name or pid again, pinning whatever namespace it means now.
    pub fn resolve_again(&self) -> Result<Netns, NetnsError> {
        match &self.origin {
            Origin::Name(n) => Netns::named(n),
            Origin::Pid(p) => Netns::of_pid(*p),
            Origin::Current | Origin::Listed | Origin::Recorded(_) => Ok(self.clone()),
        }
    }

    /// Every network namespace on the host: named ones and those held only by processes, ordered by
    /// inode, the caller's own first (not pinned: see the comment inside). Namespaces of processes we may not inspect are missed (needs root).
    pub fn all() -> Vec<Netns> {
        let cur = current_inode();
        let mut by_inode: BTreeMap<u64, Netns> = BTreeMap::new();
        // Not pinned: a host may hold thousands of namespaces, and a descriptor each would crowd out
        // the ones the census needs. A one-shot pass enters each by its file, as listed.
        for (inode, names) in names_by_inode() {
            let path = Path::new(NETNS_RUN_DIR).join(&names[0]);
            by_inode.insert(
                inode,
                Netns {
                    inode,
                    names,
                    pid: None,
                    path,
                    current: inode == cur,
                    pin: None,
                    origin: Origin::Listed,
                    holder: None,
                },
            );
        }
        if let Ok(rd) = std::fs::read_dir("/proc") {
            let mut pids: Vec<u32> = rd
                .flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
                .collect();
            pids.sort_unstable();
            for pid in pids {
                let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
                let Ok(meta) = std::fs::metadata(&path) else {
                    continue;
                };
                let ns = by_inode.entry(meta.ino()).or_insert_with(|| Netns {
                    inode: meta.ino(),
                    names: Vec::new(),
                    pid: None,
                    path: path.clone(),
                    current: meta.ino() == cur,
                    pin: None,
                    origin: Origin::Listed,
                    holder: None,
                });
                if ns.pid.is_none() {
                    ns.pid = Some(pid);
                }
            }
        }
        let mut all: Vec<Netns> = by_inode.into_values().collect();
        all.sort_by_key(|n| (!n.current, n.inode));
        all
    }

    /// A short label: `name`, or `pid 1234`, plus the inode, and who lives in it when known
    /// (`pid 1234 [net:4026532871] · podman web`).
    pub fn label(&self) -> String {
        if let Origin::Recorded(_) = self.origin {
            let name = self.names.first().map_or("evidence", String::as_str);
            return format!("{name} · {}", self.path.display());
        }
        let who = match (self.names.first(), self.pid) {
            (Some(n), Some(p)) if !self.current => format!("{n} (pid {p})"),
            (Some(n), _) => n.clone(),
            (None, Some(p)) if self.current => format!("current (pid {p})"),
            (None, Some(p)) => format!("pid {p}"),
            (None, None) => "unnamed".to_string(),
        };
        match &self.holder {
            Some(h) => format!("{who} [net:{}] · {}", self.inode, h.label()),
            None => format!("{who} [net:{}]", self.inode),
        }
    }

    /// Move the calling thread into this namespace (the pinned one, through its open descriptor).
    /// Only this thread changes; use a dedicated thread.
    pub fn enter(&self) -> Result<(), NetnsError> {
        if let Origin::Recorded(_) = self.origin {
            return Err(NetnsError::Recorded(self.label()));
        }
        if let Some(fd) = &self.pin {
            return self.setns(fd.as_raw_fd());
        }
        let file = File::open(&self.path).map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => NetnsError::NotPermitted {
                path: self.path.clone(),
            },
            io::ErrorKind::NotFound => match self.names.first() {
                Some(n) => NetnsError::NoSuchName(n.clone()),
                None => NetnsError::NoSuchPid(self.pid.unwrap_or(0)),
            },
            _ => NetnsError::Open {
                path: self.path.clone(),
                err: e,
            },
        })?;
        self.setns(file.as_raw_fd())
    }

    fn setns(&self, fd: std::os::fd::RawFd) -> Result<(), NetnsError> {
        // SAFETY: setns on a valid fd; affects only the calling thread.
        let r = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
        if r != 0 {
            let err = io::Error::last_os_error();
            return Err(match err.raw_os_error() {
                Some(libc::EPERM) => NetnsError::NotPermitted {
                    path: self.path.clone(),
                },
                _ => NetnsError::Enter {
                    path: self.path.clone(),
                    err,
                },
            });
        }
        Ok(())
    }
}

fn current_inode() -> u64 {
    std::fs::metadata("/proc/thread-self/ns/net")
        .map(|m| m.ino())
        .unwrap_or(0)
}

/// Inode → names under /run/netns.
fn names_by_inode() -> BTreeMap<u64, Vec<String>> {
    let mut map: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(NETNS_RUN_DIR) {
        for e in rd.flatten() {
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            // A name whose namespace is gone is a plain empty file on the tmpfs; stat tells them apart
            // by the nsfs device, but an inode lookup through metadata() follows the bind mount.
            if let Ok(meta) = std::fs::metadata(e.path()) {
                if meta.ino() > 2 && meta.size() == 0 && is_nsfs(&e.path()) {
                    map.entry(meta.ino()).or_default().push(name);
                }
            }
        }
    }
    for names in map.values_mut() {
        names.sort();
    }
    map
}

/// True when `path` is a namespace file (a bind mount of nsfs), not a stale name.
fn is_nsfs(path: &Path) -> bool {
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs into a zeroed struct with a NUL-terminated path.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == NSFS_MAGIC
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_namespace_is_found_in_all() {
        let cur = Netns::current().expect("current netns");
        let all = Netns::all();
        assert!(all
            .first()
            .is_some_and(|n| n.inode == cur.inode && n.current));
    }

    #[test]
    fn unknown_name_is_a_clear_error() {
        let e = Netns::named("sockdoc-no-such-ns").expect_err("must fail");
        assert!(e.to_string().contains("ip netns list"));
        assert!(Netns::named("../etc").is_err());
    }

    /// Deletes a namespace name on drop (also when the test fails).
    struct Named(String);

    impl Drop for Named {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &self.0])
                .status();
        }
    }

    fn ip_netns(op: &str, name: &str) {
        let st = std::process::Command::new("ip")
            .args(["netns", op, name])
            .status()
            .expect("ip");
        assert!(st.success(), "ip netns {op} {name}");
    }

    /// Needs root and `ip`.
    #[test]
    fn a_recreated_name_is_a_change_and_entering_stays_pinned() {
        let name = format!("sockdoc-pin-{}", std::process::id());
        ip_netns("add", &name);
        let _guard = Named(name.clone());
        let ns = Netns::named(&name).expect("named");
        assert!(ns.is_named());
        assert_eq!(ns.changed(), None);
        ip_netns("del", &name);
        assert_eq!(ns.changed(), Some(NetnsChange::Gone));
        ip_netns("add", &name);
        let now = std::fs::metadata(Path::new(NETNS_RUN_DIR).join(&name))
            .expect("new name")
            .ino();
        assert_ne!(now, ns.inode);
        assert_eq!(ns.changed(), Some(NetnsChange::Replaced(now)));
        // Entering goes where it was resolved, not where the name points now.
        let entered = std::thread::spawn({
            let ns = ns.clone();
            move || {
                ns.enter().expect("enter");
                current_inode()
            }
        })
        .join()
        .expect("thread");
        assert_eq!(entered, ns.inode);
        assert_eq!(ns.resolve_again().expect("again").inode, now);
        // The caller's own namespace has no name to change.
        assert_eq!(Netns::current().expect("current").changed(), None);
    }
}
