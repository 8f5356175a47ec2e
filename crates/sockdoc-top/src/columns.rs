//! The columns of the `top` tables (groups, sockets, findings), their headers and sort orders. Pure.

use std::cmp::Ordering;

use sockdoc_core::aggregate::Key;
use sockdoc_core::doctor::{Finding, Severity};
use sockdoc_core::i18n::top::{header, Header};
use sockdoc_core::i18n::{self, Lang};
use sockdoc_core::Owners;
use sockdoc_diag::{Socket, State};

use crate::model::{first_owner, GroupRow, Tab};

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
        let h = match self {
            GroupCol::Key => match tab {
                Tab::Remote => Header::RemoteIp,
                Tab::Prefix => Header::Prefix,
                Tab::Port => Header::Port,
                Tab::Service => Header::Unit,
                _ => Header::Process,
            },
            GroupCol::Total => Header::Total,
            GroupCol::Estab => return "ESTAB",
            GroupCol::TimeWait => return "TIME-WAIT",
            GroupCol::CloseWait => return "CLOSE-WAIT",
            GroupCol::SynRecv => return "SYN-RECV",
            GroupCol::Listen => return "LISTEN",
            GroupCol::Other => Header::Other,
            GroupCol::Name => match tab {
                Tab::Port => Header::Service,
                Tab::Process => Header::Command,
                Tab::Service => Header::Cgroup,
                _ => return "",
            },
        };
        header(lang, h)
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

    pub(crate) fn cmp(self, a: &GroupRow, b: &GroupRow) -> Ordering {
        match self {
            GroupCol::Key => match (&a.key, &b.key) {
                // Processes and services read best by name.
                (Key::Pid(_), Key::Pid(_)) | (Key::Unit(_), Key::Unit(_)) => a.label.cmp(&b.label),
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
        let h = match self {
            SockCol::State => Header::State,
            SockCol::Local => Header::Local,
            SockCol::Peer => Header::Peer,
            SockCol::RecvQ => return "RECV-Q",
            SockCol::SendQ => return "SEND-Q",
            SockCol::Timer => Header::Timer,
            SockCol::Idle => Header::Idle,
            SockCol::Process => Header::Process,
        };
        header(lang, h)
    }

    pub fn numeric(self) -> bool {
        matches!(self, SockCol::RecvQ | SockCol::SendQ | SockCol::Idle)
    }

    pub(crate) fn cmp(self, a: &Socket, b: &Socket, owners: &dyn Owners) -> Ordering {
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
        let h = match self {
            FindCol::Severity => Header::Severity,
            FindCol::Id => return "ID",
            FindCol::Title => Header::What,
        };
        header(lang, h)
    }

    pub(crate) fn cmp(self, a: &Finding, b: &Finding) -> Ordering {
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
pub fn severity_word(lang: Lang, s: Severity) -> String {
    i18n::severity(lang, s)
}
