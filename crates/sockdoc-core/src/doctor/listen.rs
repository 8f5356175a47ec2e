//! Listeners under pressure: full accept queues (the application does not accept fast enough) and SYN
//! floods (request sockets piling up in SYN-RECV). Counters are judged as growth over the sampling
//! interval, never as totals since boot.

use std::collections::BTreeMap;

use sockdoc_diag::{Proto, State};

use super::{num, Finding, Input, Row, ServiceOf, Severity};

pub fn listen_overflow(input: &Input) -> Option<Finding> {
    let overflows = input.kernel.delta("TcpExt", "ListenOverflows");
    let drops = input.kernel.delta("TcpExt", "ListenDrops");
    let mut rows: Vec<(u16, u32, String, u32, u32, Severity, ServiceOf)> = Vec::new();
    for s in input
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.state == State::Listen)
    {
        let (queue, backlog) = (s.recv_q, s.send_q);
        if input.blind.backlogs {
            // The dump showed no backlog (Send-Q 0): a queue cannot be told full.
            continue;
        }
        let sev = if queue > 0 && queue >= backlog {
            Severity::Critical
        } else if queue > 0 && u64::from(queue) * 2 >= u64::from(backlog) {
            Severity::Warning
        } else {
            continue;
        };
        let (pid, name) = input.owner(s.inode);
        let service = input.service(s.cgroup_id);
        rows.push((s.local_port, pid, name, queue, backlog, sev, service));
    }
    if rows.is_empty() && overflows == 0 {
        return None;
    }
    rows.sort_by(|a, b| b.5.cmp(&a.5).then(b.3.cmp(&a.3)).then(a.0.cmp(&b.0)));
    let severity = rows
        .iter()
        .map(|r| r.5)
        .max()
        .unwrap_or(Severity::Warning)
        .max(if overflows > 0 {
            // Connections were dropped while we watched: that is an outage, not a risk.
            Severity::Critical
        } else {
            Severity::Info
        });
    let groups = rows
        .into_iter()
        .map(
            |(local_port, pid, process, accept_queue, backlog, _, service)| Backlogged {
                local_port,
                pid,
                process,
                service,
                accept_queue,
                backlog,
            },
        )
        .collect();
    let e = ListenOverflow {
        listen_overflows_delta: overflows,
        listen_drops_delta: drops,
        somaxconn: input.kernel.sysctls.somaxconn.unwrap_or(4096),
        groups,
    };
    Some(Finding::new(input.lang, severity, e))
}

/// A listener whose accept queue is at least half its backlog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backlogged {
    pub local_port: u16,
    pub pid: u32,
    pub process: String,
    /// The listener's unit, container and pod.
    pub service: ServiceOf,
    pub accept_queue: u32,
    pub backlog: u32,
}

/// Full accept queues, and connections dropped for them during the interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenOverflow {
    pub listen_overflows_delta: i64,
    pub listen_drops_delta: i64,
    pub somaxconn: u64,
    /// The worst first; may be empty when only the counter grew.
    pub groups: Vec<Backlogged>,
}

impl super::Kind for ListenOverflow {
    const ID: &'static str = "listen-overflow";
    fn numbers(&self) -> Vec<(&'static str, i64)> {
        vec![
            ("listen_overflows_delta", self.listen_overflows_delta),
            ("listen_drops_delta", self.listen_drops_delta),
        ]
    }
    fn rows(&self) -> Vec<Row> {
        self.groups
            .iter()
            .map(|g| {
                Row::default()
                    .with("local_port", g.local_port)
                    .with("pid", g.pid)
                    .with("process", g.process.as_str())
                    .service(&g.service)
                    .with("accept_queue", g.accept_queue)
                    .with("backlog", g.backlog)
            })
            .collect()
    }
}

/// SYN-RECV sockets on one listening port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynPort {
    pub local_port: u16,
    pub syn_recv: u64,
    pub backlog: u32,
}

/// Half-open handshakes piling up: a SYN flood, or lost final ACKs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynFlood {
    /// Every SYN-RECV socket.
    pub syn_recv: u64,
    pub syncookies: u64,
    pub tcp_max_syn_backlog: u64,
    pub req_q_full_drop_delta: i64,
    pub syncookies_sent_delta: i64,
    /// Never empty, the largest first.
    pub groups: Vec<SynPort>,
}

impl super::Kind for SynFlood {
    const ID: &'static str = "syn-flood";
    fn numbers(&self) -> Vec<(&'static str, i64)> {
        vec![
            ("syn_recv", num(self.syn_recv)),
            ("syncookies", num(self.syncookies)),
            ("tcp_max_syn_backlog", num(self.tcp_max_syn_backlog)),
        ]
    }
    fn rows(&self) -> Vec<Row> {
        self.groups
            .iter()
            .map(|g| {
                Row::default()
                    .with("local_port", g.local_port)
                    .with("syn_recv", g.syn_recv)
                    .with("backlog", g.backlog)
            })
            .collect()
    }
}

/// SYN-RECV sockets on one port from which a flood is reported.
const SYN_FLOOD_MIN: u64 = 64;

pub fn syn_flood(input: &Input) -> Option<Finding> {
    let mut per_port: BTreeMap<u16, u64> = BTreeMap::new();
    let mut backlog: BTreeMap<u16, u32> = BTreeMap::new();
    let mut total = 0u64;
    for s in input.sockets.iter().filter(|s| s.proto == Proto::Tcp) {
        match s.state {
            State::SynRecv => {
                total += 1;
                *per_port.entry(s.local_port).or_default() += 1;
            }
            State::Listen => {
                let b = backlog.entry(s.local_port).or_default();
                *b = (*b).max(s.send_q);
            }
            _ => {}
        }
    }
    let mut rows: Vec<(u16, u64, u32)> = per_port
        .into_iter()
        .filter(|(_, n)| *n >= SYN_FLOOD_MIN)
        .map(|(p, n)| (p, n, backlog.get(&p).copied().unwrap_or(0)))
        .collect();
    if rows.is_empty() {
        return None;
    }
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let critical = rows.iter().any(|&(_, n, b)| b > 0 && n >= u64::from(b));
    let severity = if critical {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let k = &input.kernel.sysctls;
    let e = SynFlood {
        syn_recv: total,
        syncookies: k.syncookies.unwrap_or(1),
        tcp_max_syn_backlog: k.max_syn_backlog.unwrap_or(0),
        req_q_full_drop_delta: input.kernel.delta("TcpExt", "TCPReqQFullDrop"),
        syncookies_sent_delta: input.kernel.delta("TcpExt", "SyncookiesSent"),
        groups: rows
            .into_iter()
            .map(|(local_port, syn_recv, backlog)| SynPort {
                local_port,
                syn_recv,
                backlog,
            })
            .collect(),
    };
    Some(Finding::new(input.lang, severity, e))
}
