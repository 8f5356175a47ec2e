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

#[cfg(test)]
pub fn ephemeral_ports(input: &Input) -> Option<Finding> {
    let mut tally = Tally::new(input)?;
    for s in input.sockets {
        tally.add(s);
    }
    ephemeral_of(input, &tally)
}

/// What [`ephemeral_of`] needs counted from every socket, in one pass. A group (local address,
/// remote address, remote port) holds at most the connections to its remote port, and at most
/// those in its bucket of a small table of group hashes: only a connection whose port and bucket
/// could both reach the threshold is grouped in a map (usually none: no hashing of every one).
pub(super) struct Tally {
    low: u64,
    high: u64,
    by_port: Vec<u64>,
    by_bucket: Vec<u64>,
}

impl Tally {
    /// `None` when the kernel's port range is unknown or empty.
    pub(super) fn new(input: &Input) -> Option<Tally> {
        let (low, high) = input.kernel.sysctls.port_range?;
        (high >= low).then(|| Tally {
            low,
            high,
            by_port: vec![0; usize::from(u16::MAX) + 1],
            by_bucket: vec![0; BUCKETS],
        })
    }

    fn range(&self) -> u64 {
        self.high - self.low + 1
    }

    /// A connection from an ephemeral port.
    fn candidate(&self, s: &Socket) -> bool {
        s.proto == Proto::Tcp
            && s.state != State::Listen
            && s.remote_port != 0
            && (self.low..=self.high).contains(&u64::from(s.local_port))
    }

    pub(super) fn add(&mut self, s: &Socket) {
        if self.candidate(s) {
            self.by_port[usize::from(s.remote_port)] += 1;
            self.by_bucket[bucket(s)] += 1;
        }
    }

    /// Whether `s` may be in a group at the threshold.
    fn hot(&self, s: &Socket) -> bool {
        let range = self.range();
        self.candidate(s)
            && percent(self.by_port[usize::from(s.remote_port)], range) >= 50
            && percent(self.by_bucket[bucket(s)], range) >= 50
    }
}

/// Buckets of [`Tally`]'s group table (512 KiB: it stays in cache).
const BUCKETS: usize = 1 << 16;

/// The bucket of a connection's group (local address, remote address, remote port, family).
fn bucket(s: &Socket) -> usize {
    let word = |a: &Addr| {
        let (hi, lo) = a.bytes.split_at(8);
        let part = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
        part(hi) ^ part(lo).rotate_left(31)
    };
    let x = word(&s.local).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ word(&s.remote).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ (u64::from(s.remote_port) << 8 | s.family as u64);
    (x.wrapping_mul(0x1656_67B1_9E37_79F9) >> 48) as usize
}

/// Ephemeral-port exhaustion from `tally`, a count of every socket of `input`.
pub(super) fn ephemeral_of(input: &Input, tally: &Tally) -> Option<Finding> {
    let range = tally.range();
    let at_threshold = |n: &u64| percent(*n, range) >= 50;
    if !tally.by_port.iter().any(at_threshold) || !tally.by_bucket.iter().any(at_threshold) {
        return None;
    }
    let (lo, hi) = (tally.low, tally.high);
    let mut used: FxHashMap<(Addr, Addr, u16, sockdoc_diag::Family), u64> = FxHashMap::default();
    for s in input.sockets.iter().filter(|s| tally.hot(s)) {
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
