//! Censuses of recorded evidence: a snapshot, or another host's dumps, stand where the live kernel
//! stood. A session given a [`Recorded`] source takes its namespaces, sockets, owners, services
//! and kernel state from it and never dumps, walks /proc or enters a namespace; the views above
//! it judge the evidence as they judge the live kernel.

use std::sync::Arc;

use sockdoc_diag::Socket;
use sockdoc_proc::{Netns, SocketOwners};

use crate::collect::{Census, CensusSpec, DumpHint, DumpResult};
use crate::doctor::{Blind, KernelState};
use crate::i18n::evidence::{text as evidence_text, Concern, EvidenceMsg};
use crate::i18n::Lang;
use crate::owners::NoOwners;
use crate::service::Services;

use super::{Fresh, KernelPlan, OwnerRead, Parts, Session};

/// Sockets and state recorded elsewhere, by namespace (the namespaces are
/// [`Netns::recorded`], numbered in the evidence's order).
pub trait Recorded: Send + Sync {
    /// The namespaces of the evidence, in order.
    fn namespaces(&self) -> Vec<Netns>;
    /// Show `f` the sockets of namespace `i`, in the census's order (TCP v4, v6, UDP v4, v6).
    fn with_sockets(&self, i: usize, f: &mut dyn FnMut(&[Socket]));
    /// Hand the sockets of namespace `i` over for good, in the census's order, where the evidence
    /// can: a census that keeps them then needs no second copy (a million sockets are 128 MB).
    /// Later visits of `i` see none, so a session asks only when told each namespace is sampled
    /// once ([`Session::recorded_once`](super::Session::recorded_once)).
    fn take_sockets(&self, _i: usize) -> Option<Vec<Socket>> {
        None
    }
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

/// The sample of sockets handed over ([`Recorded::take_sockets`]): those of the dumps `spec` asks
/// for that `keep` keeps, filtered in the buffer they came in (no copy), as one dump (they are in
/// the dumps' order already: the requests go TCP v4, v6, UDP v4, v6).
pub fn replay_owned(
    spec: &CensusSpec,
    mut sockets: Vec<Socket>,
    keep: impl Fn(&Socket) -> bool,
) -> Census<Vec<Socket>> {
    let started = std::time::Instant::now();
    let reqs = spec.requests();
    sockets.retain(|s| {
        reqs.iter().any(|r| {
            s.proto == r.proto && s.family == r.family && r.states & s.state.mask_bit() != 0
        }) && keep(s)
    });
    let (proto, family) = reqs
        .first()
        .map_or((sockdoc_diag::Proto::Tcp, sockdoc_diag::Family::V4), |r| {
            (r.proto, r.family)
        });
    Census {
        dumps: vec![DumpResult {
            proto,
            family,
            sockets: sockets.len(),
            acc: sockets,
        }],
        notes: Vec::new(),
        elapsed: started.elapsed(),
    }
}

impl Session {
    /// Census `evidence` instead of the live kernel: its namespaces (the scope's must be its
    /// [`Netns::recorded`] ones), its sockets, owners, services and kernel state. Nothing is
    /// dumped, walked or entered. What it could not tell is noted in `lang`.
    pub fn recorded(mut self, evidence: Arc<dyn Recorded>, lang: Lang) -> Session {
        self.recorded = Some(evidence);
        self.lang = lang;
        self
    }

    /// What the views of this session judge (the notes of recorded evidence are chosen by it).
    pub fn judges(&self) -> Judges {
        Judges::of(&self.plan, self.kernel != KernelPlan::None)
    }

    /// Like [`Session::recorded`], for a run that samples each namespace once (a one-shot
    /// command): the sample takes the evidence's sockets over instead of copying them
    /// ([`Recorded::take_sockets`]), so a million sockets are held once, not twice.
    pub fn recorded_once(self, evidence: Arc<dyn Recorded>, lang: Lang) -> Session {
        let mut s = self.recorded(evidence, lang);
        s.recorded_once = true;
        s
    }

    /// What the recorded evidence of `ns` cannot support and the detectors are blind to
    /// ([`Recorded::unjudged`], [`Recorded::blind`]); nothing for the live kernel.
    pub(super) fn recorded_limits(&self, ns: &Netns) -> (Vec<&'static str>, Blind) {
        match (&self.recorded, ns.recorded_index()) {
            (Some(r), Some(i)) => (r.unjudged(i), r.blind(i)),
            _ => (Vec::new(), Blind::NONE),
        }
    }

    /// The census of a namespace of evidence sampled once ([`Session::recorded_once`]): its
    /// sockets taken over and filtered in place.
    pub(super) fn handed(
        &self,
        ns: &Netns,
        read: OwnerRead,
        late: bool,
    ) -> Option<Parts<Vec<Socket>>> {
        let (Some(r), Some(i), true) = (&self.recorded, ns.recorded_index(), self.recorded_once)
        else {
            return None;
        };
        let sockets = r.take_sockets(i)?;
        let filter = &self.plan.filter;
        let keep = |s: &Socket| late || filter.matches(s, &NoOwners);
        let census = replay_owned(&self.plan.spec, sockets, keep);
        let wanted = read != OwnerRead::None && self.plan.owners;
        Some(self.recorded_rest(census, r.as_ref(), i, wanted))
    }

    /// A census of recorded evidence `r` (namespace `i`) completed with its notes, its owners
    /// (when `wanted`) and its kernel state (when the session reads one).
    pub(super) fn recorded_rest<A>(
        &self,
        mut census: Census<A>,
        r: &dyn Recorded,
        i: usize,
        wanted: bool,
    ) -> Parts<A> {
        census.notes.extend(r.notes(i, self.lang, self.judges()));
        let owners = r.owners(i).filter(|_| wanted).map(|map| Fresh {
            map,
            at: std::time::Instant::now(),
        });
        // What the evidence did not carry is empty, and its notes say so.
        let kernel = match self.kernel {
            KernelPlan::None => None,
            _ => Some(r.kernel(i).unwrap_or_default()),
        };
        (census, owners, kernel)
    }
}

/// Why recorded evidence names no services, in `lang`.
pub(super) fn no_cgroups(lang: Lang) -> String {
    evidence_text(lang, EvidenceMsg::NoCgroups, &[])
}

/// The services every namespace of `r` names, as one lookup (cgroup ids are the host's).
pub(super) fn recorded_services(r: &dyn Recorded, lang: Lang) -> Services {
    let mut list = Vec::new();
    for i in 0..r.namespaces().len() {
        if let Some(s) = r.services(i) {
            list.extend(s.iter().cloned());
        }
    }
    if list.is_empty() {
        return Services::unavailable(no_cgroups(lang));
    }
    Services::from_services(list, Vec::new())
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
        // Handed over in the census's order, the same sockets in the same order, filtered in place.
        let mut ordered = sockets.to_vec();
        ordered.sort_by_key(|s| (s.proto, s.family));
        for spec in [&spec, &listen] {
            let copied = replay(spec, &ordered, |_| Vec::new(), |v, s| v.push(*s));
            let copied: Vec<Socket> = copied.dumps.into_iter().flat_map(|d| d.acc).collect();
            let owned = replay_owned(spec, ordered.clone(), |_| true);
            assert_eq!(owned.dumps.len(), 1);
            assert_eq!(owned.dumps[0].acc, copied);
        }
        let no_udp = replay_owned(&spec, sockets.to_vec(), |s| s.proto == Proto::Tcp);
        assert_eq!(no_udp.dumps[0].acc.len(), 3);
    }
}
