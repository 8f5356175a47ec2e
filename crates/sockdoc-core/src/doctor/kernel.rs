//! The kernel state doctor judges besides sockets: SNMP counters read twice (rates, not totals since
//! boot), the sysctls that matter, conntrack, file-descriptor pressure and sysctl config files. Collected
//! by the calling thread, which must already be in the namespace looked at.

use std::time::{Duration, Instant};

use sockdoc_proc::conntrack::{self, Conntrack};
use sockdoc_proc::counters::Counters;
use sockdoc_proc::limits::{self, FdPressure, FileNr};
use sockdoc_proc::sockstat::SockStat;
use sockdoc_proc::sysctl::{self, ConfigEntry};

/// The sysctls doctor reads (None: not on this kernel or unreadable).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Sysctls {
    pub keepalive_time: Option<u64>,
    pub keepalive_probes: Option<u64>,
    pub keepalive_intvl: Option<u64>,
    pub max_tw_buckets: Option<u64>,
    pub port_range: Option<(u64, u64)>,
    pub retries2: Option<u64>,
    pub syncookies: Option<u64>,
    pub max_syn_backlog: Option<u64>,
    pub somaxconn: Option<u64>,
    pub fin_timeout: Option<u64>,
    pub tw_reuse: Option<u64>,
    pub max_orphans: Option<u64>,
    /// The settings `sysctl check` audits ([`crate::sysctl_audit::KEYS`]) as the kernel printed
    /// them (whitespace collapsed), by dotted key: what a snapshot or `sysctl -a` carries to be
    /// checked elsewhere. A key the kernel lacks is absent.
    pub values: std::collections::BTreeMap<String, String>,
}

impl Sysctls {
    pub fn read() -> Sysctls {
        let n = |name: &str| sysctl::read_u64(name).ok().flatten();
        Sysctls {
            keepalive_time: n("net.ipv4.tcp_keepalive_time"),
            keepalive_probes: n("net.ipv4.tcp_keepalive_probes"),
            keepalive_intvl: n("net.ipv4.tcp_keepalive_intvl"),
            max_tw_buckets: n("net.ipv4.tcp_max_tw_buckets"),
            port_range: sysctl::read_range("net.ipv4.ip_local_port_range")
                .ok()
                .flatten(),
            retries2: n("net.ipv4.tcp_retries2"),
            syncookies: n("net.ipv4.tcp_syncookies"),
            max_syn_backlog: n("net.ipv4.tcp_max_syn_backlog"),
            somaxconn: n("net.core.somaxconn"),
            fin_timeout: n("net.ipv4.tcp_fin_timeout"),
            tw_reuse: n("net.ipv4.tcp_tw_reuse"),
            max_orphans: n("net.ipv4.tcp_max_orphans"),
            values: crate::sysctl_audit::KEYS
                .iter()
                .filter_map(|k| {
                    let v = sysctl::read(k).ok().flatten()?;
                    Some((
                        k.to_string(),
                        v.split_whitespace().collect::<Vec<_>>().join(" "),
                    ))
                })
                .collect(),
        }
    }

    /// The kernel's keepalive window, ms: idle time + probes × interval (7875 s with the defaults).
    pub fn keepalive_window_ms(&self) -> u64 {
        let t = self.keepalive_time.unwrap_or(7200);
        let p = self.keepalive_probes.unwrap_or(9);
        let i = self.keepalive_intvl.unwrap_or(75);
        (t + p * i) * 1000
    }
}

/// Everything besides sockets, for one namespace.
#[derive(Clone, Debug, Default)]
pub struct KernelState {
    pub counters_before: Counters,
    pub counters_after: Counters,
    /// Time between the two counter readings.
    pub interval: Duration,
    pub sysctls: Sysctls,
    pub conntrack_before: Option<Conntrack>,
    pub conntrack_after: Option<Conntrack>,
    pub file_nr: Option<FileNr>,
    pub fd_pressure: Vec<FdPressure>,
    /// sysctl config file entries, with whether the kernel has each key.
    pub config: Vec<(ConfigEntry, bool)>,
    /// `/proc/net/sockstat` totals (orphans).
    pub sockstat: SockStat,
}

impl KernelState {
    /// Growth of a counter between the two readings (0 when either reading lacks it).
    pub fn delta(&self, group: &str, name: &str) -> i64 {
        match (
            self.counters_after.get(group, name),
            self.counters_before.get(group, name),
        ) {
            (Some(a), Some(b)) => a.saturating_sub(b).max(0),
            _ => 0,
        }
    }

    /// Read the first half now; [`Reading::finish`] reads the rest `interval` later.
    pub fn start() -> Reading {
        Reading {
            at: Instant::now(),
            counters: Counters::read().unwrap_or_default(),
            conntrack: conntrack::read().ok().flatten(),
        }
    }
}

/// Keep the processes that live in the calling thread's network namespace: a diagnosis of one
/// namespace speaks of its own processes.
fn in_this_namespace(list: Vec<FdPressure>) -> Vec<FdPressure> {
    use std::os::unix::fs::MetadataExt;
    let ino = |path: &str| std::fs::metadata(path).map(|m| m.ino()).ok();
    let Some(mine) = ino("/proc/thread-self/ns/net") else {
        return list;
    };
    list.into_iter()
        .filter(|p| ino(&format!("/proc/{}/ns/net", p.pid)) == Some(mine))
        .collect()
}

/// The first counter reading, waiting for the second.
pub struct Reading {
    at: Instant,
    counters: Counters,
    conntrack: Option<Conntrack>,
}

impl Reading {
    /// Wait until `interval` has passed since [`KernelState::start`], read again, and read the rest.
    pub fn finish(self, interval: Duration) -> KernelState {
        let elapsed = self.at.elapsed();
        if elapsed < interval {
            std::thread::sleep(interval - elapsed);
        }
        let counters_after = Counters::read().unwrap_or_default();
        let interval = self.at.elapsed();
        let config = sysctl::config_entries_known();
        KernelState {
            counters_before: self.counters,
            counters_after,
            interval,
            sysctls: Sysctls::read(),
            conntrack_before: self.conntrack,
            conntrack_after: conntrack::read().ok().flatten(),
            file_nr: limits::file_nr().ok(),
            fd_pressure: in_this_namespace(limits::fd_pressure(0.8)),
            config,
            sockstat: SockStat::read(),
        }
    }
}
