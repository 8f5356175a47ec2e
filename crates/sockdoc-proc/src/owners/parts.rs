//! Owners told rather than walked: a [`SocketOwners`] built from (inode, pid, fd) entries and
//! process names that a dump named (`ss -p`'s `users:((...))`, `netstat -p`'s `PID/Program`, a
//! snapshot). It reads nothing from /proc.

use super::{Entry, ProcInfo, SocketOwners};

/// The fd of an owner whose dump named the process but not the descriptor (`netstat -p`).
pub const UNKNOWN_FD: u32 = u32::MAX;

impl SocketOwners {
    /// Owners from `(inode, pid, fd)` entries (any order; inode 0 is dropped, as a walk never
    /// records it) and `(pid, ProcInfo)` of the processes named. `stats` counts the processes
    /// and socket fds given; nothing is walked, so `walk_again` reads every process.
    pub fn from_parts(
        entries: Vec<(u32, u32, u32)>,
        procs: impl IntoIterator<Item = (u32, ProcInfo)>,
    ) -> SocketOwners {
        let mut entries: Vec<Entry> = entries
            .into_iter()
            .filter(|&(inode, _, _)| inode != 0)
            .map(|(inode, pid, fd)| Entry { inode, pid, fd })
            .collect();
        entries.sort_unstable();
        entries.dedup();
        let mut out = SocketOwners {
            entries,
            procs: procs.into_iter().collect(),
            ..SocketOwners::default()
        };
        out.stats.processes = out.procs.len();
        out.stats.socket_fds = out.entries.len();
        out
    }

    /// Number of socket fds held by `pid`.
    pub fn fds_of(&self, pid: u32) -> usize {
        self.entries.iter().filter(|e| e.pid == pid).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_from_parts_are_found_by_inode() {
        let procs = [(
            7,
            ProcInfo {
                name: "sshd".into(),
                ..ProcInfo::default()
            },
        )];
        let o =
            SocketOwners::from_parts(vec![(20, 7, 4), (10, 7, 3), (0, 7, 5), (10, 8, 9)], procs);
        let got: Vec<(u32, u32)> = o.owners(10).map(|w| (w.pid, w.fd)).collect();
        assert_eq!(got, vec![(7, 3), (8, 9)]);
        assert_eq!(o.owners(0).count(), 0);
        assert_eq!(o.process(7).map(|p| p.name.as_str()), Some("sshd"));
        assert_eq!(o.fds_of(7), 2);
        assert_eq!(o.len(), 3);
    }
}
