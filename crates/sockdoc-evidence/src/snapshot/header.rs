//! The JSON header of a snapshot: who and when, the record sizes, and per namespace what was
//! known, the kernel state, the processes and the services. Every field is documented in
//! docs/snapshot.md. Fields a reader does not know are ignored and fields it misses take their
//! defaults, so a file stays readable when later versions add to it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sockdoc_core::doctor::kernel::Sysctls;
use sockdoc_core::doctor::KernelState;
use sockdoc_core::service::Service;
use sockdoc_proc::conntrack::Conntrack;
use sockdoc_proc::counters::Counters;
use sockdoc_proc::limits::{FdPressure, FileNr};
use sockdoc_proc::sockstat::SockStat;
use sockdoc_proc::sysctl::ConfigEntry;
use sockdoc_proc::{ProcInfo, WalkStats};

use crate::Known;

/// The `format` value of every snapshot header.
pub const FORMAT: &str = "sockdoc snapshot";

/// The whole header.
#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    /// The format version (the same as in the preamble).
    pub version: u32,
    /// The sockdoc that wrote it.
    #[serde(default)]
    pub sockdoc: String,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub kernel: Option<String>,
    /// When the census started, RFC 3339 UTC.
    #[serde(default)]
    pub taken: Option<String>,
    /// How long the census took (every namespace), milliseconds.
    #[serde(default)]
    pub census_ms: u64,
    /// Bytes of one socket record as written (a reader skips what it does not know).
    pub socket_record: u64,
    /// Bytes of one owner entry as written.
    pub owner_record: u64,
    pub namespaces: Vec<NsHeader>,
}

/// One namespace.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NsHeader {
    /// As the census labelled it (`blue [net:4026532001]`).
    pub label: String,
    /// The namespace's inode.
    pub inode: u64,
    /// Names under /run/netns.
    pub names: Vec<String>,
    /// The namespace sockdoc ran in.
    pub current: bool,
    /// Socket records of this namespace in the binary part.
    pub sockets: u64,
    /// Owner entries of this namespace in the binary part.
    pub owner_entries: u64,
    /// What the census could tell, by name (see [`Known`]).
    pub known: Vec<String>,
    /// Degradations the census noted (one line each).
    pub notes: Vec<String>,
    /// The processes owning sockets and the walk's counts; absent when owners were not read.
    pub owners: Option<OwnersHeader>,
    /// The services of the sockets' cgroups; absent when not read.
    pub services: Option<Vec<Service>>,
    pub kernel: Option<KernelHeader>,
    /// The conntrack table counted, each breakdown cut to its largest keys; absent when conntrack
    /// was not active (or in snapshots before it was kept).
    pub conntrack_table: Option<sockdoc_proc::conntrack_table::TableCounts>,
}

/// The processes owning sockets.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct OwnersHeader {
    pub stats: WalkStats,
    pub processes: Vec<ProcessHeader>,
}

/// One process owning sockets.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessHeader {
    pub pid: u32,
    #[serde(flatten)]
    pub info: ProcInfo,
}

/// Counters by group and name.
type CounterMap = BTreeMap<String, BTreeMap<String, i64>>;

/// The kernel state of one namespace.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KernelHeader {
    /// Read as the census started.
    pub counters_before: CounterMap,
    /// Read as it ended.
    pub counters_after: CounterMap,
    /// Between the two readings, microseconds.
    pub interval_us: u64,
    pub sysctls: Sysctls,
    pub conntrack_before: Option<Conntrack>,
    pub conntrack_after: Option<Conntrack>,
    pub file_nr: Option<FileNr>,
    pub fd_pressure: Vec<FdPressure>,
    pub sysctl_config: Vec<ConfigHeader>,
    pub sockstat: SockStat,
}

/// A sysctl config file entry and whether the kernel has its key.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConfigHeader {
    #[serde(flatten)]
    pub entry: ConfigEntry,
    #[serde(default)]
    pub known_key: bool,
}

fn counters_out(c: &Counters) -> CounterMap {
    let mut m = CounterMap::new();
    for (g, n, v) in c.iter() {
        m.entry(g.to_string()).or_default().insert(n.to_string(), v);
    }
    m
}

fn counters_in(m: &CounterMap) -> Counters {
    let mut c = Counters::default();
    for (g, names) in m {
        for (n, v) in names {
            c.set(g, n, *v);
        }
    }
    c
}

impl KernelHeader {
    pub fn of(k: &KernelState) -> KernelHeader {
        KernelHeader {
            counters_before: counters_out(&k.counters_before),
            counters_after: counters_out(&k.counters_after),
            interval_us: u64::try_from(k.interval.as_micros()).unwrap_or(u64::MAX),
            sysctls: k.sysctls.clone(),
            conntrack_before: k.conntrack_before,
            conntrack_after: k.conntrack_after,
            file_nr: k.file_nr,
            fd_pressure: k.fd_pressure.clone(),
            sysctl_config: k
                .config
                .iter()
                .map(|(entry, known_key)| ConfigHeader {
                    entry: entry.clone(),
                    known_key: *known_key,
                })
                .collect(),
            sockstat: k.sockstat,
        }
    }

    pub fn state(self) -> KernelState {
        KernelState {
            counters_before: counters_in(&self.counters_before),
            counters_after: counters_in(&self.counters_after),
            interval: std::time::Duration::from_micros(self.interval_us),
            sysctls: self.sysctls,
            conntrack_before: self.conntrack_before,
            conntrack_after: self.conntrack_after,
            file_nr: self.file_nr,
            fd_pressure: self.fd_pressure,
            config: self
                .sysctl_config
                .into_iter()
                .map(|c| (c.entry, c.known_key))
                .collect(),
            sockstat: self.sockstat,
        }
    }
}

/// The names of what `k` holds true.
pub fn known_out(k: Known) -> Vec<String> {
    let mut k = k;
    Known::FLAGS
        .iter()
        .filter(|(_, flag)| *flag(&mut k))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// What the names say is known (names this version does not know are ignored).
pub fn known_in(names: &[String]) -> Known {
    let mut k = Known::default();
    for (name, flag) in Known::FLAGS {
        if names.iter().any(|n| n == name) {
            *flag(&mut k) = true;
        }
    }
    // Snapshots before `backlogs` was named took their queues from the kernel, backlogs with them.
    if !names.iter().any(|n| n == "backlogs") {
        k.backlogs = k.queues;
    }
    k
}
