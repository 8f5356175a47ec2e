//! Walking /proc again for less: what a walk keeps of each process owning sockets ([`Seen`]), and
//! the processes a later walk can take as they were ([`Again`]). At 300k sockets a walk reads 300k
//! links (~0.4 s of CPU); when the processes holding them did not change, the walk again is a stat
//! and a small read per process.

use std::ffi::CString;
use std::os::fd::OwnedFd;

use rustc_hash::FxHashMap;

use super::{read_small, Entry, Part, ProcInfo, SocketOwners};
use crate::limits::fd_dir_size;

/// The same process (its start time, in clock ticks since boot) with as many descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Seen {
    started: u64,
    open: u64,
}

impl Seen {
    /// Now, for `pid`; `None` when it cannot be told (a kernel before 6.2 gives no descriptor
    /// count: every walk reads every process then).
    pub(super) fn read(root: &OwnedFd, pid: u32) -> Option<Seen> {
        let open = fd_dir_size(root, pid).ok().filter(|&n| n > 0)?;
        let path = CString::new(format!("{pid}/stat")).ok()?;
        let stat = read_small(root, &path).ok()?;
        Some(Seen {
            started: start_time(&stat)?,
            open,
        })
    }
}

/// Field 22 of `/proc/PID/stat`, counted after the command name (which may hold spaces and
/// parentheses, so the fields start after its last `)`).
fn start_time(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    // After `)`: field 3 (state) is the first; start time is field 22.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// The walk before, by process, and what is alive since.
pub(super) struct Again<'a> {
    before: &'a SocketOwners,
    by_pid: FxHashMap<u32, Vec<Entry>>,
    alive: &'a (dyn Fn(u32) -> bool + Sync),
}

impl<'a> Again<'a> {
    pub(super) fn new(before: &'a SocketOwners, alive: &'a (dyn Fn(u32) -> bool + Sync)) -> Self {
        let mut by_pid: FxHashMap<u32, Vec<Entry>> = FxHashMap::default();
        for e in &before.entries {
            if before.seen.contains_key(&e.pid) {
                by_pid.entry(e.pid).or_default().push(*e);
            }
        }
        Again {
            before,
            by_pid,
            alive,
        }
    }

    /// Take `pid` into `part` as the walk before found it, when `now` shows it unchanged and all its
    /// sockets are still alive; false when it must be read again.
    pub(super) fn take(&self, pid: u32, now: Option<Seen>, part: &mut Part) -> bool {
        let (Some(now), Some(&then)) = (now, self.before.seen.get(&pid)) else {
            return false;
        };
        let Some(entries) = self.by_pid.get(&pid) else {
            return false;
        };
        if now != then || !entries.iter().all(|e| (self.alive)(e.inode)) {
            return false;
        }
        let info: ProcInfo = self.before.procs.get(&pid).cloned().unwrap_or_default();
        part.fds.extend_from_slice(entries);
        part.procs.insert(pid, info);
        part.seen.insert(pid, now);
        part.stats.reused += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};

    /// A process holding one listening socket; killed on drop.
    struct Holder(Child);

    impl Drop for Holder {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Start a holder and return it with the inode of its socket.
    fn holder() -> (Holder, u32) {
        let script = "import os,socket,time\n\
            l=socket.socket(); l.bind(('127.0.0.1',0)); l.listen()\n\
            print(os.fstat(l.fileno()).st_ino, flush=True)\n\
            time.sleep(120)\n";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let out = child.stdout.take().expect("stdout");
        let h = Holder(child);
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .expect("inode line");
        (h, line.trim().parse().expect("an inode"))
    }

    #[test]
    fn a_walk_again_reads_only_the_processes_that_may_have_changed() {
        let (h, inode) = holder();
        let pid = h.0.id();
        let first = SocketOwners::walk("/proc", 2).expect("walk");
        let owner = |m: &SocketOwners| m.owners(inode).map(|o| o.pid).collect::<Vec<_>>();
        assert_eq!(owner(&first), [pid]);
        if !first.seen.contains_key(&pid) {
            // A kernel before 6.2 counts no descriptors in a stat: every walk reads everything.
            let again = first.walk_again("/proc", 2, &|_| true).expect("walk again");
            assert_eq!((again.stats.reused, owner(&again)), (0, vec![pid]));
            return;
        }
        // Unchanged: taken as it was, its socket still found, its name kept.
        let again = first.walk_again("/proc", 2, &|_| true).expect("walk again");
        assert!(again.stats.reused >= 1, "{:?}", again.stats);
        assert_eq!(owner(&again), [pid]);
        assert_eq!(again.process(pid), first.process(pid));
        // Its socket gone from the census: read again (and found again, as it is still open).
        let strict = first
            .walk_again("/proc", 2, &|i| i != inode)
            .expect("walk again");
        assert!(!strict.seen.is_empty() && strict.stats.reused < again.stats.reused);
        assert_eq!(owner(&strict), [pid]);
        // The process gone: nothing of it is kept.
        drop(h);
        let after = first.walk_again("/proc", 2, &|_| true).expect("walk again");
        assert!(owner(&after).is_empty() && after.process(pid).is_none());
    }

    #[test]
    fn start_time_is_field_22_whatever_the_name() {
        let stat =
            b"4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 1 0 987654 1000 50";
        assert_eq!(start_time(stat), Some(987_654));
        assert_eq!(start_time(b"1 (init) S"), None);
        assert_eq!(start_time(b"garbage"), None);
    }
}
