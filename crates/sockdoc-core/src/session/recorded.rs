//! Censuses of recorded evidence: a snapshot, or another host's dumps, stand where the live kernel
//! stood. A session given a [`Recorded`] source takes its namespaces, sockets, owners, services
//! and kernel state from it and never dumps, walks /proc or enters a namespace; the views above
//! it judge the evidence as they judge the live kernel.

use std::sync::Arc;

use sockdoc_diag::Socket;
use sockdoc_proc::{Netns, SocketOwners};

use crate::collect::{Census, CensusSpec, DumpHint, DumpResult};
use crate::doctor::{Blind, KernelState};
use crate::i18n::evidence::Concern;
use crate::i18n::Lang;
use crate::service::Services;

/// Sockets and state recorded elsewhere, by namespace (the namespaces are
/// [`Netns::recorded`], numbered in the evidence's order).
pub trait Recorded: Send + Sync {
    /// The namespaces of the evidence, in order.
    fn namespaces(&self) -> Vec<Netns>;
    /// The sockets of namespace `i`, in the census's order (TCP v4, v6, UDP v4, v6).
    fn sockets(&self, i: usize) -> &[Socket];
    /// The owners the evidence named, if it named any.
    fn owners(&self, i: usize) -> Option<Arc<SocketOwners>>;
    /// The services of the sockets' cgroup ids, if the evidence named them.
    fn services(&self, i: usize) -> Option<Services>;
    /// The kernel state the evidence carried (counters, sysctls, limits), if any.
    fn kernel(&self, i: usize) -> Option<KernelState>;
    /// What the evidence could not tell that matters to a view judging what `judges` says, one
    /// line each in `lang` (with the reading's own notes, such as its unread lines, once).
    fn notes(&self, i: usize, lang: Lang, judges: Judges) -> Vec<String>;
    /// The doctor's findings (by id) the evidence of namespace `i` cannot support: without timers,
    /// every connection would look as if it had no keepalive.
    fn unjudged(&self, i: usize) -> Vec<&'static str>;
    /// What the evidence of namespace `i` could not tell, for the detectors.
    fn blind(&self, i: usize) -> Blind;
    /// Where `fact` of namespace `i` came from (one entry per file), if the evidence told it.
    fn origin(&self, i: usize, fact: Fact) -> Vec<Origin>;
}

/// What a view judges, so that recorded evidence says only what it could not tell that matters
/// to the view (the session's plan decides: [`Judges::of`]). States and the reading itself
/// matter to every view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Judges {
    /// Keepalive timers: the doctor, `ghosts`, a `keepalive` or `timer` filter.
    pub timers: bool,
    /// Idle times and the rest of tcp_info.
    pub tcp_info: bool,
    /// Owning processes.
    pub owners: bool,
    /// The doctor's other findings: counters, sysctls, backlogs, service ports.
    pub findings: bool,
}

impl Judges {
    /// Everything: the doctor.
    pub const ALL: Judges = Judges {
        timers: true,
        tcp_info: true,
        owners: true,
        findings: true,
    };

    /// What a view with `plan` judges; `findings` when it runs the doctor's detectors.
    pub fn of(plan: &super::Plan, findings: bool) -> Judges {
        Judges {
            timers: plan.spec.tcp_info || plan.filter.needs_timers() || findings,
            tcp_info: plan.spec.tcp_info,
            owners: plan.owners,
            findings,
        }
    }

    /// Whether a note about `c` matters to the view.
    pub fn wants(self, c: Concern) -> bool {
        match c {
            Concern::States | Concern::Reading => true,
            Concern::Timers => self.timers,
            Concern::TcpInfo => self.tcp_info,
            Concern::Owners => self.owners,
            Concern::Findings => self.findings,
        }
    }
}

/// What a finding can rest on in recorded evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fact {
    /// The socket table: states, ports, peers, queues.
    Sockets,
    /// Keepalive and other timers.
    Timers,
    /// tcp_info: idle times, retransmits.
    TcpInfo,
    /// Owning processes.
    Owners,
    /// Kernel settings (`sysctl -a`).
    Sysctls,
    /// Kernel counters (`netstat -s`, `/proc/net/netstat`).
    Counters,
}

impl Fact {
    /// The stable name (JSON `rests_on[].what`).
    pub fn name(self) -> &'static str {
        match self {
            Fact::Sockets => "sockets",
            Fact::Timers => "timers",
            Fact::TcpInfo => "tcp_info",
            Fact::Owners => "owners",
            Fact::Sysctls => "sysctls",
            Fact::Counters => "counters",
        }
    }
}

/// Where one fact of recorded evidence came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub fact: Fact,
    /// What the file was read as: the command when the dump named it (`ss -aoen`), else the
    /// tool or file kind (`ss`, `netstat`, `/proc/net/tcp`, `sysctl -a`, `sockdoc snapshot v1`).
    pub form: String,
    pub file: std::path::PathBuf,
}

/// The findings that rest on keepalive timers.
pub const NEEDS_TIMERS: [&str; 2] = ["ghost-suspects", "keepalive-coverage"];

/// The dumps `spec` asks for, replayed from `sockets`: one accumulator per protocol and family
/// asked for, fed every socket of them in a state asked for (the filter is the feeder's, as for a
/// live dump).
pub fn replay<A, M, F>(spec: &CensusSpec, sockets: &[Socket], make: M, feed: F) -> Census<A>
where
    M: Fn(DumpHint) -> A,
    F: Fn(&mut A, &Socket),
{
    let started = std::time::Instant::now();
    let mut dumps = Vec::new();
    for req in spec.requests() {
        let wanted = |s: &&Socket| {
            s.proto == req.proto && s.family == req.family && req.states & s.state.mask_bit() != 0
        };
        let estimate = sockets.iter().filter(wanted).count();
        let mut acc = make(DumpHint {
            proto: req.proto,
            family: req.family,
            estimate,
        });
        for s in sockets.iter().filter(wanted) {
            feed(&mut acc, s);
        }
        dumps.push(DumpResult {
            proto: req.proto,
            family: req.family,
            acc,
            sockets: estimate,
        });
    }
    Census {
        dumps,
        notes: Vec::new(),
        elapsed: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockdoc_diag::{Family, Proto, State};

    #[test]
    fn a_replay_feeds_what_the_spec_asks_for_in_dump_order() {
        let at = |a: &str| a.parse().expect("addr");
        let mut udp = Socket::tcp(State::Established, at("127.0.0.1:53"), at("127.0.0.1:5353"));
        udp.proto = Proto::Udp;
        let sockets = [
            Socket::tcp(State::Listen, at("127.0.0.1:80"), at("0.0.0.0:0")),
            Socket::tcp(State::Established, at("[::1]:80"), at("[::1]:4000")),
            Socket::tcp(State::TimeWait, at("127.0.0.1:80"), at("127.0.0.1:4001")),
            udp,
        ];
        let spec = CensusSpec::default();
        let all = replay(&spec, &sockets, |_| 0usize, |n, _| *n += 1);
        let got: Vec<(Proto, Family, usize)> = all
            .dumps
            .iter()
            .map(|d| (d.proto, d.family, d.acc))
            .collect();
        assert_eq!(got.iter().map(|g| g.2).sum::<usize>(), 4);
        let tcp4 = got.iter().find(|g| g.0 == Proto::Tcp && g.1 == Family::V4);
        assert_eq!(tcp4.map(|g| g.2), Some(2));
        // Listeners only: one socket.
        let listen = CensusSpec {
            states: State::Listen.mask_bit(),
            ..CensusSpec::default()
        };
        let l = replay(&listen, &sockets, |_| 0usize, |n, _| *n += 1);
        assert_eq!(l.dumps.iter().map(|d| d.acc).sum::<usize>(), 1);
    }
}
