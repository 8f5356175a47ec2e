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
        }
    }

    pub(crate) fn add(&mut self, s: &Socket, owners: Option<&SocketOwners>) {
        let slot = slot(s);
        self.states[slot][s.state as usize] += 1;
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
    }
}
