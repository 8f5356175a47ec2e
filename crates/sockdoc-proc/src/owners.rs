//! Socket inode → owning processes, from one walk of /proc/*/fd.
//!
//! The walk is the expensive part of process attribution (`ss -p` rescans a 256-bucket hash per socket and
//! takes ~50 s at 300k sockets). Here: one pass, processes shared out to a few threads through an atomic
//! cursor, `getdents64` + `readlinkat` with no allocation per fd, and the result kept as one sorted array
//! of 12-byte entries (binary search: no hash table, no per-owner links).
//! Processes that exit mid-walk are skipped; processes we may not read are counted, not fatal.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};

use rustc_hash::FxHashMap;

use crate::dirent::{for_each_entry, open_dir, parse_u32};

mod again;
mod enough;
mod parts;

pub use enough::Enough;
pub use parts::UNKNOWN_FD;

/// One process holding a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    pub fd: u32,
}

/// Name and command line of a process that owns sockets.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ProcInfo {
    /// `/proc/PID/comm`, as `ss -p` shows it.
    pub name: String,
    /// `/proc/PID/cmdline` with NULs as spaces (empty for kernel threads).
    pub cmdline: String,
    pub uid: u32,
}

/// Counters of one walk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct WalkStats {
    pub processes: usize,
    /// Processes whose fd table we were not allowed to read (other users' processes without root).
    pub denied: usize,
    /// Processes that exited while we walked.
    pub vanished: usize,
    /// Processes skipped because they live in another network namespace (a walk of one namespace).
    pub other_netns: usize,
    pub socket_fds: usize,
    /// Processes whose sockets were taken from the walk before ([`SocketOwners::walk_again`]):
    /// the same process, as many descriptors, every socket it held still alive.
    pub reused: usize,
    /// Processes left unread because every socket wanted had a holder ([`SocketOwners::walk_until`]).
    pub unread: usize,
}

/// One socket fd: 12 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    inode: u32,
    pid: u32,
    fd: u32,
}

/// The map from socket inode to its owners.
#[derive(Default)]
pub struct SocketOwners {
    /// Sorted by inode (then pid, fd).
    entries: Vec<Entry>,
    procs: FxHashMap<u32, ProcInfo>,
    /// Of each process owning sockets, what tells a later walk whether it can have changed.
    seen: FxHashMap<u32, again::Seen>,
    pub stats: WalkStats,
    /// The namespace the walk was limited to ([`SocketOwners::walk_in`]), `None` for every process.
    pub netns: Option<u64>,
}

impl SocketOwners {
    /// Walk /proc (mounted at `proc_root`, normally "/proc") with `threads` threads.
    /// What each process looked like is kept, so the result can be walked again
    /// ([`SocketOwners::walk_again`]).
    pub fn walk(proc_root: &str, threads: usize) -> io::Result<SocketOwners> {
        let (root, pids) = list_pids(proc_root)?;
        let how = How {
            keep_seen: true,
            ..How::default()
        };
        SocketOwners::walk_pids(&root, &pids, threads, how)
    }

    /// Like [`SocketOwners::walk`], but only the processes whose network namespace has the inode
    /// `netns` (when given): the sockets of one namespace are almost always held by its own
    /// processes, and the fds of every other process on the host need not be read. A process whose
    /// namespace cannot be read (another user's, without root) is walked. Kept for a walk again,
    /// as [`SocketOwners::walk`].
    pub fn walk_in(
        proc_root: &str,
        threads: usize,
        netns: Option<u64>,
    ) -> io::Result<SocketOwners> {
        let (root, pids) = list_pids(proc_root)?;
        let how = How {
            netns,
            keep_seen: true,
            ..How::default()
        };
        SocketOwners::walk_pids(&root, &pids, threads, how)
    }

    /// Like [`SocketOwners::walk_in`], ending once `enough` says each socket it wants has a holder
    /// (a process is always read whole). For an act, which needs one holder of each socket: a
    /// socket shared by several processes may show only some of them.
    pub fn walk_until(
        proc_root: &str,
        threads: usize,
        netns: Option<u64>,
        enough: &Enough,
    ) -> io::Result<SocketOwners> {
        let (root, pids) = list_pids(proc_root)?;
        let how = How {
            netns,
            enough: Some(enough),
            ..How::default()
        };
        SocketOwners::walk_pids(&root, &pids, threads, how)
    }

    /// Walk again after this walk, reading the descriptors only of the processes that may have
    /// changed: a process is taken as it was when it is the same process (its start time), holds as
    /// many descriptors (one `stat` of its fd directory, Linux 6.2+) and every socket it held is
    /// still `alive` (in the census since). A process that swapped a file for a socket at the same
    /// count goes unseen until the next full walk: callers walk everything now and then. Same
    /// namespace limit as this walk.
    pub fn walk_again(
        &self,
        proc_root: &str,
        threads: usize,
        alive: &(dyn Fn(u32) -> bool + Sync),
    ) -> io::Result<SocketOwners> {
        let (root, pids) = list_pids(proc_root)?;
        let again = again::Again::new(self, alive);
        let how = How {
            netns: self.netns,
            again: Some(&again),
            enough: None,
            keep_seen: true,
        };
        SocketOwners::walk_pids(&root, &pids, threads, how)
    }

    /// Walk `pids` under `root` with `threads` threads, as `how` says.
    fn walk_pids(
        root: &OwnedFd,
        pids: &[u32],
        threads: usize,
        how: How<'_>,
    ) -> io::Result<SocketOwners> {
        let threads = threads.clamp(1, 16).min(pids.len().max(1));
        let cursor = AtomicUsize::new(0);
        let netns = how.netns;
        let walk = Walk {
            root,
            pids,
            cursor: &cursor,
            how,
        };
        let parts: Vec<Part> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads).map(|_| scope.spawn(|| walk.part())).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let mut out = SocketOwners::merge(parts);
        out.netns = netns;
        out.stats.unread = pids.len().saturating_sub(cursor.load(Ordering::Relaxed));
        Ok(out)
    }

    fn merge(parts: Vec<Part>) -> SocketOwners {
        let mut out = SocketOwners::default();
        // The largest part's buffer becomes the result, so at most the smaller parts are copied.
        let mut parts = parts;
        parts.sort_by_key(|p| std::cmp::Reverse(p.fds.len()));
        let rest: usize = parts.iter().skip(1).map(|p| p.fds.len()).sum();
        for (i, mut part) in parts.into_iter().enumerate() {
            out.stats.processes += part.stats.processes;
            out.stats.denied += part.stats.denied;
            out.stats.vanished += part.stats.vanished;
            out.stats.other_netns += part.stats.other_netns;
            out.stats.reused += part.stats.reused;
            if i == 0 {
                out.entries = std::mem::take(&mut part.fds);
                out.entries.reserve_exact(rest);
            } else {
                out.entries.append(&mut part.fds);
            }
            out.procs.extend(part.procs);
            out.seen.extend(part.seen);
        }
        out.entries.sort_unstable();
        out.stats.socket_fds = out.entries.len();
        out
    }

    /// Owners of a socket inode, by pid. Empty for inode 0 and unknown inodes.
    pub fn owners(&self, inode: u32) -> OwnerIter<'_> {
        let start = self.entries.partition_point(|e| e.inode < inode);
        let found = if inode == 0 {
            &[][..]
        } else {
            &self.entries[start..]
        };
        OwnerIter { rest: found, inode }
    }

    /// Name and command line of a pid seen owning a socket.
    pub fn process(&self, pid: u32) -> Option<&ProcInfo> {
        self.procs.get(&pid)
    }

    /// Owners read elsewhere (a snapshot file): `(inode, pid, fd)` entries in any order, and the
    /// processes they name. Nothing is kept for a later [`SocketOwners::walk_again`].
    pub fn from_entries(
        entries: impl IntoIterator<Item = (u32, u32, u32)>,
        procs: impl IntoIterator<Item = (u32, ProcInfo)>,
        stats: WalkStats,
    ) -> SocketOwners {
        let mut entries: Vec<Entry> = entries
            .into_iter()
            .map(|(inode, pid, fd)| Entry { inode, pid, fd })
            .collect();
        entries.sort_unstable();
        SocketOwners {
            entries,
            procs: procs.into_iter().collect(),
            stats,
            ..SocketOwners::default()
        }
    }

    /// Every `(inode, pid, fd)` entry, sorted by inode.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = (u32, u32, u32)> + '_ {
        self.entries.iter().map(|e| (e.inode, e.pid, e.fd))
    }

    /// Every process seen owning a socket, in no particular order.
    pub fn processes(&self) -> impl Iterator<Item = (u32, &ProcInfo)> + '_ {
        self.procs.iter().map(|(pid, p)| (*pid, p))
    }

    /// Number of socket fds seen (a socket shared by two processes counts twice).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `proc_root` opened, and the pids under it.
fn list_pids(proc_root: &str) -> io::Result<(OwnedFd, Vec<u32>)> {
    let root_c = CString::new(proc_root)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in /proc path"))?;
    let root = open_dir(None, &root_c)?;
    let mut pids = Vec::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    for_each_entry(&root, &mut buf, |name| {
        if let Some(pid) = parse_u32(name) {
            pids.push(pid);
        }
    })?;
    Ok((root, pids))
}

/// Iterator over the owners of one inode.
pub struct OwnerIter<'a> {
    rest: &'a [Entry],
    inode: u32,
}

impl Iterator for OwnerIter<'_> {
    type Item = Owner;
    fn next(&mut self) -> Option<Owner> {
        let (e, rest) = self.rest.split_first()?;
        if e.inode != self.inode {
            self.rest = &[];
            return None;
        }
        self.rest = rest;
        Some(Owner {
            pid: e.pid,
            fd: e.fd,
        })
    }
}

#[derive(Default)]
struct Part {
    fds: Vec<Entry>,
    procs: FxHashMap<u32, ProcInfo>,
    seen: FxHashMap<u32, again::Seen>,
    stats: WalkStats,
}

/// Whether `pid` lives in the network namespace with inode `want` (`true` when it cannot be told).
fn in_netns(root: &OwnedFd, pid: u32, want: u64) -> bool {
    let Ok(path) = CString::new(format!("{pid}/ns/net")) else {
        return true;
    };
    let mut link = [0u8; 64];
    // SAFETY: NUL-terminated path; link is a live buffer of the given length.
    let n = unsafe {
        libc::readlinkat(
            root.as_raw_fd(),
            path.as_ptr(),
            link.as_mut_ptr().cast(),
            link.len(),
        )
    };
    if n <= 0 {
        return true;
    }
    // `net:[4026531840]`
    let inode = link[..n as usize]
        .strip_prefix(b"net:[")
        .and_then(|r| r.strip_suffix(b"]"))
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse::<u64>().ok());
    inode.is_none_or(|i| i == want)
}

/// How a walk reads.
#[derive(Default)]
struct How<'a> {
    /// Only the processes of this network namespace.
    netns: Option<u64>,
    /// A process that cannot have changed since the walk before keeps what that walk found.
    again: Option<&'a again::Again<'a>>,
    /// Stop once this says every socket it wants has a holder.
    enough: Option<&'a Enough>,
    /// Keep what each process owning sockets looked like, for a walk again (a stat and a read of
    /// its `stat` file per process: only walks that will be walked again pay for it).
    keep_seen: bool,
}

/// What the threads of one walk share.
struct Walk<'a> {
    root: &'a OwnedFd,
    pids: &'a [u32],
    /// The next process to read.
    cursor: &'a AtomicUsize,
    how: How<'a>,
}

impl Walk<'_> {
    /// One thread's share: processes taken from the cursor until none is left (or enough is read).
    fn part(&self) -> Part {
        let mut part = Part::default();
        // How many of this part's fds `enough` has been told of.
        let mut told = 0;
        let mut dents = vec![0u8; 32 * 1024];
        loop {
            if let Some(e) = self.how.enough.filter(|e| e.is_set()) {
                for f in &part.fds[told..] {
                    e.note(f.inode);
                }
                told = part.fds.len();
                if e.reached() {
                    return part;
                }
            }
            let i = self.cursor.fetch_add(1, Ordering::Relaxed);
            let Some(&pid) = self.pids.get(i) else {
                return part;
            };
            read_process(self, pid, &mut part, &mut dents);
        }
    }
}

/// Read the socket fds of `pid` into `part`.
fn read_process(walk: &Walk<'_>, pid: u32, part: &mut Part, dents: &mut [u8]) {
    let (root, how) = (walk.root, &walk.how);
    if how.netns.is_some_and(|want| !in_netns(root, pid, want)) {
        part.stats.other_netns += 1;
        return;
    }
    part.stats.processes += 1;
    // Taken before the listing: a change during it shows as a difference next time.
    let seen = how
        .keep_seen
        .then(|| again::Seen::read(root, pid))
        .flatten();
    if let Some(a) = how.again {
        if a.take(pid, seen, part) {
            return;
        }
    }
    let mut path = [0u8; 24];
    let Some(cpath) = fd_dir_path(pid, &mut path) else {
        return;
    };
    let dir = match open_dir(Some(root), cpath) {
        Ok(d) => d,
        Err(e) => {
            match e.raw_os_error() {
                Some(libc::EACCES) | Some(libc::EPERM) => part.stats.denied += 1,
                _ => part.stats.vanished += 1,
            }
            return;
        }
    };
    let before = part.fds.len();
    let mut link = [0u8; 64];
    let mut name_buf = [0u8; 16];
    let res = for_each_entry(&dir, dents, |name| {
        let Some(fd) = parse_u32(name) else { return };
        if name.len() >= name_buf.len() {
            return;
        }
        name_buf[..name.len()].copy_from_slice(name);
        name_buf[name.len()] = 0;
        // SAFETY: name_buf is NUL-terminated; link is a live buffer of the given length.
        let n = unsafe {
            libc::readlinkat(
                dir.as_raw_fd(),
                name_buf.as_ptr().cast(),
                link.as_mut_ptr().cast(),
                link.len(),
            )
        };
        if n <= 0 {
            return;
        }
        if let Some(inode) = socket_inode(&link[..n as usize]) {
            part.fds.push(Entry { inode, pid, fd });
        }
    });
    if res.is_err() && part.fds.len() == before {
        part.stats.vanished += 1;
        return;
    }
    if part.fds.len() > before {
        part.procs.insert(pid, read_proc_info(root, pid));
        if let Some(seen) = seen {
            part.seen.insert(pid, seen);
        }
    }
}

/// `PID/fd` as a C string in `buf`.
fn fd_dir_path(pid: u32, buf: &mut [u8; 24]) -> Option<&std::ffi::CStr> {
    use std::io::Write as _;
    let mut w = &mut buf[..];
    write!(w, "{pid}/fd\0").ok()?;
    let len = 24 - w.len();
    std::ffi::CStr::from_bytes_with_nul(&buf[..len]).ok()
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &[u8]) -> Option<u32> {
    let rest = link.strip_prefix(b"socket:[")?;
    let digits = rest.strip_suffix(b"]")?;
    parse_u32(digits)
}

fn read_proc_info(root: &OwnedFd, pid: u32) -> ProcInfo {
    let read = |file: &str| -> Vec<u8> {
        let Ok(p) = CString::new(format!("{pid}/{file}")) else {
            return Vec::new();
        };
        read_small(root, &p).unwrap_or_default()
    };
    let mut name = String::from_utf8_lossy(&read("comm")).into_owned();
    if name.ends_with('\n') {
        name.pop();
    }
    let raw = read("cmdline");
    let mut cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
    cmdline.truncate(cmdline.trim_end().len());
    let uid = read_status_uid(&read("status"));
    ProcInfo { name, cmdline, uid }
}

fn read_status_uid(status: &[u8]) -> u32 {
    let text = String::from_utf8_lossy(status);
    text.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(u32::MAX)
}

/// Read a small /proc file relative to `root` (up to 64 KiB).
fn read_small(root: &OwnedFd, path: &std::ffi::CStr) -> io::Result<Vec<u8>> {
    // SAFETY: NUL-terminated path; result checked.
    let fd = unsafe {
        libc::openat(
            root.as_raw_fd(),
            path.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while out.len() < 64 * 1024 {
        // SAFETY: chunk is valid for its length.
        let n = unsafe { libc::read(fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            break;
        }
        out.extend_from_slice(&chunk[..n as usize]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
