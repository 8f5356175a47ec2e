//! Piles that are not leaks of one process: SYN-SENT fan-out (a scanner or worm, or one dead upstream),
//! connections stuck closing (FIN-WAIT-1/2, LAST-ACK, CLOSING) and orphans against `tcp_max_orphans`,
//! and UDP: sockets hoarded by a process, datagrams dropped for lack of receive buffer.

use std::collections::{BTreeMap, BTreeSet};

use sockdoc_diag::{Proto, State};

use super::{num, percent, Finding, Input, Row, ServiceOf, Severity};

/// SYN-SENT sockets from which fan-out is reported.
const SYN_SENT_MIN: u64 = 16;
/// Distinct destination hosts that make SYN-SENT look like scanning.
const SCAN_HOSTS: usize = 16;

pub fn syn_sent_fanout(input: &Input) -> Option<Finding> {
    #[derive(Default)]
    struct G {
        name: String,
        service: ServiceOf,
        count: u64,
        hosts: BTreeSet<String>,
        dests: BTreeMap<String, u64>,
    }
    let mut groups: BTreeMap<u32, G> = BTreeMap::new();
    let mut total = 0u64;
    let mut all_hosts = BTreeSet::new();
    for s in input
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.state == State::SynSent)
    {
        total += 1;
        let (pid, name) = input.owner(s.inode);
        let g = groups.entry(pid).or_default();
        g.name = name;
        if g.service.is_empty() {
            g.service = input.service(s.cgroup_id);
        }
        g.count += 1;
        let host = s.remote_ip().to_string();
        all_hosts.insert(host.clone());
        g.hosts.insert(host);
        *g.dests.entry(s.remote_addr().to_string()).or_default() += 1;
    }
    if total < SYN_SENT_MIN {
        return None;
    }
    let mut rows: Vec<(u32, G)> = groups.into_iter().collect();
    rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
    let groups = rows
        .into_iter()
        .map(|(pid, g)| {
            let top = g
                .dests
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(d, _)| d.clone())
                .unwrap_or_default();
            FanoutGroup {
                pid,
                process: g.name,
                service: g.service,
                count: g.count,
                hosts: g.hosts.len(),
                top_destination: top,
            }
        })
        .collect();
    let e = SynSentFanout {
        syn_sent: total,
        hosts: all_hosts.len(),
        scanning: all_hosts.len() >= SCAN_HOSTS,
        groups,
    };
    Some(Finding::new(input.lang, Severity::Warning, e))
}

/// SYN-SENT sockets of one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FanoutGroup {
    pub pid: u32,
    pub process: String,
    /// The process's unit, container and pod.
    pub service: ServiceOf,
    pub count: u64,
    /// Distinct destination hosts.
    pub hosts: usize,
    /// The destination (address:port) it tries most.
    pub top_destination: String,
}

/// Connection attempts that hang (SYN-SENT).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynSentFanout {
    pub syn_sent: u64,
    /// Distinct destination hosts in all.
    pub hosts: usize,
    /// So many hosts that it looks like scanning.
    pub scanning: bool,
    /// Never empty, the largest first.
    pub groups: Vec<FanoutGroup>,
}

impl super::Kind for SynSentFanout {
    const ID: &'static str = "syn-sent-fanout";
    fn numbers(&self) -> Vec<(&'static str, i64)> {
        vec![
            ("syn_sent", num(self.syn_sent)),
            ("hosts", num(self.hosts)),
            ("scanning", i64::from(self.scanning)),
        ]
    }
    fn rows(&self) -> Vec<Row> {
        self.groups
            .iter()
            .map(|g| {
                Row::default()
                    .with("pid", g.pid)
                    .with("process", g.process.as_str())
                    .service(&g.service)
                    .with("count", g.count)
                    .with("hosts", g.hosts)
                    .with("top_destination", g.top_destination.as_str())
            })
            .collect()
    }
}

/// Sockets in closing states from which a pile is reported.
const CLOSING_MIN: u64 = 100;

pub fn closing_piles(input: &Input) -> Option<Finding> {
    let closing = [
        State::FinWait1,
        State::FinWait2,
        State::LastAck,
        State::Closing,
    ];
    let mut per_state: BTreeMap<State, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
    for s in input
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && closing.contains(&s.state))
    {
        let e = per_state.entry(s.state).or_default();
        e.0 += 1;
        *e.1.entry(s.remote_ip().to_string()).or_default() += 1;
    }
    let total: u64 = per_state.values().map(|v| v.0).sum();
    // Orphans are counted host-wide by the kernel, and tcp_max_orphans exists only in the host's own
    // namespace: they are judged only where the limit is known.
    let orphans = input.kernel.sockstat.tcp_orphan;
    let max_orphans = input.kernel.sysctls.max_orphans.unwrap_or(0);
    let orphan_pct = percent(orphans, max_orphans);
    let severity = if orphan_pct >= 90 {
        Severity::Critical
    } else if orphan_pct >= 50 || total >= CLOSING_MIN {
        Severity::Warning
    } else {
        return None;
    };
    let count = |st: State| per_state.get(&st).map_or(0, |v| v.0);
    let e = ClosingPiles {
        fin_wait_1: count(State::FinWait1),
        fin_wait_2: count(State::FinWait2),
        last_ack: count(State::LastAck),
        closing: count(State::Closing),
        orphans,
        max_orphans,
        groups: per_state
            .iter()
            .map(|(st, (n, peers))| ClosingState {
                state: *st,
                count: *n,
                top_remote_ip: peers
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(p, _)| p.clone())
                    .unwrap_or_default(),
            })
            .collect(),
    };
    Some(Finding::new(input.lang, severity, e))
}

/// Sockets in one closing state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosingState {
    pub state: State,
    pub count: u64,
    pub top_remote_ip: String,
}

/// Connections stuck closing, and orphans against `tcp_max_orphans`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosingPiles {
    pub fin_wait_1: u64,
    pub fin_wait_2: u64,
    pub last_ack: u64,
    pub closing: u64,
    /// Host-wide.
    pub orphans: u64,
    /// 0 where the limit is not known (outside the host's namespace).
    pub max_orphans: u64,
    pub groups: Vec<ClosingState>,
}

impl ClosingPiles {
    /// Every socket in a closing state.
    pub fn total(&self) -> u64 {
        self.fin_wait_1 + self.fin_wait_2 + self.last_ack + self.closing
    }
}

impl super::Kind for ClosingPiles {
    const ID: &'static str = "closing-piles";
    fn numbers(&self) -> Vec<(&'static str, i64)> {
        vec![
            ("fin_wait_1", num(self.fin_wait_1)),
            ("fin_wait_2", num(self.fin_wait_2)),
            ("last_ack", num(self.last_ack)),
            ("closing", num(self.closing)),
            ("orphans", num(self.orphans)),
            ("max_orphans", num(self.max_orphans)),
        ]
    }
    fn rows(&self) -> Vec<Row> {
        self.groups
            .iter()
            .map(|g| {
                Row::default()
                    .with("state", g.state.key())
                    .with("count", g.count)
                    .with("top_remote_ip", g.top_remote_ip.as_str())
            })
            .collect()
    }
}

/// UDP sockets in one process from which hoarding is reported.
const UDP_HOARD: u64 = 1000;

pub fn udp(input: &Input) -> Option<Finding> {
    let rcvbuf =
        input.kernel.delta("Udp", "RcvbufErrors") + input.kernel.delta("Udp6", "RcvbufErrors");
    let inerr = input.kernel.delta("Udp", "InErrors") + input.kernel.delta("Udp6", "InErrors");
    #[derive(Default)]
    struct G {
        name: String,
        service: ServiceOf,
        count: u64,
        ports: BTreeSet<u16>,
        max_recv_q: u32,
    }
    let mut groups: BTreeMap<u32, G> = BTreeMap::new();
    let mut total = 0u64;
    for s in input.sockets.iter().filter(|s| s.proto == Proto::Udp) {
        total += 1;
        let (pid, name) = input.owner(s.inode);
        let g = groups.entry(pid).or_default();
        g.name = name;
        if g.service.is_empty() {
            g.service = input.service(s.cgroup_id);
        }
        g.count += 1;
        g.ports.insert(s.local_port);
        g.max_recv_q = g.max_recv_q.max(s.recv_q);
    }
    let hoarders = groups.values().filter(|g| g.count >= UDP_HOARD).count();
    if rcvbuf == 0 && inerr == 0 && hoarders == 0 {
        return None;
    }
    let mut rows: Vec<(u32, G)> = groups
        .into_iter()
        .filter(|(_, g)| g.count >= UDP_HOARD || (rcvbuf > 0 && g.max_recv_q > 0))
        .collect();
    rows.sort_by(|a, b| {
        b.1.max_recv_q
            .cmp(&a.1.max_recv_q)
            .then(b.1.count.cmp(&a.1.count))
            .then(a.0.cmp(&b.0))
    });
    let e = UdpTrouble {
        rcvbuf_errors_delta: rcvbuf,
        in_errors_delta: inerr,
        udp_sockets: total,
        groups: rows
            .into_iter()
            .take(20)
            .map(|(pid, g)| UdpGroup {
                pid,
                process: g.name,
                service: g.service,
                sockets: g.count,
                ports: g.ports.len(),
                max_recv_q: g.max_recv_q,
            })
            .collect(),
    };
    Some(Finding::new(input.lang, Severity::Warning, e))
}

/// UDP sockets of one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpGroup {
    pub pid: u32,
    pub process: String,
    /// The process's unit, container and pod.
    pub service: ServiceOf,
    pub sockets: u64,
    /// Distinct local ports.
    pub ports: usize,
    pub max_recv_q: u32,
}

/// UDP datagrams dropped, or sockets hoarded by a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpTrouble {
    pub rcvbuf_errors_delta: i64,
    pub in_errors_delta: i64,
    pub udp_sockets: u64,
    /// Hoarders and processes behind on reading; at most 20.
    pub groups: Vec<UdpGroup>,
}

impl super::Kind for UdpTrouble {
    const ID: &'static str = "udp-trouble";
    fn numbers(&self) -> Vec<(&'static str, i64)> {
        vec![
            ("rcvbuf_errors_delta", self.rcvbuf_errors_delta),
            ("in_errors_delta", self.in_errors_delta),
            ("udp_sockets", num(self.udp_sockets)),
        ]
    }
    fn rows(&self) -> Vec<Row> {
        self.groups
            .iter()
            .map(|g| {
                Row::default()
                    .with("pid", g.pid)
                    .with("process", g.process.as_str())
                    .service(&g.service)
                    .with("sockets", g.sockets)
                    .with("ports", g.ports)
                    .with("max_recv_q", g.max_recv_q)
            })
            .collect()
    }
}
