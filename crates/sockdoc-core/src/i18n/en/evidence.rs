//! English: what sockdoc says about recorded evidence.

use crate::i18n::evidence::EvidenceMsg as M;

/// The template of `m`.
pub fn msg(m: M) -> &'static str {
    match m {
        M::NoTcpInfoTimers => "no tcp_info in the evidence (ss without -i): idle times unknown; ghost suspects judged by missing keepalive timers only",
        M::NoTcpInfo => "no tcp_info in the evidence (ss without -i): idle times unknown",
        M::NoTimers => "no timers in the evidence (ss without -o): keepalive and ghost suspects cannot be judged",
        M::NoOwners => "no owners in the evidence (ss without -p): processes are not named",
        M::CountersOnce => "kernel counters not read twice: drops and overflows per second cannot be judged",
        M::NoSysctls => "no sysctls in the evidence (sysctl -a): kernel settings cannot be judged",
        M::NotAllStates => "not every state was dumped (a state filter): totals cover only what was dumped",
        M::NoStateColumn => "the dump printed no State column: its sockets are counted as ESTAB",
        M::NoBacklogs => "no listen backlogs in the evidence (netstat and /proc/net show none; ss does): full accept queues cannot be judged",
        M::NoListeners => "no listening sockets in the evidence: a connection's lower port below the ephemeral range is taken as its service port",
        M::Unread => "{} line(s) of the evidence could not be read",
        M::UnreadFirst => "{} line(s) of the evidence could not be read (first: {}:{}: {})",
        M::NoCgroups => "the evidence names no cgroups: no units or containers",
        M::RestsOn => "{} from {} ({})",
        M::RestsOnTitle => "Rests on: {}",
    }
}
