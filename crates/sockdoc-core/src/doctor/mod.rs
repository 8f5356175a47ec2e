//! Doctor: turns one census (sockets, owners) and the kernel's state (counters read twice, sysctls,
//! limits, conntrack) into ranked findings, each with evidence, why it matters and what to do, in the
//! user's language. Detectors only read their input; they never print and never touch the system.
//!
//! One file per family of findings: `ghosts` (half-open suspects, keepalive coverage), `closing`
//! (CLOSE-WAIT leaks, unreachable peers), `ports` (TIME-WAIT pressure, ephemeral ports), `listen`
//! (accept-queue overflow, SYN floods), `piles` (SYN-SENT fan-out, closing states and orphans, UDP),
//! `limits` (fds, conntrack), `sysctl` (obsolete and risky settings).

pub mod closing;
mod evidence;
pub mod ghosts;
pub mod kernel;
pub mod limits;
pub mod listen;
pub mod piles;
pub mod ports;
mod survey;
pub mod sysctl;

use sockdoc_diag::Socket;

use crate::i18n::Lang;
use crate::service::{Lookup, Services};
use crate::session::Fact;
use crate::Owners;

pub use evidence::{Evidence, Kind};
pub use kernel::KernelState;

/// How bad a finding is. Ordered: `Critical` is the greatest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// A value in a finding's evidence table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Text(String),
    List(Vec<String>),
    /// Not known or not there (JSON `null`, `-` in text).
    None,
}

/// As JSON shows it: a number, a string, a list of strings, or `null`.
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Int(i) => s.serialize_i64(*i),
            Value::Text(t) => s.serialize_str(t),
            Value::List(l) => serde::Serialize::serialize(l, s),
            Value::None => s.serialize_none(),
        }
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Value {
        v.map_or(Value::None, Value::Text)
    }
}

/// Where a finding's process lives as operators name it: the systemd unit, container and pod of
/// its sockets' cgroup (each `None` when there is none, or when the census read no cgroups).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceOf {
    pub unit: Option<String>,
    /// The container's name (its short id when the runtime could not say).
    pub container: Option<String>,
    /// `namespace/name` (the uid when the node could not say).
    pub pod: Option<String>,
}

impl ServiceOf {
    /// What the finding's words name: the container, else the pod, else the unit.
    pub fn name(&self) -> Option<Named<'_>> {
        match (&self.container, &self.pod, &self.unit) {
            (Some(c), _, _) => Some(Named::Container(c)),
            (None, Some(p), _) => Some(Named::Pod(p)),
            (None, None, Some(u)) => Some(Named::Unit(u)),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.name().is_none()
    }

    /// `systemctl restart UNIT`, when the process runs as a systemd service (not in a container).
    pub fn restart_command(&self) -> Option<String> {
        match &self.unit {
            Some(u) if u.ends_with(".service") && self.container.is_none() => {
                Some(format!("systemctl restart {u}"))
            }
            _ => None,
        }
    }
}

/// The name a finding gives a process's service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Named<'a> {
    Unit(&'a str),
    Container(&'a str),
    Pod(&'a str),
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::Int(num(v))
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Int(i64::from(v))
    }
}
impl From<u16> for Value {
    fn from(v: u16) -> Value {
        Value::Int(i64::from(v))
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Value::Int(num(v))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}
impl From<Vec<String>> for Value {
    fn from(v: Vec<String>) -> Value {
        Value::List(v)
    }
}

/// One row of a finding's breakdown (per process, per port, per peer...) as the writers show it. Keys
/// are stable; built from the typed evidence by [`Kind::rows`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row(pub Vec<(&'static str, Value)>);

impl Row {
    pub fn with(mut self, key: &'static str, v: impl Into<Value>) -> Row {
        self.0.push((key, v.into()));
        self
    }

    /// The `unit`, `container` and `pod` of a process's service.
    pub fn service(self, s: &ServiceOf) -> Row {
        self.with("unit", s.unit.clone())
            .with("container", s.container.clone())
            .with("pod", s.pod.clone())
    }
}

/// What doctor found: the typed evidence, and its words in the user's language (rendered once, from
/// the evidence, by the catalog in [`crate::i18n`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Stable kebab-case identifier (`ghost-suspects`).
    pub id: &'static str,
    pub severity: Severity,
    /// One line: what is wrong, with the key number.
    pub title: String,
    /// What was seen, in a sentence or two.
    pub detail: String,
    /// Why it matters.
    pub why: String,
    /// What to do: exact commands first, then steps.
    pub fix: Vec<String>,
    /// What was measured: ports, counts, pids and durations as numbers.
    pub evidence: Evidence,
}

impl Finding {
    /// A finding of `severity` on `evidence`, worded in `lang`.
    pub fn new(lang: Lang, severity: Severity, evidence: impl Into<Evidence>) -> Finding {
        let evidence = evidence.into();
        let w = crate::i18n::finding(lang, &evidence);
        Finding {
            id: evidence.id(),
            severity,
            title: w.title,
            detail: w.detail,
            why: w.why,
            fix: w.fix,
            evidence,
        }
    }

    /// Key numbers (stable keys), as the JSON `evidence` object shows them.
    pub fn numbers(&self) -> Vec<(&'static str, i64)> {
        self.evidence.numbers()
    }

    /// Breakdown rows, largest first (stable keys), as the JSON `groups` array shows them.
    pub fn groups(&self) -> Vec<Row> {
        self.evidence.rows()
    }
}

/// Everything the detectors look at, for one network namespace.
pub struct Input<'a> {
    pub sockets: &'a [Socket],
    pub owners: &'a dyn Owners,
    pub kernel: &'a KernelState,
    /// Ghost threshold; `None` = the kernel's keepalive window.
    pub idle_threshold_ms: Option<u64>,
    pub lang: Lang,
    /// The services of the sockets' cgroups, when the census read them: findings then name the
    /// unit or container beside the process.
    pub services: Option<&'a Services>,
    /// What the census could not tell (recorded evidence); nothing for the live kernel.
    pub blind: Blind,
}

/// What recorded evidence could not tell, so that detectors judge with what it has instead of
/// mistaking an absence in the dump for one in the kernel. All false for the live kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Blind {
    /// No tcp_info: idle times unknown. Ghost suspects are then judged by missing keepalive
    /// timers only (and nothing queued to send), and their idle time is not shown.
    pub idle: bool,
    /// No listening socket in the dump (a state filter, a grep): a connection's service port is
    /// its lower port, when that is below the ephemeral range.
    pub listeners: bool,
    /// No listen backlog (netstat and /proc/net show a listener's Send-Q as 0): full accept
    /// queues cannot be judged.
    pub backlogs: bool,
}

impl Blind {
    /// The live kernel: everything told.
    pub const NONE: Blind = Blind {
        idle: false,
        listeners: false,
        backlogs: false,
    };
}

impl Input<'_> {
    /// The first owner of a socket: (pid, name), or (0, "-").
    pub fn owner(&self, inode: u32) -> (u32, String) {
        let mut out = (0, "-".to_string());
        self.owners.any(inode, &mut |pid, name| {
            out = (pid, name.to_string());
            true
        });
        out
    }

    /// The unit, container and pod of cgroup `id` (a socket's), as far as the census knows.
    pub fn service(&self, id: u64) -> ServiceOf {
        match self.services.map(|s| s.get(id)) {
            Some(Lookup::Found(s)) => ServiceOf {
                unit: s.unit.clone(),
                container: s.container.as_ref().map(|c| c.label()),
                pod: s.pod.as_ref().map(|p| p.label()),
            },
            _ => ServiceOf::default(),
        }
    }
}

/// Run every detector; findings ranked worst first, then by id.
pub fn diagnose(input: &Input) -> Vec<Finding> {
    let survey = survey::Survey::of(input);
    let mut out = Vec::new();
    if input.blind.listeners {
        // Service ports inferred from the connections: the detectors look at all of them.
        out.extend(ghosts::ghost_suspects(input));
        out.extend(ghosts::keepalive_coverage(input));
    } else {
        let listening = survey.listening(input);
        out.extend(ghosts::ghost_groups(
            input,
            &listening,
            survey.suspects(input),
        ));
        let listeners = survey.listeners(input);
        out.extend(ghosts::coverage(input, listeners, &survey.per_port));
    }
    out.extend(closing::unreachable_of(input, survey.retransmitting(input)));
    if let Some(tally) = &survey.ephemeral {
        out.extend(ports::ephemeral_of(input, tally));
    }
    // The detectors of every other state never look at an ESTABLISHED connection: when those are
    // most of the sockets, the others are judged on a copy of the rest.
    let rest = survey.others(input);
    let others = match &rest {
        Some(rest) => &Input {
            sockets: rest,
            ..*input
        },
        None => input,
    };
    the_rest(out, others, input)
}

/// The detectors of the states other than ESTABLISHED (over `others`) and of the kernel's limits
/// and settings, after `out`: every finding, ranked.
fn the_rest(mut out: Vec<Finding>, others: &Input, input: &Input) -> Vec<Finding> {
    out.extend(closing::close_wait_leak(others));
    out.extend(ports::time_wait_pressure(others));
    out.extend(listen::listen_overflow(others));
    out.extend(listen::syn_flood(others));
    out.extend(piles::syn_sent_fanout(others));
    out.extend(piles::closing_piles(others));
    out.extend(piles::udp(others));
    out.extend(limits::fd_limit(input));
    out.extend(limits::conntrack(input));
    out.extend(sysctl::obsolete(input));
    out.extend(sysctl::risky(input));
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(b.id)));
    out
}

/// [`diagnose`] with each detector over every socket, as each was written: what the survey must
/// give the same findings as.
#[cfg(test)]
pub(crate) fn diagnose_each(input: &Input) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(ghosts::ghost_suspects(input));
    out.extend(ghosts::keepalive_coverage(input));
    out.extend(closing::unreachable_peers(input));
    out.extend(ports::ephemeral_ports(input));
    the_rest(out, input, input)
}

/// What finding `id` rests on, of what recorded evidence can tell: the socket table always,
/// and the timers, tcp_info, owners, sysctls or counters its detector reads.
pub fn rests_on(id: &str) -> &'static [Fact] {
    use Fact::*;
    match id {
        "ghost-suspects" | "unreachable-peers" => &[Sockets, Timers, TcpInfo, Owners],
        "keepalive-coverage" => &[Sockets, Timers, Owners],
        "close-wait-leak" => &[Sockets, TcpInfo, Owners],
        "time-wait-pressure" => &[Sockets, Sysctls, Counters],
        "ephemeral-port-exhaustion" => &[Sockets, Sysctls],
        "listen-overflow" | "udp-trouble" => &[Sockets, Counters, Owners],
        "syn-flood" => &[Sockets, Sysctls, Owners],
        "closing-piles" => &[Sockets, Counters],
        "fd-limit" => &[Sockets, Owners],
        "conntrack-full" => &[Counters, Sysctls],
        "sysctl-obsolete" | "sysctl-risky" => &[Sysctls],
        _ => &[Sockets, Owners],
    }
}

/// The worst severity among findings that count towards the exit code (info does not).
pub fn status(findings: &[Finding]) -> Option<Severity> {
    findings
        .iter()
        .map(|f| f.severity)
        .filter(|s| *s > Severity::Info)
        .max()
}

/// A count as an evidence number (saturating: evidence never wraps).
pub(crate) fn num<T: TryInto<i64>>(v: T) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}

/// `percent` of `part` in `whole`, rounded down; 0 for an empty whole.
pub(crate) fn percent(part: u64, whole: u64) -> u64 {
    part.saturating_mul(100).checked_div(whole).unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests;
