//! TIME-WAIT pressure against `tcp_max_tw_buckets`, and ephemeral-port exhaustion per destination
//! against `ip_local_port_range` — with the right remedies and the folklore ones that are wrong.

use std::net::IpAddr;

use rustc_hash::FxHashMap;
use sockdoc_diag::{Addr, Proto, Socket, State};

use super::{num, percent, Finding, Input, Row, Severity};

pub fn time_wait_pressure(input: &Input) -> Option<Finding> {
    let tw = input
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.state == State::TimeWait)
        .count() as u64;
    let max = input.kernel.sysctls.max_tw_buckets?;
    let overflow = input.kernel.delta("TcpExt", "TCPTimeWaitOverflow");
    let pct = percent(tw, max);
    let severity = if overflow > 0 || pct >= 90 {
        Severity::Critical
    } else if pct >= 50 {
        Severity::Warning
    } else {
        return None;
    };
    let e = TimeWaitPressure {
        time_wait: tw,
        max_tw_buckets: max,
        percent: pct,
        overflow_delta: overflow,
    };
    Some(Finding::new(input.lang, severity, e))
}

/// TIME-WAIT sockets against `tcp_max_tw_buckets`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeWaitPressure {
    pub time_wait: u64,
    pub max_tw_buckets: u64,
    pub percent: u64,
    /// TIME-WAIT sockets destroyed early during the interval (TCPTimeWaitOverflow).
    pub overflow_delta: i64,
}

impl super::Kind for TimeWaitPressure {
    const ID: &'static str = "time-wait-pressure";
    fn numbers(&self) -> Vec<(&'static str, i64)> {
        vec![
            ("time_wait", num(self.time_wait)),
            ("max_tw_buckets", num(self.max_tw_buckets)),
            ("overflow_delta", self.overflow_delta),
        ]
    }
}

/// Ephemeral ports used from one local address to one destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortUse {
    pub local_ip: IpAddr,
    pub remote_ip: IpAddr,
    pub remote_port: u16,
    pub used: u64,
}

/// Destinations that use up at least half of `ip_local_port_range`, the fullest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EphemeralPorts {
    pub low: u64,
    pub high: u64,
    pub range_size: u64,
    /// Never empty; at most 20.
    pub groups: Vec<PortUse>,
}

impl EphemeralPorts {
    /// The share of the range `used` takes, in whole percent.
    pub fn percent(&self, used: u64) -> u64 {
        percent(used, self.range_size)
    }
}

impl super::Kind for EphemeralPorts {
    const ID: &'static str = "ephemeral-port-exhaustion";
    fn numbers(&self) -> Vec<(&'static str, i64)> {
        vec![("range_size", num(self.range_size))]
    }
    fn rows(&self) -> Vec<Row> {
        self.groups
            .iter()
            .map(|g| {
                Row::default()
                    .with("local_ip", g.local_ip.to_string())
                    .with("remote_ip", g.remote_ip.to_string())
                    .with("remote_port", g.remote_port)
                    .with("used", g.used)
                    .with("range_size", self.range_size)
                    .with("percent", self.percent(g.used))
            })
            .collect()
    }
}

pub fn ephemeral_ports(input: &Input) -> Option<Finding> {
    let (lo, hi) = input.kernel.sysctls.port_range?;
    if hi < lo {
        return None;
    }
    let range = hi - lo + 1;
    let candidate = |s: &&Socket| {
        s.proto == Proto::Tcp
            && s.state != State::Listen
            && s.remote_port != 0
            && (lo..=hi).contains(&u64::from(s.local_port))
    };
    // A group (local address, remote address, remote port) holds at most the connections to its
    // remote port: count those first, in a table by port, and group only the ports that could
    // reach the threshold (usually none: no hashing of every connection).
    let mut by_port = vec![0u64; usize::from(u16::MAX) + 1];
    for s in input.sockets.iter().filter(candidate) {
        by_port[usize::from(s.remote_port)] += 1;
    }
    let hot = |s: &&Socket| percent(by_port[usize::from(s.remote_port)], range) >= 50;
    let mut used: FxHashMap<(Addr, Addr, u16, sockdoc_diag::Family), u64> = FxHashMap::default();
    for s in input.sockets.iter().filter(candidate).filter(hot) {
        *used
            .entry((s.local, s.remote, s.remote_port, s.family))
            .or_default() += 1;
    }
    let mut rows: Vec<_> = used
        .into_iter()
        .filter(|(_, n)| percent(*n, range) >= 50)
        .collect();
    if rows.is_empty() {
        return None;
    }
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let worst = percent(rows[0].1, range);
    let severity = if worst >= 85 {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let groups = rows
        .iter()
        .take(20)
        .map(|((l, r, rport, fam), n)| PortUse {
            local_ip: l.to_ip(*fam),
            remote_ip: r.to_ip(*fam),
            remote_port: *rport,
            used: *n,
        })
        .collect();
    let e = EphemeralPorts {
        low: lo,
        high: hi,
        range_size: range,
        groups,
    };
    Some(Finding::new(input.lang, severity, e))
}
