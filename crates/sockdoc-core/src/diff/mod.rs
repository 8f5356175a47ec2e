//! What changed between two censuses of one namespace (`sockdoc diff A B`): connections new, gone
//! and persisting, counted per state, service port, process, service and peer; persisting
//! connections that changed state or gained or lost a keepalive timer; and the doctor's findings
//! that appeared, cleared or changed. Either side may be the live kernel, a snapshot or another
//! host's dumps: the comparison sees only sockets, their owners and the findings.
//!
//! A connection is the same on both sides when its protocol and both addresses are. Where both
//! sides carry the socket's cookie (a live census, a snapshot, `ss -e`), a full socket with the
//! same addresses but another cookie is another connection that reused them (a restarted listener,
//! a reused client port): gone, and new. TIME-WAIT and request sockets are the kernel's own
//! objects with cookies of their own, so a connection that closed into TIME-WAIT still counts as
//! the same one, now in another state.

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap, FxHashSet};
use sockdoc_diag::{Addr, Proto, Socket, State, TimerKind};

use crate::doctor::{Finding, Severity};
use crate::service::Service;
use crate::Owners;

#[cfg(test)]
mod tests;

/// One side of a comparison: one namespace's sockets as a census saw them, who held them, what
/// the doctor found, and what the evidence could not support.
pub struct Side<'a> {
    pub sockets: &'a [Socket],
    /// Owners and services (a live sample's `judge()`, or a recording's).
    pub owners: &'a dyn Owners,
    pub findings: &'a [Finding],
    /// Findings (by id) this side's evidence cannot support ([`crate::session::Sample::unjudged`]).
    pub unjudged: &'a [&'static str],
    /// Whether the side knows timers (a dump without `-o` does not: no keepalive can be compared).
    pub timers: bool,
}

/// The tables of a comparison, each keyed as its name says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    State,
    /// The port a connection serves or reaches: a listener's own, `→PORT` for an outgoing one.
    Port,
    Process,
    /// The systemd unit, container or pod of the socket's cgroup, when a side named them.
    Service,
    /// The peer's address (listeners and unconnected UDP have none).
    Peer,
}

impl Table {
    pub const ALL: [Table; 5] = [
        Table::State,
        Table::Port,
        Table::Process,
        Table::Service,
        Table::Peer,
    ];

    /// The name in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Table::State => "state",
            Table::Port => "port",
            Table::Process => "process",
            Table::Service => "service",
            Table::Peer => "peer",
        }
    }
}

/// One key of a table: how many sockets had it before and after, and why the count moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row {
    pub key: String,
    pub before: u64,
    pub after: u64,
    /// Connections that appeared with this key.
    pub new: u64,
    /// Connections that vanished with this key.
    pub gone: u64,
    /// Persisting connections that came to this key (a state change, say).
    pub moved_in: u64,
    /// Persisting connections that left this key.
    pub moved_out: u64,
}

impl Row {
    /// Whether anything about this key changed.
    pub fn changed(&self) -> bool {
        self.new + self.gone + self.moved_in + self.moved_out > 0
    }

    /// Connections with this key on both sides.
    pub fn persisting(&self) -> u64 {
        self.after - self.new - self.moved_in
    }

    /// How much it changed: what to sort by.
    fn weight(&self) -> u64 {
        self.new + self.gone + self.moved_in + self.moved_out
    }
}

/// What became of a finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FindingChange {
    /// Found after, not before.
    Appeared { after: Finding },
    /// Found before, not after.
    Cleared { before: Finding },
    /// Found on both sides, with another severity, title or numbers (the title carries the key
    /// numbers and names; times that move on their own, such as idle times, are not compared).
    Changed { before: Finding, after: Finding },
    /// Found on both sides, the same.
    Same { after: Finding },
    /// Found on one side while the other side's evidence could not support it: not compared.
    Unjudged {
        found: Finding,
        /// The side that could not judge it: `true` for the "before" side.
        before_blind: bool,
    },
}

impl FindingChange {
    pub fn id(&self) -> &'static str {
        match self {
            FindingChange::Appeared { after: f }
            | FindingChange::Cleared { before: f }
            | FindingChange::Changed { after: f, .. }
            | FindingChange::Same { after: f }
            | FindingChange::Unjudged { found: f, .. } => f.id,
        }
    }

    /// The JSON name of the change.
    pub fn kind(&self) -> &'static str {
        match self {
            FindingChange::Appeared { .. } => "appeared",
            FindingChange::Cleared { .. } => "cleared",
            FindingChange::Changed { .. } => "changed",
            FindingChange::Same { .. } => "same",
            FindingChange::Unjudged { .. } => "not-compared",
        }
    }
}

/// Everything that changed between two sides.
#[derive(Clone, Debug, Default)]
pub struct Diff {
    pub before: u64,
    pub after: u64,
    pub new: u64,
    pub gone: u64,
    pub persisting: u64,
    /// Whether connections were matched by cookie as well as by addresses.
    pub by_cookie: bool,
    /// Persisting connections that changed state: (from, to) → how many.
    pub state_changes: BTreeMap<(State, State), u64>,
    /// Persisting connections that gained a keepalive timer, and lost one (`None`: a side knows
    /// no timers).
    pub keepalive: Option<(u64, u64)>,
    /// Every key of each table, most changed first.
    pub tables: Vec<(Table, Vec<Row>)>,
    pub findings: Vec<FindingChange>,
}

impl Diff {
    /// Whether anything changed: a connection, a state, a timer or a finding.
    pub fn changed(&self) -> bool {
        self.new + self.gone > 0
            || !self.state_changes.is_empty()
            || self.keepalive.is_some_and(|(g, l)| g + l > 0)
            || self.findings.iter().any(|f| {
                matches!(
                    f,
                    FindingChange::Appeared { .. }
                        | FindingChange::Cleared { .. }
                        | FindingChange::Changed { .. }
                )
            })
    }

    /// The rows of `table`.
    pub fn table(&self, table: Table) -> &[Row] {
        self.tables
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(&[][..], |(_, rows)| rows)
    }
}

/// What identifies a connection on both sides.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    proto: Proto,
    local: Addr,
    remote: Addr,
    local_port: u16,
    remote_port: u16,
}

impl Key {
    fn of(s: &Socket) -> Key {
        Key {
            proto: s.proto,
            local: s.local,
            remote: s.remote,
            local_port: s.local_port,
            remote_port: s.remote_port,
        }
    }
}

/// Whether `s` is a full socket, whose cookie lives as long as the connection.
fn full(s: &Socket) -> bool {
    !matches!(s.state, State::TimeWait | State::SynRecv)
}

/// Compare `before` with `after`.
pub fn compare(before: &Side, after: &Side) -> Diff {
    let by_cookie = [before, after]
        .iter()
        .all(|side| side.sockets.iter().any(|s| s.cookie != 0));
    // Before's sockets by key, each taken at most once.
    let mut waiting: FxHashMap<Key, Vec<u32>> = FxHashMap::default();
    for (i, s) in before.sockets.iter().enumerate().rev() {
        waiting.entry(Key::of(s)).or_default().push(i as u32);
    }
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    let mut new: Vec<u32> = Vec::new();
    for (j, s) in after.sockets.iter().enumerate() {
        let taken = waiting.get_mut(&Key::of(s)).and_then(|v| {
            let at = if by_cookie && full(s) {
                v.iter()
                    .rposition(|&i| !reused(&before.sockets[i as usize], s))
            } else {
                v.len().checked_sub(1)
            };
            at.map(|at| v.remove(at))
        });
        match taken {
            Some(i) => pairs.push((i, j as u32)),
            None => new.push(j as u32),
        }
    }
    let taken: FxHashSet<u32> = pairs.iter().map(|p| p.0).collect();
    let gone: Vec<u32> = (0..before.sockets.len() as u32)
        .filter(|i| !taken.contains(i))
        .collect();

    let listening = listening_ports(before, after);
    let keys = Keys {
        listening: &listening,
        services: [before, after].iter().any(|side| {
            side.sockets
                .iter()
                .any(|s| s.cgroup_id != 0 && side.owners.service(s.cgroup_id).is_some())
        }),
    };
    let mut tables = Vec::new();
    for table in Table::ALL {
        if table == Table::Service && !keys.services {
            continue;
        }
        let mut rows: FxHashMap<String, Row> = FxHashMap::default();
        let key = |side: &Side, i: u32| keys.of(table, side, &side.sockets[i as usize]);
        for &i in &gone {
            bump(&mut rows, key(before, i), |r| {
                r.before += 1;
                r.gone += 1;
            });
        }
        for &j in &new {
            bump(&mut rows, key(after, j), |r| {
                r.after += 1;
                r.new += 1;
            });
        }
        for &(i, j) in &pairs {
            let (kb, ka) = (key(before, i), key(after, j));
            let moved = u64::from(kb != ka);
            bump(&mut rows, kb, |r| {
                r.before += 1;
                r.moved_out += moved;
            });
            bump(&mut rows, ka, |r| {
                r.after += 1;
                r.moved_in += moved;
            });
        }
        let mut rows: Vec<Row> = rows.into_values().collect();
        rows.sort_by(|a, b| {
            b.weight()
                .cmp(&a.weight())
                .then(b.after.max(b.before).cmp(&a.after.max(a.before)))
                .then(a.key.cmp(&b.key))
        });
        tables.push((table, rows));
    }

    let mut state_changes = BTreeMap::new();
    let (mut gained, mut lost) = (0, 0);
    for &(i, j) in &pairs {
        let (b, a) = (&before.sockets[i as usize], &after.sockets[j as usize]);
        if b.state != a.state {
            *state_changes.entry((b.state, a.state)).or_insert(0) += 1;
        }
        let ka = |s: &Socket| s.timer.kind == TimerKind::Keepalive;
        match (ka(b), ka(a)) {
            (false, true) => gained += 1,
            (true, false) if a.state == b.state => lost += 1,
            _ => {}
        }
    }
    Diff {
        before: before.sockets.len() as u64,
        after: after.sockets.len() as u64,
        new: new.len() as u64,
        gone: gone.len() as u64,
        persisting: pairs.len() as u64,
        by_cookie,
        state_changes,
        keepalive: (before.timers && after.timers).then_some((gained, lost)),
        tables,
        findings: findings(before, after),
    }
}

/// Count one socket under `key` (none: the table does not key it) with `f`.
fn bump(rows: &mut FxHashMap<String, Row>, key: Option<String>, f: impl FnOnce(&mut Row)) {
    let Some(key) = key else {
        return;
    };
    match rows.get_mut(&key) {
        Some(r) => f(r),
        None => {
            let mut r = Row {
                key: key.clone(),
                ..Row::default()
            };
            f(&mut r);
            rows.insert(key, r);
        }
    }
}

/// Whether the full socket `a` cannot be `b`, whose addresses it has: `b` was another full socket
/// (another cookie), or a TIME-WAIT or request socket whose addresses a new connection reused.
fn reused(b: &Socket, a: &Socket) -> bool {
    !full(b) || b.cookie != 0 && a.cookie != 0 && b.cookie != a.cookie
}

/// The TCP ports listened on, on either side (what tells a served port from an outgoing one).
fn listening_ports(before: &Side, after: &Side) -> FxHashSet<u16> {
    [before, after]
        .iter()
        .flat_map(|side| side.sockets.iter())
        .filter(|s| s.proto == Proto::Tcp && s.state == State::Listen)
        .map(|s| s.local_port)
        .collect()
}

/// How each table keys a socket.
struct Keys<'a> {
    listening: &'a FxHashSet<u16>,
    /// Whether a side named services.
    services: bool,
}

impl Keys<'_> {
    fn of(&self, table: Table, side: &Side, s: &Socket) -> Option<String> {
        let connected = !(s.state == State::Listen || s.remote_port == 0 && s.proto == Proto::Udp);
        Some(match table {
            Table::State => format!("{} {}", proto_name(s.proto), s.state.ss_name()),
            Table::Port => match s.proto {
                Proto::Tcp if connected && !self.listening.contains(&s.local_port) => {
                    format!("tcp →{}", s.remote_port)
                }
                p => format!("{} {}", proto_name(p), s.local_port),
            },
            Table::Process => {
                let mut name = None;
                side.owners.any(s.inode, &mut |_, n| {
                    name = Some(n.to_string());
                    true
                });
                name.unwrap_or_else(|| "-".to_string())
            }
            Table::Service => side
                .owners
                .service(s.cgroup_id)
                .map_or_else(|| "-".to_string(), service_name),
            Table::Peer if connected => s.remote_ip().to_string(),
            Table::Peer => return None,
        })
    }
}

fn proto_name(p: Proto) -> &'static str {
    match p {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
    }
}

/// A service as findings name it: the container, else the pod, else the unit (or the path).
fn service_name(s: &Service) -> String {
    if let Some(c) = &s.container {
        return c.label();
    }
    if let Some(p) = &s.pod {
        return p.label();
    }
    s.unit_or_path().to_string()
}

/// The findings of both sides, matched by id: appeared, cleared, changed, the same, or not
/// comparable (found where the other side's evidence could not judge it). Worst first.
fn findings(before: &Side, after: &Side) -> Vec<FindingChange> {
    let mut out = Vec::new();
    for a in after.findings {
        let b = before.findings.iter().find(|b| b.id == a.id);
        out.push(match b {
            Some(b)
                if b.severity == a.severity && b.title == a.title && b.numbers() == a.numbers() =>
            {
                FindingChange::Same { after: a.clone() }
            }
            Some(b) => FindingChange::Changed {
                before: b.clone(),
                after: a.clone(),
            },
            None if before.unjudged.contains(&a.id) => FindingChange::Unjudged {
                found: a.clone(),
                before_blind: true,
            },
            None => FindingChange::Appeared { after: a.clone() },
        });
    }
    for b in before.findings {
        if after.findings.iter().any(|a| a.id == b.id) {
            continue;
        }
        out.push(if after.unjudged.contains(&b.id) {
            FindingChange::Unjudged {
                found: b.clone(),
                before_blind: false,
            }
        } else {
            FindingChange::Cleared { before: b.clone() }
        });
    }
    let severity = |c: &FindingChange| match c {
        FindingChange::Appeared { after: f }
        | FindingChange::Changed { after: f, .. }
        | FindingChange::Same { after: f }
        | FindingChange::Cleared { before: f }
        | FindingChange::Unjudged { found: f, .. } => f.severity,
    };
    out.sort_by(|x, y| {
        severity(y)
            .cmp(&severity(x))
            .then(x.id().cmp(y.id()))
            .then(x.kind().cmp(y.kind()))
    });
    out
}

/// The worst severity found after, for callers that want it (not used for the exit code).
pub fn worst_after(d: &Diff) -> Option<Severity> {
    d.findings
        .iter()
        .filter_map(|c| match c {
            FindingChange::Appeared { after }
            | FindingChange::Changed { after, .. }
            | FindingChange::Same { after } => Some(after.severity),
            _ => None,
        })
        .max()
}
