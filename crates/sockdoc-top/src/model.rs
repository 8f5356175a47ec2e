//! The data behind the `top` screen, as plain values: one census digested into the tables the screen
//! switches between (by remote IP, peer prefix, local port, process; ghost suspects; findings;
//! services: systemd units and containers, from the sockets' cgroup ids), their
//! sorting by any column, and the exact sockets behind a row. Pure: no terminal, no kernel, no clock
//! reads; the census worker builds a [`Snap`], the screen state only reads it.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap, FxHashSet};
use sockdoc_core::aggregate::{GroupBy, Key, Row, StateCounts, Tally};
use sockdoc_core::doctor::ghosts::is_suspect;
use sockdoc_core::doctor::Finding;
use sockdoc_core::filter::Filter;
use sockdoc_core::i18n::top::{word, TopMsg};
use sockdoc_core::i18n::Lang;
use sockdoc_core::service::{Lookup, Services};
use sockdoc_core::{NoOwners, Owners, WithServices};
use sockdoc_diag::{Family, Proto, Socket, State};
use sockdoc_proc::SocketOwners;

/// The tables the screen switches between, in key order (1..7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tab {
    Remote,
    Prefix,
    Port,
    Process,
    Ghosts,
    Findings,
    /// Systemd units and containers (the Process table's counterpart by cgroup).
    Service,
}

impl Tab {
    pub const ALL: [Tab; 7] = [
        Tab::Remote,
        Tab::Prefix,
        Tab::Port,
        Tab::Process,
        Tab::Ghosts,
        Tab::Findings,
        Tab::Service,
    ];

    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    pub fn title(self, lang: Lang) -> &'static str {
        match self {
            Tab::Remote => word(lang, TopMsg::TabRemote),
            Tab::Prefix => word(lang, TopMsg::TabPrefix),
            Tab::Port => word(lang, TopMsg::TabPort),
            Tab::Process => word(lang, TopMsg::TabProcess),
            Tab::Ghosts => word(lang, TopMsg::TabGhosts),
            Tab::Findings => word(lang, TopMsg::TabFindings),
            Tab::Service => word(lang, TopMsg::TabServices),
        }
    }

    /// The grouping behind a group table.
    pub fn group_by(self, prefix4: u8, prefix6: u8) -> Option<GroupBy> {
        match self {
            Tab::Remote => Some(GroupBy::RemoteIp),
            Tab::Prefix => Some(GroupBy::PeerPrefix(prefix4, prefix6)),
            Tab::Port => Some(GroupBy::LocalPort),
            Tab::Process => Some(GroupBy::Process),
            Tab::Service => Some(GroupBy::Unit),
            Tab::Ghosts | Tab::Findings => None,
        }
    }

    /// The position of this table's grouping in [`Snap::groups`].
    fn group_slot(self) -> Option<usize> {
        match self {
            Tab::Remote => Some(0),
            Tab::Prefix => Some(1),
            Tab::Port => Some(2),
            Tab::Process => Some(3),
            Tab::Service => Some(4),
            Tab::Ghosts | Tab::Findings => None,
        }
    }

    pub fn is_group(self) -> bool {
        self.group_slot().is_some()
    }
}

/// What the screen shows, which decides what a census asks the kernel for and what it digests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shown {
    pub tab: Tab,
    /// A group row's sockets are on screen.
    pub drilled: bool,
}

impl Shown {
    /// Idle times are on screen (ghost suspects, a row's sockets): the census asks for tcp_info.
    pub fn needs_tcp_info(self) -> bool {
        self.drilled || self.tab == Tab::Ghosts
    }

    /// Owners of any socket are on screen (processes, a socket table's process column): the /proc
    /// walk keeps them fresh. The port table names each port's service by its listener's owner,
    /// which an older walk still knows (listeners rarely change hands): like the tables that show no
    /// owners, it takes them at the slower cadence ([`crate::worker::HIDDEN_OWNERS`]).
    pub fn shows_owners(self) -> bool {
        self.drilled || matches!(self.tab, Tab::Process | Tab::Ghosts)
    }

    /// Units and containers are on screen (the Service table, a service's sockets): the census
    /// names its sockets' cgroups. No other table asks for them.
    pub fn needs_services(self) -> bool {
        self.tab == Tab::Service
    }
}

/// What a census produced, shared by the worker (to re-filter without a new census) and the screen.
pub struct Capture {
    /// Every socket of the namespace, unfiltered, in kernel order.
    pub sockets: Vec<Socket>,
    /// The last /proc walk (it may be older than the sockets: see `owners_age`).
    pub owners: Option<Arc<SocketOwners>>,
    /// The kernel sent tcp_info (idle times) with the sockets.
    pub tcp_info: bool,
    /// The units and containers of the sockets' cgroups: named by the census thread while the
    /// Service table is on screen (set once, for this census), else never.
    pub services: OnceLock<Services>,
}

impl Capture {
    pub fn owners(&self) -> &dyn Owners {
        match &self.owners {
            Some(o) => o.as_ref(),
            None => &NoOwners,
        }
    }

    /// What a filter is judged with: the owners, and the services once this census's cgroups are
    /// named (a filter with `unit`, `container` or `pod` has them named, as the Service table does).
    pub fn judge(&self) -> WithServices<'_> {
        WithServices {
            owners: self.owners(),
            services: self.services.get(),
        }
    }

    /// The first owner of an inode: (pid, name); (0, "-") when none is known.
    pub fn owner(&self, inode: u32) -> (u32, String) {
        first_owner(self.owners(), inode)
    }
}

pub fn first_owner(owners: &dyn Owners, inode: u32) -> (u32, String) {
    let mut out = (0, "-".to_string());
    owners.any(inode, &mut |pid, name| {
        out = (pid, name.to_string());
        true
    });
    out
}

/// One row of a group table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRow {
    pub key: Key,
    /// The key as shown: `10.0.0.1`, `10.0.0.0/24`, `21`, `vsftpd/812`, `-`.
    pub label: String,
    pub count: u64,
    pub states: StateCounts,
    /// Port table: the process listening on the port; process table: its command line; service
    /// table: the cgroup path (with the runtime of a container).
    pub name: String,
}

/// The census digested for the screen: totals (unfiltered, as `ss` counts them) and the tables over
/// the sockets that pass the filter.
pub struct Snap {
    /// Capture number since start (1, 2, ...).
    pub seq: u64,
    /// When the census finished.
    pub taken: Instant,
    pub census: Arc<Capture>,
    /// How long the census (dump and digest) took.
    pub took: Duration,
    /// Age of the /proc walk behind the owners, when the census finished.
    pub owners_age: Option<Duration>,
    pub tcp: StateCounts,
    pub udp: StateCounts,
    /// conntrack (count, max), when the namespace has conntrack.
    pub conntrack: Option<(u64, u64)>,
    /// The filter these tables were built with (canonical text; empty = none).
    pub filter_text: String,
    /// Indices into `census.sockets` of the sockets that pass the filter.
    pub selected: Vec<u32>,
    /// By remote IP, peer prefix, local port, process, service: every group, largest first; `None`
    /// for a table not built yet (built for the table on screen, the others when shown; services
    /// only once the census names them).
    pub groups: [Option<Vec<GroupRow>>; 5],
    /// Prefix lengths of the prefix table (IPv4, IPv6).
    pub prefixes: (u8, u8),
    /// Indices into `census.sockets` of the ghost suspects among the selected sockets.
    pub ghosts: Vec<u32>,
    pub threshold_ms: u64,
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
}

impl Snap {
    /// The rows of a group table; `None` while it is not built.
    pub fn group_rows(&self, tab: Tab) -> Option<&[GroupRow]> {
        self.groups[tab.group_slot()?].as_deref()
    }

    /// Build a group table not built by the census thread (the table shown changed since).
    pub fn build_group(&mut self, tab: Tab) {
        if let Some(slot) = tab.group_slot() {
            if self.groups[slot].is_none() {
                self.groups[slot] = group_table(&self.census, &self.selected, tab, self.prefixes);
            }
        }
    }

    /// Whether `s` is a ghost suspect: by its idle times when the census had them, else as the
    /// last census with them found it.
    pub fn is_ghost(&self, s: &Socket) -> bool {
        if self.census.tcp_info {
            is_suspect(s, self.threshold_ms)
        } else {
            self.ghosts
                .iter()
                .any(|&i| self.socket(i).cookie == s.cookie)
        }
    }

    pub fn socket(&self, idx: u32) -> &Socket {
        &self.census.sockets[idx as usize]
    }
}

/// The parts of a [`Snap`] that depend on the filter and the table shown: recomputed when only
/// those change.
pub struct Digest {
    pub selected: Vec<u32>,
    pub groups: [Option<Vec<GroupRow>>; 5],
    pub ghosts: Vec<u32>,
}

/// How a capture is digested: the filter, the tables to build, the ghost test.
pub struct Lens<'a> {
    pub filter: &'a Filter,
    pub prefix4: u8,
    pub prefix6: u8,
    pub threshold_ms: u64,
    /// The group tables to build (the one on screen; the others are built when shown).
    pub tabs: &'a [Tab],
    /// For a capture without tcp_info: the sockets (by cookie) the last capture with it found
    /// suspect.
    pub known_suspects: &'a FxHashSet<u64>,
}

/// Apply the lens's filter to a capture, and build the group tables asked for and the ghost
/// suspects.
pub fn digest(capture: &Capture, lens: &Lens) -> Digest {
    let judge = capture.judge();
    let owners: &dyn Owners = &judge;
    let mut selected = Vec::with_capacity(capture.sockets.len());
    let mut ghosts = Vec::new();
    let suspect = |s: &Socket| {
        if capture.tcp_info {
            is_suspect(s, lens.threshold_ms)
        } else {
            !lens.known_suspects.is_empty() && lens.known_suspects.contains(&s.cookie)
        }
    };
    let all = lens.filter.is_empty();
    for (i, s) in capture.sockets.iter().enumerate() {
        if !all && !lens.filter.matches(s, owners) {
            continue;
        }
        let i = i as u32;
        selected.push(i);
        if suspect(s) {
            ghosts.push(i);
        }
    }
    let mut groups: [Option<Vec<GroupRow>>; 5] = Default::default();
    for &tab in lens.tabs {
        if let Some(slot) = tab.group_slot() {
            groups[slot] = group_table(capture, &selected, tab, (lens.prefix4, lens.prefix6));
        }
    }
    Digest {
        selected,
        groups,
        ghosts,
    }
}

/// The rows of one group table over the `selected` sockets of a capture, largest first; empty for
/// a table that is not a grouping, `None` for the service table while the capture names no
/// services.
pub fn group_table(
    capture: &Capture,
    selected: &[u32],
    tab: Tab,
    (prefix4, prefix6): (u8, u8),
) -> Option<Vec<GroupRow>> {
    let Some(by) = tab.group_by(prefix4, prefix6) else {
        return Some(Vec::new());
    };
    let services = match tab {
        Tab::Service => Some(capture.services.get()?),
        _ => None,
    };
    // Process tables group by owner pid only: skip the name lookup `Owners::any` would make per
    // socket; the other tables need no owners at all.
    let pids: &dyn Owners = match &capture.owners {
        Some(o) if tab == Tab::Process => &PidOnly(o),
        _ => &NoOwners,
    };
    // The service behind a local port: the process owning a listener on it (among every socket:
    // a filter such as `state established` leaves the listeners out of the selection).
    let mut listeners: FxHashMap<u16, u32> = FxHashMap::default();
    if tab == Tab::Port {
        for s in &capture.sockets {
            if s.state == State::Listen || (s.proto == Proto::Udp && s.state == State::Close) {
                listeners.entry(s.local_port).or_insert(s.inode);
            }
        }
    }
    let rows = match tab {
        Tab::Port => port_rows(capture, selected, &listeners),
        _ => {
            let mut tally = Tally::new(&[by]);
            for &i in selected {
                tally.add(&capture.sockets[i as usize], pids);
            }
            if let Some(services) = services {
                tally.resolve_services(services);
            }
            let Some(g) = tally.groupings(usize::MAX).into_iter().next() else {
                return Some(Vec::new());
            };
            g.rows
        }
    };
    let rows = rows.into_iter().map(|r| {
        let (label, name) = match (r.key, services) {
            (Key::Unit(id), Some(services)) => service_names(services, id),
            _ => (
                r.key_text(&|pid| process_name(capture, pid), None),
                row_name(capture, &listeners, &r.key),
            ),
        };
        GroupRow {
            label,
            name,
            key: r.key,
            count: r.count,
            states: r.states,
        }
    });
    Some(rows.collect())
}

/// A service row's label and name: a container by its name (else short id) with its runtime and
/// cgroup path, a unit by its name (else its cgroup's path) with the path; `-` for sockets without
/// a cgroup (the screen says what that means).
fn service_names(services: &Services, id: u64) -> (String, String) {
    match services.get(id) {
        Lookup::NoCgroup => ("-".into(), String::new()),
        Lookup::Unknown(id) => (format!("cgroup #{id}"), String::new()),
        Lookup::Found(s) => match &s.container {
            Some(c) => {
                let pod = s.pod.as_ref().map(|p| format!(" {}", p.label()));
                let pod = pod.unwrap_or_default();
                (c.label(), format!("{}{pod} {}", c.runtime.name(), s.path))
            }
            None => (s.unit_or_path().to_string(), s.path.clone()),
        },
    }
}

/// The port table's rows: a socket on a port something listens on counts under that port, a
/// connection out from an ephemeral port under the port it reaches (`→443`), so a client's
/// thousands of source ports are one row. Largest first.
fn port_rows(capture: &Capture, selected: &[u32], listeners: &FxHashMap<u16, u32>) -> Vec<Row> {
    let mut rows: FxHashMap<Key, Row> = FxHashMap::default();
    for &i in selected {
        let s = &capture.sockets[i as usize];
        // Without a listener on either side here (the server end in another namespace, or
        // closed), the lower port is the service's.
        let served = listeners.contains_key(&s.local_port)
            || s.remote_port == 0
            || (!listeners.contains_key(&s.remote_port) && s.local_port <= s.remote_port);
        let key = if served {
            Key::Port(s.local_port)
        } else {
            Key::PeerPort(s.remote_port)
        };
        let r = rows.entry(key).or_insert_with(|| Row {
            key,
            count: 0,
            states: StateCounts::default(),
        });
        r.count += 1;
        r.states.add(s.state);
    }
    let mut rows: Vec<Row> = rows.into_values().collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
    rows
}

/// The name column of a group row: the service on a port, the command line of a process.
fn row_name(capture: &Capture, listeners: &FxHashMap<u16, u32>, key: &Key) -> String {
    match key {
        Key::Port(p) => listeners
            .get(p)
            .map(|inode| capture.owner(*inode))
            .filter(|(pid, _)| *pid != 0)
            .map(|(pid, name)| format!("{name}/{pid}"))
            .unwrap_or_default(),
        Key::Pid(p) => capture
            .owners
            .as_ref()
            .and_then(|o| o.process(*p))
            .map(|i| i.cmdline.clone())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// Owners by pid alone (an empty name), for grouping.
struct PidOnly<'a>(&'a SocketOwners);

impl Owners for PidOnly<'_> {
    fn any(&self, inode: u32, f: &mut dyn FnMut(u32, &str) -> bool) -> bool {
        self.0.owners(inode).any(|o| f(o.pid, ""))
    }
}

fn process_name(census: &Capture, pid: u32) -> Option<String> {
    census
        .owners
        .as_ref()
        .and_then(|o| o.process(pid))
        .map(|p| p.name.clone())
}

/// The sockets behind one group row: the filter words that select them (for actions, which census
/// again), and the exact test (a process row counts a socket under its first owner only).
#[derive(Clone, Debug)]
pub struct Membership {
    /// Filter words naming the group (`dst 10.0.0.1 and ipv4`, `sport = :21`, `pid 42`); `None` for
    /// the `-` process row (sockets no process holds), which no filter word names.
    pub words: Option<String>,
    filter: Filter,
    first_owner: Option<u32>,
}

impl Membership {
    pub fn of(key: &Key) -> Membership {
        let ip = |f: Family, a: std::net::IpAddr| match f {
            Family::V4 => format!("{a}"),
            Family::V6 => format!("[{a}]"),
        };
        let fam = |f: Family| match f {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        };
        let (words, first_owner) = match *key {
            Key::Ip(f, a) => (
                Some(format!("dst {} and {}", ip(f, a.to_ip(f)), fam(f))),
                None,
            ),
            Key::Prefix(f, a, bits) => (
                Some(format!("dst {}/{bits} and {}", ip(f, a.to_ip(f)), fam(f))),
                None,
            ),
            Key::Port(p) => (Some(format!("sport = :{p}")), None),
            Key::PeerPort(p) => (Some(format!("dport = :{p}")), None),
            Key::Pid(0) => (None, Some(0)),
            Key::Pid(p) => (Some(format!("pid {p}")), Some(p)),
            Key::State(s) => (Some(format!("state {}", s.key())), None),
            // An action on a service row censuses again with the user's filter and states, then
            // keeps its sockets by cookie ([`group_sockets`] tests membership by the capture's
            // services); the live view has no container or pod tables.
            Key::Unit(_)
            | Key::Cgroup(_)
            | Key::Container(_)
            | Key::NoContainer
            | Key::Pod(_)
            | Key::NoPod => (None, None),
            Key::NoPeer => (
                Some("dport = :0 and ( dst 0.0.0.0/32 or dst [::]/128 )".to_string()),
                None,
            ),
        };
        let filter = words
            .as_deref()
            .and_then(|w| Filter::parse(&[w.to_string()]).ok())
            .unwrap_or_default();
        Membership {
            words,
            filter,
            first_owner,
        }
    }

    /// True when `s` belongs to the group.
    pub fn matches(&self, s: &Socket, owners: &dyn Owners) -> bool {
        self.filter.matches(s, owners)
            && self
                .first_owner
                .is_none_or(|p| first_owner(owners, s.inode).0 == p)
    }
}

/// The sockets of `snap` (after its filter) in the group `key`.
pub fn group_sockets(snap: &Snap, key: &Key) -> Vec<u32> {
    if let Key::Unit(unit) = *key {
        // A service row: the sockets whose cgroup is the unit's or below it.
        let services = snap.census.services.get();
        let unit_of = |id: u64| services.map_or(id, |s| s.unit_id(id));
        return snap
            .selected
            .iter()
            .copied()
            .filter(|&i| unit_of(snap.socket(i).cgroup_id) == unit)
            .collect();
    }
    let scope = Membership::of(key);
    let judge = snap.census.judge();
    snap.selected
        .iter()
        .copied()
        .filter(|&i| scope.matches(snap.socket(i), &judge))
        .collect()
}

/// Filter words that select at least `sockets` (and usually little else): the group's words, the
/// user's filter and the sockets' states, ANDed. An action censuses again with them and then keeps
/// exactly the sockets it was given, by cookie.
pub fn superset_words(group: Option<&str>, user_filter: &str, sockets: &[Socket]) -> String {
    let mut states: Vec<State> = sockets.iter().map(|s| s.state).collect();
    states.sort();
    states.dedup();
    let mut parts: Vec<String> = Vec::new();
    if let Some(g) = group.filter(|g| !g.is_empty()) {
        parts.push(format!("( {g} )"));
    }
    let user = format!("( {} )", user_filter.trim());
    if !user_filter.trim().is_empty() && !parts.contains(&user) {
        parts.push(user);
    }
    if !states.is_empty() {
        let s: Vec<String> = states
            .iter()
            .map(|s| format!("state {}", s.key()))
            .collect();
        parts.push(format!("( {} )", s.join(" ")));
    }
    parts.join(" and ")
}

#[cfg(test)]
pub(crate) mod tests;
