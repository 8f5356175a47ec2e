//! Connections stuck on the way out: CLOSE-WAIT leaks (the application never calls close()) and
//! peers that stopped answering while we have data in flight (retransmit timer running).

use std::collections::BTreeMap;

use sockdoc_diag::{Proto, Socket, State, TimerKind};

use super::{num, Finding, Input, Row, ServiceOf, Severity};

/// CLOSE-WAIT idle at least this long counts as leaked.
const LEAK_IDLE_MS: u64 = 10_000;
/// Or at least this many in one process.
const LEAK_COUNT: u64 = 100;
const LEAK_CRITICAL: u64 = 1000;

pub fn close_wait_leak(input: &Input) -> Option<Finding> {
    #[derive(Default)]
    struct G {
        name: String,
        service: ServiceOf,
        count: u64,
        max_idle: u64,
    }
    let mut groups: BTreeMap<(u32, u16), G> = BTreeMap::new();
    let mut total = 0u64;
    for s in input
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.state == State::CloseWait)
    {
        total += 1;
        let (pid, name) = input.owner(s.inode);
        let g = groups.entry((pid, s.local_port)).or_default();
        g.name = name;
        if g.service.is_empty() {
            g.service = input.service(s.cgroup_id);
        }
        g.count += 1;
        g.max_idle = g
            .max_idle
            .max(s.tcp.map_or(0, |t| u64::from(t.last_data_recv_ms)));
    }
    let mut rows: Vec<((u32, u16), G)> = groups
        .into_iter()
        .filter(|(_, g)| g.count >= LEAK_COUNT || g.max_idle >= LEAK_IDLE_MS)
        .collect();
    if rows.is_empty() {
        return None;
    }
    rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
    let leaked: u64 = rows.iter().map(|r| r.1.count).sum();
    let severity = if leaked >= LEAK_CRITICAL {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let groups = rows
        .into_iter()
        .map(|((pid, local_port), g)| LeakGroup {
            pid,
            process: g.name,
            service: g.service,
            local_port,
            count: g.count,
            max_idle_ms: g.max_idle,
        })
        .collect();
    let e = CloseWaitLeak {
        close_wait: total,
        leaked,
        groups,
    };
    Some(Finding::new(input.lang, severity, e))
}

/// CLOSE-WAIT sockets of one process on one local port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeakGroup {
    pub pid: u32,
    pub process: String,
    /// The process's unit, container and pod.
    pub service: ServiceOf,
    pub local_port: u16,
    pub count: u64,
    pub max_idle_ms: u64,
}

/// CLOSE-WAIT leaks: groups past the leak rule, the largest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseWaitLeak {
    /// Every CLOSE-WAIT socket.
    pub close_wait: u64,
    /// Those in the groups (leaked).
    pub leaked: u64,
    /// Never empty.
    pub groups: Vec<LeakGroup>,
}

impl super::Kind for CloseWaitLeak {
    const ID: &'static str = "close-wait-leak";
    fn numbers(&self) -> Vec<(&'static str, i64)> {
        vec![("close_wait", num(self.close_wait))]
    }
    fn rows(&self) -> Vec<Row> {
        self.groups
            .iter()
            .map(|g| {
                Row::default()
                    .with("pid", g.pid)
                    .with("process", g.process.as_str())
                    .service(&g.service)
                    .with("local_port", g.local_port)
                    .with("count", g.count)
                    .with("max_idle_ms", g.max_idle_ms)
            })
            .collect()
    }
}

/// Retransmitting connections of one process to one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerGroup {
    pub pid: u32,
    pub process: String,
    pub service: ServiceOf,
    pub remote_ip: String,
    pub count: u64,
    pub max_retrans: u64,
}

/// Connections retransmitting to peers that do not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreachablePeers {
    pub connections: u64,
    pub tcp_retries2: u64,
    /// Never empty, the largest first.
    pub groups: Vec<PeerGroup>,
}

impl super::Kind for UnreachablePeers {
    const ID: &'static str = "unreachable-peers";
    fn numbers(&self) -> Vec<(&'static str, i64)> {
        vec![
            ("connections", num(self.connections)),
            ("tcp_retries2", num(self.tcp_retries2)),
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
                    .with("remote_ip", g.remote_ip.as_str())
                    .with("count", g.count)
                    .with("max_retrans", g.max_retrans)
            })
            .collect()
    }
}

/// A connection retransmitting to its peer (not a handshake): what [`unreachable_peers`] groups.
pub fn is_retransmitting(s: &Socket) -> bool {
    s.proto == Proto::Tcp
        && s.timer.kind == TimerKind::On
        && s.timer.count > 0
        && !matches!(s.state, State::SynSent | State::SynRecv)
}

#[cfg(test)]
pub fn unreachable_peers(input: &Input) -> Option<Finding> {
    unreachable_of(input, input.sockets.iter().filter(|s| is_retransmitting(s)))
}

/// [`unreachable_peers`] of the retransmitting connections already picked.
pub(super) fn unreachable_of<'s>(
    input: &Input,
    retransmitting: impl Iterator<Item = &'s Socket>,
) -> Option<Finding> {
    #[derive(Default)]
    struct G {
        name: String,
        service: ServiceOf,
        count: u64,
        max_retrans: u64,
    }
    let mut groups: BTreeMap<(u32, String), G> = BTreeMap::new();
    let mut total = 0u64;
    for s in retransmitting {
        total += 1;
        let (pid, name) = input.owner(s.inode);
        let g = groups.entry((pid, s.remote_ip().to_string())).or_default();
        g.name = name;
        if g.service.is_empty() {
            g.service = input.service(s.cgroup_id);
        }
        g.count += 1;
        g.max_retrans = g.max_retrans.max(u64::from(s.timer.count));
    }
    if total == 0 {
        return None;
    }
    let mut rows: Vec<((u32, String), G)> = groups.into_iter().collect();
    rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
    let groups = rows
        .into_iter()
        .map(|((pid, remote_ip), g)| PeerGroup {
            pid,
            process: g.name,
            service: g.service,
            remote_ip,
            count: g.count,
            max_retrans: g.max_retrans,
        })
        .collect();
    let e = UnreachablePeers {
        connections: total,
        tcp_retries2: input.kernel.sysctls.retries2.unwrap_or(15),
        groups,
    };
    Some(Finding::new(input.lang, Severity::Warning, e))
}
