//! Counting sockets: the state histogram per protocol and `--by` groupings (remote IP, ports, process,
//! systemd unit, container, pod, cgroup, peer prefix...) with top-N. Streaming: a socket is counted and forgotten, keys
//! are small values (addresses, ports, pids, cgroup ids), formatted only for the rows shown.

use std::net::IpAddr;

use rustc_hash::FxHashMap;
use sockdoc_diag::{Addr, Family, Proto, Socket, State};

use crate::service::{self, Lookup, NamePart, Services};
use crate::Owners;

/// Per-state counts, indexed by the kernel state number (1..=11).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateCounts(pub [u64; 12]);

impl StateCounts {
    pub fn add(&mut self, s: State) {
        self.0[s as usize] += 1;
    }
    pub fn get(&self, s: State) -> u64 {
        self.0[s as usize]
    }
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    pub fn merge(&mut self, o: &StateCounts) {
        for (a, b) in self.0.iter_mut().zip(o.0.iter()) {
            *a += b;
        }
    }
    /// Non-zero states, largest first.
    pub fn nonzero(&self) -> Vec<(State, u64)> {
        let mut v: Vec<(State, u64)> = State::ALL
            .iter()
            .map(|&s| (s, self.get(s)))
            .filter(|&(_, n)| n > 0)
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

/// What `--by` groups on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupBy {
    State,
    RemoteIp,
    RemotePort,
    LocalIp,
    LocalPort,
    Process,
    /// The systemd unit of the socket's cgroup (the cgroup's path when it has none).
    Unit,
    /// The container of the socket's cgroup; sockets of cgroups outside any container share one row.
    Container,
    /// The Kubernetes pod of the socket's cgroup; sockets outside any pod share one row.
    Pod,
    /// The socket's cgroup.
    Cgroup,
    /// Remote address truncated to a prefix (IPv4 bits, IPv6 bits).
    PeerPrefix(u8, u8),
}

impl GroupBy {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            GroupBy::State => "state",
            GroupBy::RemoteIp => "remote-ip",
            GroupBy::RemotePort => "remote-port",
            GroupBy::LocalIp => "local-ip",
            GroupBy::LocalPort => "local-port",
            GroupBy::Process => "process",
            GroupBy::Unit => "unit",
            GroupBy::Container => "container",
            GroupBy::Pod => "pod",
            GroupBy::Cgroup => "cgroup",
            GroupBy::PeerPrefix(..) => "peer-prefix",
        }
    }

    /// Parse a `--by` word; `prefix4`/`prefix6` set the peer-prefix lengths.
    pub fn parse(word: &str, prefix4: u8, prefix6: u8) -> Option<GroupBy> {
        Some(match word {
            "state" => GroupBy::State,
            "remote-ip" | "peer" | "dst" => GroupBy::RemoteIp,
            "remote-port" | "dport" => GroupBy::RemotePort,
            "local-ip" | "src" => GroupBy::LocalIp,
            "local-port" | "sport" | "port" => GroupBy::LocalPort,
            "process" | "proc" => GroupBy::Process,
            "unit" | "service" => GroupBy::Unit,
            "container" => GroupBy::Container,
            "pod" => GroupBy::Pod,
            "cgroup" => GroupBy::Cgroup,
            "peer-prefix" | "prefix" => GroupBy::PeerPrefix(prefix4.min(32), prefix6.min(128)),
            _ => return None,
        })
    }

    pub fn needs_owners(self) -> bool {
        self == GroupBy::Process
    }

    /// Keyed by cgroup id: the ids are counted as they stream in and named afterwards
    /// ([`Tally::cgroup_ids`], [`Tally::resolve_services`]).
    pub fn needs_cgroups(self) -> bool {
        matches!(
            self,
            GroupBy::Unit | GroupBy::Container | GroupBy::Pod | GroupBy::Cgroup
        )
    }
}

/// A group's identity, kept small and unformatted until shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    State(State),
    Ip(Family, Addr),
    Port(u16),
    /// Owning pid; 0 = no process (TIME-WAIT, orphans, request sockets, unknown).
    Pid(u32),
    /// The cgroup id of a unit's cgroup (of the socket's cgroup until
    /// [`Tally::resolve_services`]); 0 = no cgroup (TIME-WAIT, request sockets).
    Unit(u64),
    /// The cgroup id standing for a container (the lowest id counted in it; the socket's own
    /// cgroup until [`Tally::resolve_services`]); 0 = no cgroup.
    Container(u64),
    /// Sockets of cgroups outside any container.
    NoContainer,
    /// The cgroup id standing for a pod, as [`Key::Container`] for containers; 0 = no cgroup.
    Pod(u64),
    /// Sockets of cgroups outside any pod.
    NoPod,
    /// A socket's cgroup id; 0 = none.
    Cgroup(u64),
    Prefix(Family, Addr, u8),
    /// Connections out to a port (their local port is no listener's): top's port table keys them
    /// by the port they reach, shown `→443`, instead of one row per ephemeral port.
    PeerPort(u16),
    /// Sockets without a peer (listeners, unconnected UDP) in a grouping by peer: one row of
    /// their own rather than a peer `0.0.0.0` or `::`.
    NoPeer,
}

impl Key {
    /// The first owner of a socket inode, `Pid(0)` when none.
    fn owner(inode: u32, owners: &dyn Owners) -> Key {
        let mut pid = 0;
        owners.any(inode, &mut |p, _| {
            pid = p;
            true
        });
        Key::Pid(pid)
    }

    fn of(by: GroupBy, s: &Socket, owners: &dyn Owners) -> Key {
        let peerless = s.remote_port == 0 && s.remote == Addr::default();
        match by {
            GroupBy::RemoteIp | GroupBy::RemotePort | GroupBy::PeerPrefix(..) if peerless => {
                Key::NoPeer
            }
            GroupBy::State => Key::State(s.state),
            GroupBy::RemoteIp => Key::Ip(s.family, s.remote),
            GroupBy::RemotePort => Key::Port(s.remote_port),
            GroupBy::LocalIp => Key::Ip(s.family, s.local),
            GroupBy::LocalPort => Key::Port(s.local_port),
            GroupBy::Process => Key::owner(s.inode, owners),
            GroupBy::Unit => Key::Unit(s.cgroup_id),
            GroupBy::Container => Key::Container(s.cgroup_id),
            GroupBy::Pod => Key::Pod(s.cgroup_id),
            GroupBy::Cgroup => Key::Cgroup(s.cgroup_id),
            GroupBy::PeerPrefix(p4, p6) => {
                let bits = if s.family == Family::V4 { p4 } else { p6 };
                Key::Prefix(s.family, mask(s.remote, bits), bits)
            }
        }
    }
}

/// The container's (pod's) identity and the cgroup id of a `Key::Container` (`Key::Pod`) whose
/// cgroup is in one.
fn member(k: &Key, services: &Services) -> Option<(String, u64)> {
    let (id, pod) = match *k {
        Key::Container(id) => (id, false),
        Key::Pod(id) => (id, true),
        _ => return None,
    };
    let Lookup::Found(s) = services.get(id) else {
        return None;
    };
    if pod {
        s.pod.as_ref().map(|p| (p.uid.clone(), id))
    } else {
        s.container.as_ref().map(|c| (c.id.clone(), id))
    }
}

/// Zero every bit after the first `bits`.
fn mask(a: Addr, bits: u8) -> Addr {
    let mut out = a;
    for (i, b) in out.bytes.iter_mut().enumerate() {
        let start = (i * 8) as u32;
        let keep = u32::from(bits).saturating_sub(start).min(8);
        *b &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
    }
    out
}

/// One row of a grouping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub key: Key,
    pub count: u64,
    pub states: StateCounts,
}

impl Row {
    /// The key as users read it: `10.0.0.1`, `:21`... Process names come from the caller, unit,
    /// container and pod names and cgroup paths from the census's `services`. The rows of sockets
    /// outside any container or pod read `no-container` and `no-pod` here, sockets without a peer
    /// `no-peer` (a stable key for JSON);
    /// text output shows the catalog's words for them instead.
    pub fn key_text(
        &self,
        proc_name: &dyn Fn(u32) -> Option<String>,
        services: Option<&Services>,
    ) -> String {
        match self.key {
            Key::State(s) => s.ss_name().to_string(),
            Key::Ip(f, a) => fmt_ip(a.to_ip(f)),
            Key::Port(p) => p.to_string(),
            Key::PeerPort(p) => format!("→{p}"),
            Key::Pid(0) => "-".to_string(),
            Key::Pid(p) => match proc_name(p) {
                Some(n) => format!("{n}/{p}"),
                None => format!("pid {p}"),
            },
            Key::Prefix(f, a, bits) => format!("{}/{bits}", fmt_ip(a.to_ip(f))),
            Key::NoContainer => "no-container".to_string(),
            Key::NoPod => "no-pod".to_string(),
            Key::NoPeer => "no-peer".to_string(),
            Key::Unit(id) => service::name_text(services, id, NamePart::Unit),
            Key::Container(id) => service::name_text(services, id, NamePart::Container),
            Key::Pod(id) => service::name_text(services, id, NamePart::Pod),
            Key::Cgroup(id) => service::name_text(services, id, NamePart::Cgroup),
        }
    }
}

impl Row {
    /// What the row's cgroup id stands for, for the groupings keyed by one (`None` for the others).
    pub fn cgroup_id(&self) -> Option<u64> {
        match self.key {
            Key::Unit(id) | Key::Container(id) | Key::Pod(id) | Key::Cgroup(id) => Some(id),
            _ => None,
        }
    }

    /// The service of the row's cgroup id; `Unknown` for rows not keyed by one.
    pub fn lookup<'a>(&self, services: Option<&'a Services>) -> Lookup<'a> {
        match (self.cgroup_id(), services) {
            (Some(0), _) => Lookup::NoCgroup,
            (Some(id), Some(s)) => s.get(id),
            (Some(id), None) => Lookup::Unknown(id),
            (None, _) => Lookup::Unknown(0),
        }
    }
}

fn fmt_ip(ip: IpAddr) -> String {
    ip.to_string()
}

/// A finished grouping: top rows and what the rest adds up to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grouping {
    pub by: GroupBy,
    pub rows: Vec<Row>,
    /// Sockets in groups not shown.
    pub other: u64,
    /// Number of distinct groups.
    pub distinct: usize,
}

/// Streaming counts: totals per protocol and state, and one map per `--by`.
///
/// Groupings by owner need the /proc walk, which runs while the sockets stream in: [`Tally::add_deferred`]
/// counts everything else at once and keeps 8 bytes per socket (inode, state) for [`Tally::resolve`].
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub tcp: StateCounts,
    pub udp: StateCounts,
    by: Vec<GroupBy>,
    groups: Vec<FxHashMap<Key, StateCounts>>,
    pending: Vec<(u32, State)>,
}

impl Tally {
    pub fn new(by: &[GroupBy]) -> Tally {
        Tally {
            by: by.to_vec(),
            groups: by.iter().map(|_| FxHashMap::default()).collect(),
            ..Default::default()
        }
    }

    /// Count one socket.
    pub fn add(&mut self, s: &Socket, owners: &dyn Owners) {
        match s.proto {
            Proto::Tcp => self.tcp.add(s.state),
            Proto::Udp => self.udp.add(s.state),
        }
        for (by, map) in self.by.iter().zip(self.groups.iter_mut()) {
            map.entry(Key::of(*by, s, owners)).or_default().add(s.state);
        }
    }

    /// Count one socket now, except in groupings by owner: those wait for [`Tally::resolve`].
    pub fn add_deferred(&mut self, s: &Socket) {
        match s.proto {
            Proto::Tcp => self.tcp.add(s.state),
            Proto::Udp => self.udp.add(s.state),
        }
        let mut deferred = false;
        for (by, map) in self.by.iter().zip(self.groups.iter_mut()) {
            if by.needs_owners() {
                deferred = true;
            } else {
                map.entry(Key::of(*by, s, &crate::NoOwners))
                    .or_default()
                    .add(s.state);
            }
        }
        if deferred {
            self.pending.push((s.inode, s.state));
        }
    }

    /// Count the sockets [`Tally::add_deferred`] held back, now that owners are known.
    pub fn resolve(&mut self, owners: &dyn Owners) {
        let pending = std::mem::take(&mut self.pending);
        for (by, map) in self.by.iter().zip(self.groups.iter_mut()) {
            if by.needs_owners() {
                for &(inode, state) in &pending {
                    map.entry(Key::owner(inode, owners)).or_default().add(state);
                }
            }
        }
    }

    /// The cgroup ids the groupings by unit or cgroup counted (to look up once, after the count).
    pub fn cgroup_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .by
            .iter()
            .zip(self.groups.iter())
            .filter(|(by, _)| by.needs_cgroups())
            .flat_map(|(_, map)| map.keys())
            .filter_map(|k| match *k {
                Key::Unit(id) | Key::Container(id) | Key::Pod(id) | Key::Cgroup(id) => Some(id),
                _ => None,
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Count each cgroup's sockets under its unit's cgroup, its container's or its pod's, now that
    /// `services` knows them. Call once, after the last socket and merge.
    pub fn resolve_services(&mut self, services: &Services) {
        for (by, map) in self.by.iter().zip(self.groups.iter_mut()) {
            if !matches!(by, GroupBy::Unit | GroupBy::Container | GroupBy::Pod) {
                continue;
            }
            // The lowest cgroup id counted in each container (pod) stands for it.
            let mut first: FxHashMap<String, u64> = FxHashMap::default();
            for k in map.keys() {
                if let Some((name, id)) = member(k, services) {
                    let e = first.entry(name).or_insert(id);
                    *e = (*e).min(id);
                }
            }
            let mut merged: FxHashMap<Key, StateCounts> = FxHashMap::default();
            for (k, v) in map.drain() {
                let k = match k {
                    Key::Unit(id) => Key::Unit(services.unit_id(id)),
                    Key::Container(id) | Key::Pod(id) => {
                        let pod = matches!(k, Key::Pod(_));
                        match (services.get(id), member(&k, services)) {
                            (Lookup::Found(_), Some((name, _))) => {
                                let lead = first.get(&name).copied().unwrap_or(id);
                                if pod {
                                    Key::Pod(lead)
                                } else {
                                    Key::Container(lead)
                                }
                            }
                            (Lookup::Found(_), None) if pod => Key::NoPod,
                            (Lookup::Found(_), None) => Key::NoContainer,
                            _ => k,
                        }
                    }
                    other => other,
                };
                merged.entry(k).or_default().merge(&v);
            }
            *map = merged;
        }
    }

    /// Fold another tally (from a parallel dump) into this one.
    pub fn merge(&mut self, mut o: Tally) {
        self.tcp.merge(&o.tcp);
        self.udp.merge(&o.udp);
        self.pending.append(&mut o.pending);
        for (mine, theirs) in self.groups.iter_mut().zip(o.groups) {
            for (k, v) in theirs {
                mine.entry(k).or_default().merge(&v);
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.tcp.total() + self.udp.total()
    }

    /// The top `n` rows of each grouping, largest count first (ties by key).
    pub fn groupings(&self, top: usize) -> Vec<Grouping> {
        self.by
            .iter()
            .zip(self.groups.iter())
            .map(|(by, map)| {
                let mut rows: Vec<Row> = map
                    .iter()
                    .map(|(k, v)| Row {
                        key: *k,
                        count: v.total(),
                        states: *v,
                    })
                    .collect();
                rows.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
                let distinct = rows.len();
                let other = rows.iter().skip(top).map(|r| r.count).sum();
                rows.truncate(top);
                Grouping {
                    by: *by,
                    rows,
                    other,
                    distinct,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
