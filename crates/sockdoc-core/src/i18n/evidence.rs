//! Keys of what sockdoc says about recorded evidence (`--from`, `analyze`): what a dump could not
//! tell, so a view does not judge it as if it had, and the lines it could not read. Each note is
//! tagged with what it concerns ([`Concern`]): a view shows only the notes of what it judges. The
//! words are in `en/evidence.rs` and `zh/evidence.rs`; a key without its line there does not
//! compile.

use super::{fill, Lang};

/// A note about recorded evidence. Templates take `{}` (next argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvidenceMsg {
    /// No tcp_info, but timers: ghost suspects judged by missing keepalive timers only.
    NoTcpInfoTimers,
    /// No tcp_info (and no timers): idle times unknown.
    NoTcpInfo,
    /// No timers: keepalive and ghost suspects cannot be judged.
    NoTimers,
    /// No owners: processes are not named.
    NoOwners,
    /// Counters read once: no rates.
    CountersOnce,
    /// No `sysctl -a`.
    NoSysctls,
    /// A state filter's share only.
    NotAllStates,
    /// No State column: sockets counted as ESTAB.
    NoStateColumn,
    /// No listen backlog (netstat, /proc/net): full accept queues cannot be judged.
    NoBacklogs,
    /// No listener in the dump: service ports taken from the connections.
    NoListeners,
    /// `{n} line(s) of the evidence could not be read`
    Unread,
    /// `{n} line(s) ... (first: {file}:{line}: {text})`
    UnreadFirst,
    /// `the evidence names no cgroups: no units or containers`
    NoCgroups,
    /// `{what} from {form} ({file})`: what a finding rests on.
    RestsOn,
    /// `Rests on: {list}`
    RestsOnTitle,
}

/// What a note concerns: a view shows the notes of what it judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Concern {
    /// Counting sockets by state: every view.
    States,
    /// Keepalive timers (doctor, ghosts, a `keepalive` filter).
    Timers,
    /// Idle times and the other tcp_info (doctor, ghosts, `idle` filters, the Idle column).
    TcpInfo,
    /// Owning processes (`-p`, `--by process`, the Process column, doctor).
    Owners,
    /// The doctor's other findings: counters, sysctls, backlogs, service ports.
    Findings,
    /// The reading itself (unread lines): every view.
    Reading,
}

impl EvidenceMsg {
    /// What the note concerns.
    pub fn concern(self) -> Concern {
        use EvidenceMsg as M;
        match self {
            M::NoTcpInfoTimers | M::NoTcpInfo => Concern::TcpInfo,
            M::NoTimers => Concern::Timers,
            M::NoOwners => Concern::Owners,
            M::CountersOnce | M::NoSysctls | M::NoBacklogs | M::NoListeners => Concern::Findings,
            M::NotAllStates | M::NoStateColumn => Concern::States,
            M::Unread | M::UnreadFirst | M::NoCgroups | M::RestsOn | M::RestsOnTitle => {
                Concern::Reading
            }
        }
    }
}

/// A fact a finding rests on, as a word in `lang`.
pub fn fact(lang: Lang, f: crate::session::Fact) -> &'static str {
    use crate::session::Fact as F;
    match (lang, f) {
        (Lang::En, F::Sockets) => "sockets",
        (Lang::En, F::Timers) => "timers",
        (Lang::En, F::TcpInfo) => "tcp_info",
        (Lang::En, F::Owners) => "owners",
        (Lang::En, F::Sysctls) => "sysctls",
        (Lang::En, F::Counters) => "counters",
        (Lang::Zh, F::Sockets) => "套接字",
        (Lang::Zh, F::Timers) => "定时器",
        (Lang::Zh, F::TcpInfo) => "tcp_info",
        (Lang::Zh, F::Owners) => "所属进程",
        (Lang::Zh, F::Sysctls) => "sysctl",
        (Lang::Zh, F::Counters) => "计数器",
    }
}

fn template(lang: Lang, m: EvidenceMsg) -> &'static str {
    match lang {
        Lang::En => super::en::evidence::msg(m),
        Lang::Zh => super::zh::evidence::msg(m),
    }
}

/// The text of `m` in `lang`, with `{}` placeholders filled from `args`.
pub fn text(lang: Lang, m: EvidenceMsg, args: &[&str]) -> String {
    fill(template(lang, m), args)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [EvidenceMsg; 15] = [
        EvidenceMsg::NoTcpInfoTimers,
        EvidenceMsg::NoTcpInfo,
        EvidenceMsg::NoTimers,
        EvidenceMsg::NoOwners,
        EvidenceMsg::CountersOnce,
        EvidenceMsg::NoSysctls,
        EvidenceMsg::NotAllStates,
        EvidenceMsg::NoStateColumn,
        EvidenceMsg::NoBacklogs,
        EvidenceMsg::NoListeners,
        EvidenceMsg::Unread,
        EvidenceMsg::UnreadFirst,
        EvidenceMsg::NoCgroups,
        EvidenceMsg::RestsOn,
        EvidenceMsg::RestsOnTitle,
    ];

    #[test]
    fn both_languages_take_the_same_arguments() {
        for m in ALL {
            let (en, zh) = (template(Lang::En, m), template(Lang::Zh, m));
            assert_eq!(en.matches("{}").count(), zh.matches("{}").count(), "{m:?}");
            assert_ne!(en, zh, "{m:?} is not translated");
        }
        assert_eq!(
            text(Lang::Zh, EvidenceMsg::Unread, &["3"]),
            "证据中有 3 行无法读取"
        );
    }
}
