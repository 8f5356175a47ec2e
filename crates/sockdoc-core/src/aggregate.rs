//! Counting sockets: the state histogram per protocol and `--by` groupings (remote IP, ports, process,
//! systemd unit, cgroup, peer prefix...) with top-N. Streaming: a socket is counted and forgotten, keys
//! are small values (addresses, ports, pids, cgroup ids), formatted only for the rows shown.

use std::net::IpAddr;

use rustc_hash::FxHashMap;
use sockdoc_diag::{Addr, Family, Proto, Socket, State};

use crate::service::{self, NamePart, Services};
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
        matches!(self, GroupBy::Unit | GroupBy::Cgroup)
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
    /// A socket's cgroup id; 0 = none.
    Cgroup(u64),
    Prefix(Family, Addr, u8),
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
        match by {
            GroupBy::State => Key::State(s.state),
            GroupBy::RemoteIp => Key::Ip(s.family, s.remote),
            GroupBy::RemotePort => Key::Port(s.remote_port),
            GroupBy::LocalIp => Key::Ip(s.family, s.local),
            GroupBy::LocalPort => Key::Port(s.local_port),
            GroupBy::Process => Key::owner(s.inode, owners),
            GroupBy::Unit => Key::Unit(s.cgroup_id),
            GroupBy::Cgroup => Key::Cgroup(s.cgroup_id),
            GroupBy::PeerPrefix(p4, p6) => {
                let bits = if s.family == Family::V4 { p4 } else { p6 };
                Key::Prefix(s.family, mask(s.remote, bits), bits)
            }
        }
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
    /// The key as users read it: `10.0.0.1`, `:21`... Process names come from the caller, unit
    /// names and cgroup paths from the census's `services`.
    pub fn key_text(
        &self,
        proc_name: &dyn Fn(u32) -> Option<String>,
        services: Option<&Services>,
    ) -> String {
        match self.key {
            Key::State(s) => s.ss_name().to_string(),
            Key::Ip(f, a) => fmt_ip(a.to_ip(f)),
            Key::Port(p) => p.to_string(),
            Key::Pid(0) => "-".to_string(),
            Key::Pid(p) => match proc_name(p) {
                Some(n) => format!("{n}/{p}"),
                None => format!("pid {p}"),
            },
            Key::Prefix(f, a, bits) => format!("{}/{bits}", fmt_ip(a.to_ip(f))),
            Key::Unit(id) => service::name_text(services, id, NamePart::Unit),
            Key::Cgroup(id) => service::name_text(services, id, NamePart::Cgroup),
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
                Key::Unit(id) | Key::Cgroup(id) => Some(id),
                _ => None,
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Count each cgroup's sockets under its unit's cgroup, now that `services` knows it. Call
    /// once, after the last socket and merge.
    pub fn resolve_services(&mut self, services: &Services) {
        for (by, map) in self.by.iter().zip(self.groups.iter_mut()) {
            if *by != GroupBy::Unit {
                continue;
            }
            let mut units: FxHashMap<Key, StateCounts> = FxHashMap::default();
            for (k, v) in map.drain() {
                let k = match k {
                    Key::Unit(id) => Key::Unit(services.unit_id(id)),
                    other => other,
                };
                units.entry(k).or_default().merge(&v);
            }
            *map = units;
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
mod tests {
    use super::*;
    use crate::NoOwners;
    use std::net::Ipv4Addr;

    fn sock(state: State, remote: [u8; 4], rport: u16) -> Socket {
        let local = (Ipv4Addr::LOCALHOST, 80).into();
        Socket {
            cookie: 1,
            ..Socket::tcp(state, local, (Ipv4Addr::from(remote), rport).into())
        }
    }

    #[test]
    fn counts_states_and_groups() {
        let mut t = Tally::new(&[GroupBy::RemoteIp, GroupBy::PeerPrefix(24, 64)]);
        for i in 0..5u8 {
            t.add(
                &sock(State::Established, [10, 0, 0, 1], 1000 + u16::from(i)),
                &NoOwners,
            );
        }
        t.add(&sock(State::TimeWait, [10, 0, 0, 2], 1), &NoOwners);
        t.add(&sock(State::Established, [10, 0, 1, 2], 1), &NoOwners);
        assert_eq!(t.tcp.get(State::Established), 6);
        assert_eq!(t.total(), 7);
        let g = t.groupings(1);
        assert_eq!(g[0].rows.len(), 1);
        assert_eq!(g[0].rows[0].count, 5);
        assert_eq!(g[0].other, 2);
        assert_eq!(g[0].distinct, 3);
        assert_eq!(g[1].rows[0].count, 6);
        assert_eq!(g[1].rows[0].key_text(&|_| None, None), "10.0.0.0/24");
    }

    #[test]
    fn merge_adds_up() {
        let mut a = Tally::new(&[GroupBy::State]);
        let mut b = Tally::new(&[GroupBy::State]);
        a.add(&sock(State::Established, [1, 1, 1, 1], 1), &NoOwners);
        b.add(&sock(State::Established, [1, 1, 1, 1], 1), &NoOwners);
        b.add(&sock(State::CloseWait, [1, 1, 1, 1], 1), &NoOwners);
        a.merge(b);
        let g = a.groupings(10);
        assert_eq!(g[0].rows[0].count, 2);
        assert_eq!(g[0].rows[0].key_text(&|_| None, None), "ESTAB");
        assert_eq!(
            a.tcp.nonzero(),
            vec![(State::Established, 2), (State::CloseWait, 1)]
        );
    }

    #[test]
    fn deferred_owner_grouping_matches_direct() {
        struct Two;
        impl Owners for Two {
            fn any(&self, inode: u32, f: &mut dyn FnMut(u32, &str) -> bool) -> bool {
                inode != 0 && f(100 + inode % 2, "p")
            }
        }
        let by = [GroupBy::Process, GroupBy::State];
        let (mut direct, mut deferred) = (Tally::new(&by), Tally::new(&by));
        for i in 0..10u32 {
            let mut s = sock(State::Established, [1, 1, 1, 1], 1);
            s.inode = i;
            direct.add(&s, &Two);
            deferred.add_deferred(&s);
        }
        deferred.resolve(&Two);
        assert_eq!(direct.groupings(10), deferred.groupings(10));
    }

    #[test]
    fn prefix_masking() {
        let a = Addr::from_ip("10.1.2.3".parse().expect("ip"));
        assert_eq!(mask(a, 16).to_ip(Family::V4).to_string(), "10.1.0.0");
        assert_eq!(mask(a, 0).to_ip(Family::V4).to_string(), "0.0.0.0");
        assert_eq!(mask(a, 32), a);
        assert_eq!(mask(a, 20).to_ip(Family::V4).to_string(), "10.1.0.0");
    }
}
