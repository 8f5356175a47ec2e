//! [`ScrapeCounts`]: what one scrape counts as sockets stream in from the census, one value per dump
//! thread, merged at the end. Nothing per socket is kept.

use rustc_hash::FxHashMap;
use sockdoc_diag::{Addr, Family, Proto, Socket, State, TimerKind};
use sockdoc_proc::sockstat::SockStat;
use sockdoc_proc::SocketOwners;

/// (protocol, family) of each row of [`ScrapeCounts::states`].
pub(crate) const SLOTS: [(Proto, Family); 4] = [
    (Proto::Tcp, Family::V4),
    (Proto::Tcp, Family::V6),
    (Proto::Udp, Family::V4),
    (Proto::Udp, Family::V6),
];

fn slot(s: &Socket) -> usize {
    match (s.proto, s.family) {
        (Proto::Tcp, Family::V4) => 0,
        (Proto::Tcp, Family::V6) => 1,
        (Proto::Udp, Family::V4) => 2,
        (Proto::Udp, Family::V6) => 3,
    }
}

/// Per owning pid (0: none known): (sockets, CLOSE-WAIT).
pub(crate) type PidCounts = FxHashMap<u32, (u64, u64)>;

/// One cgroup's sockets: per protocol (TCP, UDP), per kernel state number.
pub(crate) type CgroupCounts = [[u64; 12]; 2];

/// A scrape's counts, filled as sockets stream in (one per dump thread, then merged). Nothing per
/// socket is kept: per-port counts live in a flat table indexed by port, per-destination and
/// per-process counts in maps whose size is the number of destinations and processes.
pub(crate) struct ScrapeCounts {
    /// Counting a full census: per-process sockets and per-destination ports too.
    pub(crate) full: bool,
    /// Per (protocol, family) slot, per kernel state number.
    pub(crate) states: [[u64; 12]; 4],
    /// TCP sockets of the kind `/proc/net/sockstat` counts as in use, but not ESTABLISHED: full
    /// sockets in the hash tables (not request or TIME-WAIT sockets), per family.
    pub(crate) hashed: [u64; 2],
    /// TCP listeners by port: (accept queue, backlog).
    pub(crate) listeners: FxHashMap<u16, (u32, u32)>,
    /// TCP sockets by local port: (ESTABLISHED, SYN-RECV); 65536 entries, made on first use.
    pub(crate) ports: Vec<(u32, u32)>,
    /// ip_local_port_range, when known.
    pub(crate) range: Option<(u16, u16)>,
    /// Ephemeral ports in use per (family, source, destination, destination port); full census only.
    pub(crate) dests: FxHashMap<(Family, Addr, Addr, u16), u32>,
    /// Per owning pid; sockets only in a full census.
    pub(crate) procs: PidCounts,
    /// Per cgroup id (0: none, as TIME-WAIT and request sockets have), every socket counted: the
    /// id comes with each socket, so this costs one hash lookup and no /proc walk.
    pub(crate) cgroups: FxHashMap<u64, CgroupCounts>,
}

impl ScrapeCounts {
    pub(crate) fn new(full: bool, range: Option<(u16, u16)>) -> ScrapeCounts {
        ScrapeCounts {
            full,
            states: [[0; 12]; 4],
            hashed: [0; 2],
            listeners: FxHashMap::default(),
            ports: Vec::new(),
            range,
            dests: FxHashMap::default(),
            procs: FxHashMap::default(),
            cgroups: FxHashMap::default(),
        }
    }

    pub(crate) fn add(&mut self, s: &Socket, owners: Option<&SocketOwners>) {
        let slot = slot(s);
        self.states[slot][s.state as usize] += 1;
        self.cgroups.entry(s.cgroup_id).or_default()[usize::from(s.proto == Proto::Udp)]
            [s.state as usize] += 1;
        if self.full || s.state == State::CloseWait {
            let pid = match owners {
                Some(o) if s.inode != 0 => o.owners(s.inode).next().map_or(0, |o| o.pid),
                _ => 0,
            };
            let p = self.procs.entry(pid).or_default();
            p.0 += 1;
            if s.state == State::CloseWait {
                p.1 += 1;
            }
        }
        if s.proto != Proto::Tcp {
            return;
        }
        match s.state {
            State::Listen => {
                self.listeners.insert(s.local_port, (s.recv_q, s.send_q));
            }
            State::Established | State::SynRecv => {
                if self.ports.is_empty() {
                    self.ports = vec![(0, 0); 65536];
                }
                let e = &mut self.ports[usize::from(s.local_port)];
                if s.state == State::Established {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
            }
            _ => {}
        }
        // TIME-WAIT sockets, and FIN-WAIT-2 ones the kernel turned into TIME-WAIT structures (their
        // timer says so), left the hash of full sockets; request sockets never entered it.
        if !matches!(
            s.state,
            State::Established | State::SynRecv | State::TimeWait
        ) && s.timer.kind != TimerKind::TimeWait
        {
            self.hashed[slot] += 1;
        }
        if let (true, Some((lo, hi))) = (self.full, self.range) {
            if s.state != State::Listen && s.remote_port != 0 && (lo..=hi).contains(&s.local_port) {
                *self
                    .dests
                    .entry((s.family, s.local, s.remote, s.remote_port))
                    .or_default() += 1;
            }
        }
    }

    /// ESTABLISHED TCP sockets per family, for a census that left them in the kernel: the kernel's
    /// count of full sockets in use minus those of other states the dump saw.
    pub(crate) fn derive_established(&mut self, st: &SockStat) {
        for (slot, inuse) in [(0, st.tcp_inuse), (1, st.tcp6_inuse)] {
            self.states[slot][State::Established as usize] =
                inuse.saturating_sub(self.hashed[slot]);
        }
    }

    /// (ESTABLISHED, SYN-RECV) at a local port.
    pub(crate) fn port(&self, p: u16) -> (u32, u32) {
        self.ports.get(usize::from(p)).copied().unwrap_or_default()
    }

    /// Fold another dump's counts into these.
    pub(crate) fn merge(&mut self, o: ScrapeCounts) {
        for (mine, theirs) in self.states.iter_mut().zip(o.states.iter()) {
            for (a, b) in mine.iter_mut().zip(theirs.iter()) {
                *a += b;
            }
        }
        self.hashed[0] += o.hashed[0];
        self.hashed[1] += o.hashed[1];
        self.listeners.extend(o.listeners);
        if self.ports.is_empty() {
            self.ports = o.ports;
        } else if !o.ports.is_empty() {
            for (a, b) in self.ports.iter_mut().zip(o.ports.iter()) {
                a.0 += b.0;
                a.1 += b.1;
            }
        }
        for (k, v) in o.dests {
            *self.dests.entry(k).or_default() += v;
        }
        for (k, v) in o.procs {
            let e = self.procs.entry(k).or_default();
            e.0 += v.0;
            e.1 += v.1;
        }
        for (id, theirs) in o.cgroups {
            let mine = self.cgroups.entry(id).or_default();
            for (a, b) in mine.iter_mut().flatten().zip(theirs.iter().flatten()) {
                *a += b;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::SocketAddr;

    use super::*;

    fn tcp(state: State, local: &str, remote: &str) -> Socket {
        let addr = |a: &str| a.parse::<SocketAddr>().expect("address");
        Socket::tcp(state, addr(local), addr(remote))
    }

    /// A listener on :80 with 3 queued of 128, two clients from ephemeral ports to 10.0.0.9:5432,
    /// connections to :80, one SYN-RECV, one CLOSE-WAIT and one TIME-WAIT.
    pub(crate) fn sockets() -> Vec<Socket> {
        let mut listener = tcp(State::Listen, "0.0.0.0:80", "0.0.0.0:0");
        listener.recv_q = 3;
        listener.send_q = 128;
        vec![
            listener,
            tcp(State::Established, "10.0.0.1:80", "10.0.0.7:40000"),
            tcp(State::Established, "10.0.0.1:80", "10.0.0.8:40001"),
            tcp(State::SynRecv, "10.0.0.1:80", "10.0.0.8:40002"),
            tcp(State::Established, "10.0.0.1:33000", "10.0.0.9:5432"),
            tcp(State::Established, "10.0.0.1:33001", "10.0.0.9:5432"),
            tcp(State::CloseWait, "10.0.0.1:80", "10.0.0.7:40003"),
            tcp(State::TimeWait, "10.0.0.1:80", "10.0.0.7:40004"),
        ]
    }

    #[test]
    fn counts_merged_from_two_dumps_equal_one_count_of_all() {
        let all = sockets();
        let mut one = ScrapeCounts::new(true, Some((32768, 60999)));
        for s in &all {
            one.add(s, None);
        }
        let (a, b) = all.split_at(3);
        let mut merged = ScrapeCounts::new(true, Some((32768, 60999)));
        let mut other = ScrapeCounts::new(true, Some((32768, 60999)));
        a.iter().for_each(|s| merged.add(s, None));
        b.iter().for_each(|s| other.add(s, None));
        merged.merge(other);
        for t in [&one, &merged] {
            assert_eq!(t.states[0][State::Established as usize], 4);
            assert_eq!(t.port(80), (2, 1));
            assert_eq!(t.listeners.get(&80), Some(&(3, 128)));
            // Both clients towards 10.0.0.9:5432 from the port range; connections to :80 are not.
            assert_eq!(t.dests.values().copied().collect::<Vec<_>>(), vec![2]);
            // No owners known: every socket counts under pid 0, one of them in CLOSE-WAIT.
            assert_eq!(t.procs.get(&0), Some(&(8, 1)));
        }
    }

    #[test]
    fn established_is_what_sockstat_counts_beyond_the_other_hashed_states() {
        let mut t = ScrapeCounts::new(false, None);
        for s in sockets().iter().filter(|s| s.state != State::Established) {
            t.add(s, None);
        }
        // The listener and the CLOSE-WAIT socket are hashed full sockets; SYN-RECV and TIME-WAIT not.
        assert_eq!(t.hashed, [2, 0]);
        t.derive_established(&SockStat {
            tcp_inuse: 6,
            ..SockStat::default()
        });
        assert_eq!(t.states[0][State::Established as usize], 4);
        // A cheap count keeps per-process counts for CLOSE-WAIT sockets only.
        assert_eq!(t.procs.get(&0), Some(&(1, 1)));
        assert!(t.dests.is_empty());
    }
}
