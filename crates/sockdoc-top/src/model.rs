//! The data behind the `top` screen, as plain values: one census digested into the tables the screen
//! switches between (by remote IP, peer prefix, local port, process; ghost suspects; findings), their
//! sorting by any column, and the exact sockets behind a row. Pure: no terminal, no kernel, no clock
//! reads; the census worker builds a [`Snap`], the screen state only reads it.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use sockdoc_core::aggregate::{GroupBy, Key, StateCounts, Tally};
use sockdoc_core::doctor::ghosts::is_suspect;
use sockdoc_core::doctor::{Finding, Severity};
use sockdoc_core::filter::Filter;
use sockdoc_core::i18n::{pick, Lang};
use sockdoc_core::{NoOwners, Owners};
use sockdoc_diag::{Family, Proto, Socket, State};
use sockdoc_proc::SocketOwners;

/// The tables the screen switches between, in key order (1..6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tab {
    Remote,
    Prefix,
    Port,
    Process,
    Ghosts,
    Findings,
}

impl Tab {
    pub const ALL: [Tab; 6] = [
        Tab::Remote,
        Tab::Prefix,
        Tab::Port,
        Tab::Process,
        Tab::Ghosts,
        Tab::Findings,
    ];

    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    pub fn title(self, lang: Lang) -> &'static str {
        match self {
            Tab::Remote => pick(lang, "Remote IP", "远端 IP"),
            Tab::Prefix => pick(lang, "Prefix", "网段"),
            Tab::Port => pick(lang, "Local port", "本地端口"),
            Tab::Process => pick(lang, "Process", "进程"),
            Tab::Ghosts => pick(lang, "Ghosts", "疑似半开"),
            Tab::Findings => pick(lang, "Findings", "诊断"),
        }
    }

    /// The grouping behind a group table.
    pub fn group_by(self, prefix4: u8, prefix6: u8) -> Option<GroupBy> {
        match self {
            Tab::Remote => Some(GroupBy::RemoteIp),
            Tab::Prefix => Some(GroupBy::PeerPrefix(prefix4, prefix6)),
            Tab::Port => Some(GroupBy::LocalPort),
            Tab::Process => Some(GroupBy::Process),
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
            Tab::Ghosts | Tab::Findings => None,
        }
    }

    pub fn is_group(self) -> bool {
        self.group_slot().is_some()
    }
}

/// What a census produced, shared by the worker (to re-filter without a new census) and the screen.
pub struct Census {
    /// Every socket of the namespace, unfiltered, in kernel order.
    pub sockets: Vec<Socket>,
    /// The last /proc walk (it may be older than the sockets: see `owners_age`).
    pub owners: Option<Arc<SocketOwners>>,
}

impl Census {
    pub fn owners(&self) -> &dyn Owners {
        match &self.owners {
            Some(o) => o.as_ref(),
            None => &NoOwners,
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
    /// Port table: the process listening on the port; process table: its command line.
    pub name: String,
}

/// The census digested for the screen: totals (unfiltered, as `ss` counts them) and the tables over
/// the sockets that pass the filter.
pub struct Snap {
    /// Census number since start (1, 2, ...).
    pub seq: u64,
    /// When the census finished.
    pub taken: Instant,
    pub census: Arc<Census>,
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
    /// By remote IP, peer prefix, local port, process: every group, largest first.
    pub groups: [Vec<GroupRow>; 4],
    /// Indices into `census.sockets` of the ghost suspects among the selected sockets.
    pub ghosts: Vec<u32>,
    pub threshold_ms: u64,
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
}

impl Snap {
    pub fn group_rows(&self, tab: Tab) -> &[GroupRow] {
        match tab.group_slot() {
            Some(i) => &self.groups[i],
            None => &[],
        }
    }

    pub fn socket(&self, idx: u32) -> &Socket {
        &self.census.sockets[idx as usize]
    }
}

/// The parts of a [`Snap`] that depend on the filter: recomputed when only the filter changes.
pub struct Digest {
    pub selected: Vec<u32>,
    pub groups: [Vec<GroupRow>; 4],
    pub ghosts: Vec<u32>,
}

/// Apply `filter` to a census and build the group tables and the ghost suspects.
pub fn digest(
    census: &Census,
    filter: &Filter,
    prefix4: u8,
    prefix6: u8,
    threshold_ms: u64,
) -> Digest {
    let owners = census.owners();
    // The tables group by owner pid only: skip the name lookup `Owners::any` would make per socket.
    let pids: &dyn Owners = match &census.owners {
        Some(o) => &PidOnly(o),
        None => &NoOwners,
    };
    let by: Vec<GroupBy> = Tab::ALL
        .iter()
        .filter_map(|t| t.group_by(prefix4, prefix6))
        .collect();
    let mut tally = Tally::new(&by);
    let mut selected = Vec::new();
    let mut ghosts = Vec::new();
    // The service behind a local port: the process owning a listener on it.
    let mut listeners: FxHashMap<u16, (u32, u32)> = FxHashMap::default();
    for (i, s) in census.sockets.iter().enumerate() {
        if !filter.matches(s, owners) {
            continue;
        }
        let i = i as u32;
        selected.push(i);
        tally.add(s, pids);
        if is_suspect(s, threshold_ms) {
            ghosts.push(i);
        }
        if s.state == State::Listen || (s.proto == Proto::Udp && s.state == State::Close) {
            listeners.entry(s.local_port).or_insert((s.inode, i));
        }
    }
    let mut groupings = tally.groupings(usize::MAX).into_iter();
    let mut next = |with_name: &dyn Fn(&Key) -> String| -> Vec<GroupRow> {
        let Some(g) = groupings.next() else {
            return Vec::new();
        };
        g.rows
            .into_iter()
            .map(|r| GroupRow {
                label: r.key_text(&|pid| process_name(census, pid)),
                name: with_name(&r.key),
                key: r.key,
                count: r.count,
                states: r.states,
            })
            .collect()
    };
    let none = |_: &Key| String::new();
    let remote = next(&none);
    let prefix = next(&none);
    let port = next(&|k: &Key| match k {
        Key::Port(p) => listeners
            .get(p)
            .map(|(inode, _)| census.owner(*inode))
            .filter(|(pid, _)| *pid != 0)
            .map(|(pid, name)| format!("{name}/{pid}"))
            .unwrap_or_default(),
        _ => String::new(),
    });
    let process = next(&|k: &Key| match k {
        Key::Pid(p) => census
            .owners
            .as_ref()
            .and_then(|o| o.process(*p))
            .map(|i| i.cmdline.clone())
            .unwrap_or_default(),
        _ => String::new(),
    });
    Digest {
        selected,
        groups: [remote, prefix, port, process],
        ghosts,
    }
}

/// Owners by pid alone (an empty name), for grouping.
struct PidOnly<'a>(&'a SocketOwners);

impl Owners for PidOnly<'_> {
    fn any(&self, inode: u32, f: &mut dyn FnMut(u32, &str) -> bool) -> bool {
        self.0.owners(inode).any(|o| f(o.pid, ""))
    }
}

fn process_name(census: &Census, pid: u32) -> Option<String> {
    census
        .owners
        .as_ref()
        .and_then(|o| o.process(pid))
        .map(|p| p.name.clone())
}

/// The sockets behind one group row: the filter words that select them (for actions, which census
/// again), and the exact test (a process row counts a socket under its first owner only).
#[derive(Clone, Debug)]
pub struct Scope {
    /// Filter words naming the group (`dst 10.0.0.1 and ipv4`, `sport = :21`, `pid 42`); `None` for
    /// the `-` process row (sockets no process holds), which no filter word names.
    pub words: Option<String>,
    filter: Filter,
    first_owner: Option<u32>,
}

impl Scope {
    pub fn of(key: &Key) -> Scope {
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
            Key::Pid(0) => (None, Some(0)),
            Key::Pid(p) => (Some(format!("pid {p}")), Some(p)),
            Key::State(s) => (Some(format!("state {}", s.key())), None),
        };
        let filter = words
            .as_deref()
            .and_then(|w| Filter::parse(&[w.to_string()]).ok())
            .unwrap_or_default();
        Scope {
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
    let scope = Scope::of(key);
    let owners = snap.census.owners();
    snap.selected
        .iter()
        .copied()
        .filter(|&i| scope.matches(snap.socket(i), owners))
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

// ---------------------------------------------------------------------------------------------
// Columns and sorting

/// A column of a group table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupCol {
    Key,
    Total,
    Estab,
    TimeWait,
    CloseWait,
    SynRecv,
    Listen,
    Other,
    Name,
}

impl GroupCol {
    pub const ALL: [GroupCol; 9] = [
        GroupCol::Key,
        GroupCol::Total,
        GroupCol::Estab,
        GroupCol::TimeWait,
        GroupCol::CloseWait,
        GroupCol::SynRecv,
        GroupCol::Listen,
        GroupCol::Other,
        GroupCol::Name,
    ];

    pub fn header(self, tab: Tab, lang: Lang) -> &'static str {
        match self {
            GroupCol::Key => match tab {
                Tab::Remote => pick(lang, "REMOTE IP", "远端 IP"),
                Tab::Prefix => pick(lang, "PREFIX", "网段"),
                Tab::Port => pick(lang, "PORT", "端口"),
                _ => pick(lang, "PROCESS", "进程"),
            },
            GroupCol::Total => pick(lang, "TOTAL", "合计"),
            GroupCol::Estab => "ESTAB",
            GroupCol::TimeWait => "TIME-WAIT",
            GroupCol::CloseWait => "CLOSE-WAIT",
            GroupCol::SynRecv => "SYN-RECV",
            GroupCol::Listen => "LISTEN",
            GroupCol::Other => pick(lang, "OTHER", "其他"),
            GroupCol::Name => match tab {
                Tab::Port => pick(lang, "SERVICE", "服务进程"),
                Tab::Process => pick(lang, "COMMAND", "命令行"),
                _ => "",
            },
        }
    }

    pub fn numeric(self) -> bool {
        !matches!(self, GroupCol::Key | GroupCol::Name)
    }

    pub fn value(self, r: &GroupRow) -> u64 {
        let st = |s: State| r.states.get(s);
        match self {
            GroupCol::Total => r.count,
            GroupCol::Estab => st(State::Established),
            GroupCol::TimeWait => st(State::TimeWait),
            GroupCol::CloseWait => st(State::CloseWait),
            GroupCol::SynRecv => st(State::SynRecv),
            GroupCol::Listen => st(State::Listen),
            GroupCol::Other => {
                r.count
                    - [
                        State::Established,
                        State::TimeWait,
                        State::CloseWait,
                        State::SynRecv,
                        State::Listen,
                    ]
                    .iter()
                    .map(|s| st(*s))
                    .sum::<u64>()
            }
            GroupCol::Key | GroupCol::Name => 0,
        }
    }

    fn cmp(self, a: &GroupRow, b: &GroupRow) -> Ordering {
        match self {
            GroupCol::Key => match (&a.key, &b.key) {
                // Processes read best by name.
                (Key::Pid(_), Key::Pid(_)) => a.label.cmp(&b.label),
                _ => a.key.cmp(&b.key),
            },
            GroupCol::Name => a.name.cmp(&b.name),
            c => c.value(a).cmp(&c.value(b)),
        }
    }
}

/// A column of a socket table (ghost suspects, a group's sockets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockCol {
    State,
    Local,
    Peer,
    RecvQ,
    SendQ,
    Timer,
    Idle,
    Process,
}

impl SockCol {
    pub const ALL: [SockCol; 8] = [
        SockCol::State,
        SockCol::Local,
        SockCol::Peer,
        SockCol::RecvQ,
        SockCol::SendQ,
        SockCol::Timer,
        SockCol::Idle,
        SockCol::Process,
    ];

    pub fn header(self, lang: Lang) -> &'static str {
        match self {
            SockCol::State => pick(lang, "STATE", "状态"),
            SockCol::Local => pick(lang, "LOCAL", "本地地址"),
            SockCol::Peer => pick(lang, "PEER", "对端地址"),
            SockCol::RecvQ => "RECV-Q",
            SockCol::SendQ => "SEND-Q",
            SockCol::Timer => pick(lang, "TIMER", "定时器"),
            SockCol::Idle => pick(lang, "IDLE", "空闲"),
            SockCol::Process => pick(lang, "PROCESS", "进程"),
        }
    }

    pub fn numeric(self) -> bool {
        matches!(self, SockCol::RecvQ | SockCol::SendQ | SockCol::Idle)
    }

    fn cmp(self, a: &Socket, b: &Socket, owners: &dyn Owners) -> Ordering {
        match self {
            SockCol::State => a.state.cmp(&b.state),
            SockCol::Local => (a.local_ip(), a.local_port).cmp(&(b.local_ip(), b.local_port)),
            SockCol::Peer => (a.remote_ip(), a.remote_port).cmp(&(b.remote_ip(), b.remote_port)),
            SockCol::RecvQ => a.recv_q.cmp(&b.recv_q),
            SockCol::SendQ => a.send_q.cmp(&b.send_q),
            SockCol::Timer => (a.timer.kind as u8, a.timer.expires_ms)
                .cmp(&(b.timer.kind as u8, b.timer.expires_ms)),
            SockCol::Idle => a.idle_ms().cmp(&b.idle_ms()),
            SockCol::Process => {
                let (pa, na) = first_owner(owners, a.inode);
                let (pb, nb) = first_owner(owners, b.inode);
                (na, pa).cmp(&(nb, pb))
            }
        }
    }
}

/// A column of the findings table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindCol {
    Severity,
    Id,
    Title,
}

impl FindCol {
    pub const ALL: [FindCol; 3] = [FindCol::Severity, FindCol::Id, FindCol::Title];

    pub fn header(self, lang: Lang) -> &'static str {
        match self {
            FindCol::Severity => pick(lang, "SEVERITY", "级别"),
            FindCol::Id => "ID",
            FindCol::Title => pick(lang, "WHAT", "问题"),
        }
    }

    fn cmp(self, a: &Finding, b: &Finding) -> Ordering {
        match self {
            FindCol::Severity => a.severity.cmp(&b.severity),
            FindCol::Id => a.id.cmp(b.id),
            FindCol::Title => a.title.cmp(&b.title),
        }
    }
}

/// Which column a table is sorted by, and which way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    pub col: usize,
    pub desc: bool,
}

impl Sort {
    fn apply(self, o: Ordering) -> Ordering {
        if self.desc {
            o.reverse()
        } else {
            o
        }
    }
}

/// Sort group rows by a column of [`GroupCol::ALL`]; ties by count (largest first), then key.
pub fn sort_groups(rows: &mut [GroupRow], sort: Sort) {
    let col = GroupCol::ALL[sort.col.min(GroupCol::ALL.len() - 1)];
    rows.sort_by(|a, b| {
        sort.apply(col.cmp(a, b))
            .then(b.count.cmp(&a.count))
            .then(a.key.cmp(&b.key))
    });
}

/// Sort socket indices by a column of [`SockCol::ALL`]; ties by cookie (stable across refreshes).
pub fn sort_sockets(idx: &mut [u32], sockets: &[Socket], owners: &dyn Owners, sort: Sort) {
    let col = SockCol::ALL[sort.col.min(SockCol::ALL.len() - 1)];
    let s = |i: &u32| &sockets[*i as usize];
    idx.sort_by(|a, b| {
        sort.apply(col.cmp(s(a), s(b), owners))
            .then(s(a).cookie.cmp(&s(b).cookie))
    });
}

/// Sort findings (indices) by a column of [`FindCol::ALL`]; ties worst first, then by id.
pub fn sort_findings(idx: &mut [usize], findings: &[Finding], sort: Sort) {
    let col = FindCol::ALL[sort.col.min(FindCol::ALL.len() - 1)];
    idx.sort_by(|&a, &b| {
        let (fa, fb) = (&findings[a], &findings[b]);
        sort.apply(col.cmp(fa, fb))
            .then(fb.severity.cmp(&fa.severity))
            .then(fa.id.cmp(fb.id))
    });
}

/// The default sort of a table: counts and idle times largest first, findings worst first.
pub fn default_sort(tab: Tab) -> Sort {
    match tab {
        Tab::Ghosts => Sort {
            col: SockCol::ALL
                .iter()
                .position(|c| *c == SockCol::Idle)
                .unwrap_or(0),
            desc: true,
        },
        Tab::Findings => Sort { col: 0, desc: true },
        _ => Sort { col: 1, desc: true },
    }
}

/// The number of columns of a table.
pub fn columns(tab: Tab, drilled: bool) -> usize {
    if drilled || tab == Tab::Ghosts {
        SockCol::ALL.len()
    } else if tab == Tab::Findings {
        FindCol::ALL.len()
    } else {
        GroupCol::ALL.len()
    }
}

/// Whether a column sorts largest first when picked.
pub fn numeric(tab: Tab, drilled: bool, col: usize) -> bool {
    if drilled || tab == Tab::Ghosts {
        SockCol::ALL.get(col).is_some_and(|c| c.numeric())
    } else if tab == Tab::Findings {
        col == 0
    } else {
        GroupCol::ALL.get(col).is_some_and(|c| c.numeric())
    }
}

/// A severity as one word.
pub fn severity_word(lang: Lang, s: Severity) -> &'static str {
    match s {
        Severity::Critical => pick(lang, "CRITICAL", "严重"),
        Severity::Warning => pick(lang, "WARNING", "警告"),
        Severity::Info => pick(lang, "INFO", "信息"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use sockdoc_diag::TcpInfo;
    use std::net::IpAddr;

    /// A TCP socket `local:lport -> remote:rport` in `state`.
    pub fn sock(state: State, local: &str, lport: u16, remote: &str, rport: u16) -> Socket {
        let l: IpAddr = local.parse().expect("ip");
        let r: IpAddr = remote.parse().expect("ip");
        Socket {
            cookie: u64::from(lport) << 16 | u64::from(rport),
            ..Socket::tcp(state, (l, lport).into(), (r, rport).into())
        }
    }

    /// Owners by inode: inode N is held by pid N / 10 named `p<pid>`.
    pub struct Tens;
    impl Owners for Tens {
        fn any(&self, inode: u32, f: &mut dyn FnMut(u32, &str) -> bool) -> bool {
            inode != 0 && f(inode / 10, &format!("p{}", inode / 10))
        }
    }

    pub fn census(sockets: Vec<Socket>) -> Census {
        Census {
            sockets,
            owners: None,
        }
    }

    fn lab() -> Vec<Socket> {
        let mut v = vec![
            sock(State::Listen, "0.0.0.0", 21, "0.0.0.0", 0),
            sock(State::Established, "10.0.0.1", 21, "10.0.1.5", 40000),
            sock(State::Established, "10.0.0.1", 21, "10.0.1.5", 40001),
            sock(State::Established, "10.0.0.1", 21, "10.0.1.6", 40002),
            sock(State::CloseWait, "10.0.0.1", 21, "10.0.2.7", 40003),
            sock(State::TimeWait, "10.0.0.1", 22, "10.0.1.5", 40004),
            sock(State::Established, "::1", 8080, "::ffff:10.0.1.5", 40005),
            sock(State::SynRecv, "10.0.0.1", 22, "192.168.9.9", 40006),
        ];
        // An idle connection without keepalive: a ghost suspect past 1 s.
        let mut g = sock(State::Established, "10.0.0.1", 21, "10.0.3.3", 40007);
        g.tcp = Some(TcpInfo {
            last_data_recv_ms: 5000,
            last_ack_recv_ms: 5000,
            last_data_sent_ms: 5000,
            ..TcpInfo::default()
        });
        v.push(g);
        v
    }

    /// A snapshot of `c` as the worker makes it: `filter` applied, TCP state counts, conntrack 10/100.
    pub fn snap_of(c: Arc<Census>, filter: &str, seq: u64) -> Snap {
        let d = digest_all(&c, filter);
        let (mut tcp, udp) = (StateCounts::default(), StateCounts::default());
        for s in &c.sockets {
            tcp.add(s.state);
        }
        Snap {
            seq,
            taken: Instant::now(),
            census: c,
            took: Duration::ZERO,
            owners_age: None,
            tcp,
            udp,
            conntrack: Some((10, 100)),
            filter_text: filter.into(),
            selected: d.selected,
            groups: d.groups,
            ghosts: d.ghosts,
            threshold_ms: 1000,
            findings: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Sorts socket indices by column `col` as the socket table does.
    fn sort_by(idx: &mut [u32], sockets: &[Socket], col: SockCol, desc: bool) {
        let col = SockCol::ALL.iter().position(|c| *c == col).expect("col");
        sort_sockets(idx, sockets, &NoOwners, Sort { col, desc });
    }

    fn digest_all(c: &Census, words: &str) -> Digest {
        let f = Filter::parse(&[words.to_string()]).expect("filter");
        digest(c, &f, 24, 64, 1000)
    }

    #[test]
    fn tables_count_every_selected_socket_once() {
        let c = census(lab());
        let d = digest_all(&c, "");
        assert_eq!(d.selected.len(), c.sockets.len());
        for rows in &d.groups {
            assert_eq!(
                rows.iter().map(|r| r.count).sum::<u64>(),
                c.sockets.len() as u64
            );
        }
        let remote = &d.groups[0];
        assert_eq!(remote[0].label, "10.0.1.5");
        assert_eq!(remote[0].count, 3, "{remote:?}");
        let prefix = &d.groups[1];
        assert_eq!(prefix[0].label, "10.0.1.0/24");
        assert_eq!(prefix[0].count, 4, "v4 peers of 10.0.1.0/24: {prefix:?}");
        let port = &d.groups[2];
        assert_eq!((port[0].label.as_str(), port[0].count), ("21", 6));
        assert_eq!(d.ghosts.len(), 1, "one idle connection past 1 s");
    }

    #[test]
    fn the_filter_narrows_every_table() {
        let c = census(lab());
        let d = digest_all(&c, "sport = :22");
        assert_eq!(d.selected.len(), 2);
        assert_eq!(d.groups[2].len(), 1);
        assert_eq!(d.groups[2][0].label, "22");
        assert!(d.ghosts.is_empty());
        let none = digest_all(&c, "state last-ack");
        assert!(none.selected.is_empty() && none.groups.iter().all(Vec::is_empty));
    }

    #[test]
    fn a_rows_scope_selects_exactly_its_sockets() {
        // Every row of every group table: the scope's words and its exact test both select exactly
        // `count` sockets (v6-mapped peers stay in their own IPv6 row).
        let mut sockets = lab();
        for (i, s) in sockets.iter_mut().enumerate() {
            s.inode = if i % 3 == 0 {
                0
            } else {
                10 * (i as u32 % 4) + 1
            };
        }
        let c = Census {
            sockets,
            owners: None,
        };
        let owners = Tens;
        let by = [
            GroupBy::RemoteIp,
            GroupBy::PeerPrefix(24, 64),
            GroupBy::LocalPort,
            GroupBy::Process,
        ];
        let mut tally = Tally::new(&by);
        for s in &c.sockets {
            tally.add(s, &owners);
        }
        for g in tally.groupings(usize::MAX) {
            for r in g.rows {
                let scope = Scope::of(&r.key);
                let exact = c
                    .sockets
                    .iter()
                    .filter(|s| scope.matches(s, &owners))
                    .count();
                assert_eq!(exact as u64, r.count, "{:?} {:?}", g.by, r.key);
                if let Some(w) = &scope.words {
                    let f = Filter::parse(std::slice::from_ref(w)).expect("scope words parse");
                    let n = c.sockets.iter().filter(|s| f.matches(s, &owners)).count();
                    assert!(n as u64 >= r.count, "words {w} select a superset");
                    if !matches!(r.key, Key::Pid(_)) {
                        assert_eq!(n as u64, r.count, "words {w} are exact");
                    }
                } else {
                    assert_eq!(r.key, Key::Pid(0));
                }
            }
        }
    }

    #[test]
    fn superset_words_select_the_given_sockets() {
        let c = census(lab());
        let pick: Vec<Socket> = vec![c.sockets[1], c.sockets[4]];
        let w = superset_words(Some("sport = :21"), "dst 10.0.0.0/8", &pick);
        assert_eq!(
            w,
            "( sport = :21 ) and ( dst 10.0.0.0/8 ) and ( state established state close-wait )"
        );
        let f = Filter::parse(&[w]).expect("parses");
        for s in &pick {
            assert!(f.matches(s, &NoOwners));
        }
        assert!(!f.matches(&c.sockets[0], &NoOwners), "not the listener");
        assert_eq!(
            superset_words(None, "", &[c.sockets[5]]),
            "( state time-wait )"
        );
        assert_eq!(
            superset_words(Some("sport = :22"), "sport = :22", &[c.sockets[5]]),
            "( sport = :22 ) and ( state time-wait )",
            "the same words once"
        );
    }

    #[test]
    fn sorting_by_any_column_both_ways() {
        let c = census(lab());
        let d = digest_all(&c, "");
        let mut rows = d.groups[2].clone();
        for (i, col) in GroupCol::ALL.iter().enumerate() {
            for desc in [false, true] {
                sort_groups(&mut rows, Sort { col: i, desc });
                for w in rows.windows(2) {
                    let o = col.cmp(&w[0], &w[1]);
                    assert!(
                        if desc {
                            o != Ordering::Less
                        } else {
                            o != Ordering::Greater
                        },
                        "{col:?} desc={desc}: {} then {}",
                        w[0].label,
                        w[1].label
                    );
                }
            }
        }
        sort_groups(
            &mut rows,
            Sort {
                col: 0,
                desc: false,
            },
        );
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["21", "22", "8080"]);

        let mut idx: Vec<u32> = (0..c.sockets.len() as u32).collect();
        sort_by(&mut idx, &c.sockets, SockCol::Peer, false);
        assert_eq!(c.sockets[idx[0] as usize].remote_port, 0, "0.0.0.0 first");
        sort_by(&mut idx, &c.sockets, SockCol::Idle, true);
        assert_eq!(
            c.sockets[idx[0] as usize].remote_port, 40007,
            "the idle one first"
        );
    }

    #[test]
    fn group_sockets_follow_the_filter_and_the_key() {
        let c = Arc::new(census(lab()));
        let snap = snap_of(c, "state established", 1);
        let port21 = snap
            .group_rows(Tab::Port)
            .iter()
            .find(|r| r.label == "21")
            .expect("row 21")
            .clone();
        let socks = group_sockets(&snap, &port21.key);
        assert_eq!(socks.len() as u64, port21.count);
        assert_eq!(socks.len(), 4, "established on :21 only, not the listener");
        assert!(socks
            .iter()
            .all(|&i| snap.socket(i).state == State::Established));
    }
}
