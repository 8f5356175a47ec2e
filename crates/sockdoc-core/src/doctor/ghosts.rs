//! Half-open ("ghost") ESTABLISHED suspects, and keepalive coverage per listening service — the
//! incident's "port 21 has no keepalive timer, sshd has" comparison, made for every service.
//!
//! A suspect is never called dead: without keepalive the kernel cannot know, and neither can we without
//! probing (`sockdoc ghosts --probe`, issue "Treat").

use std::collections::BTreeMap;

use rustc_hash::FxHashSet;
use sockdoc_diag::{Proto, Socket, State, TimerKind};

use super::{num, percent, Blind, Finding, Input, Row, ServiceOf, Severity, Value};

/// Milliseconds since anything arrived from the peer (data or ACK).
fn idle_recv_ms(s: &Socket) -> Option<u64> {
    s.tcp
        .map(|t| u64::from(t.last_data_recv_ms.min(t.last_ack_recv_ms)))
}

/// The ghost rule: established TCP, no keepalive timer, nothing in flight, silent past the threshold.
pub fn is_suspect(s: &Socket, threshold_ms: u64) -> bool {
    s.proto == Proto::Tcp
        && s.state == State::Established
        && s.timer.kind != TimerKind::Keepalive
        && s.timer.kind != TimerKind::On
        && s.tcp.is_some_and(|t| t.unacked == 0)
        && idle_recv_ms(s).is_some_and(|idle| idle > threshold_ms)
}

/// [`is_suspect`], for evidence that may not tell idle times (`blind.idle`): a socket without
/// tcp_info is then a suspect when it has no keepalive or retransmit timer and nothing queued to
/// send. The live kernel always tells.
pub fn is_suspect_in(s: &Socket, threshold_ms: u64, blind: Blind) -> bool {
    match s.tcp {
        None if blind.idle => {
            s.proto == Proto::Tcp
                && s.state == State::Established
                && s.timer.kind != TimerKind::Keepalive
                && s.timer.kind != TimerKind::On
                && s.send_q == 0
        }
        _ => is_suspect(s, threshold_ms),
    }
}

/// The ports services listen on: the listeners'; and when the evidence dumped none
/// (`blind.listeners`), each ESTABLISHED connection's local port when it is the lower of its two
/// ports and below the ephemeral range (the side that accepted it).
pub fn service_ports(input: &Input) -> FxHashSet<u16> {
    let tcp = input.sockets.iter().filter(|s| s.proto == Proto::Tcp);
    let mut ports: FxHashSet<u16> = tcp
        .clone()
        .filter(|s| s.state == State::Listen)
        .map(|s| s.local_port)
        .collect();
    if input.blind.listeners {
        let low = input.kernel.sysctls.port_range.map_or(32768, |r| r.0);
        ports.extend(
            tcp.filter(|s| {
                s.state == State::Established
                    && s.local_port < s.remote_port
                    && u64::from(s.local_port) < low
            })
            .map(|s| s.local_port),
        );
    }
    ports
}

/// The threshold in force: the user's, or the kernel's keepalive window.
pub fn threshold_ms(input: &Input) -> u64 {
    input
        .idle_threshold_ms
        .unwrap_or_else(|| input.kernel.sysctls.keepalive_window_ms())
}

/// One group of suspects: the listening port (server side) or the remote service port (client side)
/// of one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GhostGroup {
    pub pid: u32,
    pub process: String,
    /// The process's unit, container and pod.
    pub service: ServiceOf,
    /// The listening port, or 0 for a client-side group.
    pub local_port: u16,
    /// The remote service port of a client-side group, else 0.
    pub remote_port: u16,
    pub count: u64,
    pub max_idle_ms: u64,
    /// Up to 10 distinct peers.
    pub peers: Vec<String>,
}

impl GhostGroup {
    /// `sport = :21` for a server-side group, `dport = :5432` for a client-side one.
    pub fn port_filter(&self) -> String {
        if self.local_port != 0 {
            format!("sport = :{}", self.local_port)
        } else {
            format!("dport = :{}", self.remote_port)
        }
    }
}

/// Half-open suspects, grouped; the largest group first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GhostSuspects {
    pub suspects: u64,
    pub threshold_ms: u64,
    /// The evidence told idle times (tcp_info); without, suspects are judged by missing
    /// keepalive timers only and `max_idle_ms` is unknown.
    pub idle_known: bool,
    /// Never empty.
    pub groups: Vec<GhostGroup>,
}

impl super::Kind for GhostSuspects {
    const ID: &'static str = "ghost-suspects";
    fn numbers(&self) -> Vec<(&'static str, i64)> {
        vec![
            ("suspects", num(self.suspects)),
            ("threshold_ms", num(self.threshold_ms)),
        ]
    }
    fn rows(&self) -> Vec<Row> {
        self.groups
            .iter()
            .map(|g| {
                Row::default()
                    .with("pid", g.pid)
                    .with("process", g.process.as_str())
                    .service(&g.service)
                    .with("local_port", g.local_port)
                    .with("remote_port", g.remote_port)
                    .with("count", g.count)
                    .with(
                        "max_idle_ms",
                        if self.idle_known {
                            Value::from(g.max_idle_ms)
                        } else {
                            Value::None
                        },
                    )
                    .with("peers", g.peers.clone())
            })
            .collect()
    }
}

/// Keepalive use on one listening port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortCoverage {
    pub local_port: u16,
    pub pid: u32,
    pub process: String,
    /// The listener's unit, container and pod.
    pub service: ServiceOf,
    /// ESTABLISHED connections on the port.
    pub connections: u64,
    /// Of those, with a keepalive timer.
    pub with_keepalive: u64,
}

impl PortCoverage {
    /// Share with keepalive, in whole percent.
    pub fn percent(&self) -> u64 {
        percent(self.with_keepalive, self.connections)
    }
}

/// Keepalive coverage per listening port, least covered first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeepaliveCoverage {
    pub ports: Vec<PortCoverage>,
}

impl KeepaliveCoverage {
    /// Ports where no connection has keepalive.
    pub fn uncovered(&self) -> Vec<u16> {
        self.ports
            .iter()
            .filter(|p| p.with_keepalive == 0)
            .map(|p| p.local_port)
            .collect()
    }
}

impl super::Kind for KeepaliveCoverage {
    const ID: &'static str = "keepalive-coverage";
    fn numbers(&self) -> Vec<(&'static str, i64)> {
        vec![("services", num(self.ports.len()))]
    }
    fn rows(&self) -> Vec<Row> {
        self.ports
            .iter()
            .map(|p| {
                Row::default()
                    .with("local_port", p.local_port)
                    .with("pid", p.pid)
                    .with("process", p.process.as_str())
                    .service(&p.service)
                    .with("connections", p.connections)
                    .with("with_keepalive", p.with_keepalive)
                    .with("percent", p.percent())
            })
            .collect()
    }
}

pub fn ghost_suspects(input: &Input) -> Option<Finding> {
    let threshold = threshold_ms(input);
    let suspects = input
        .sockets
        .iter()
        .filter(|s| is_suspect_in(s, threshold, input.blind));
    ghost_groups(input, &service_ports(input), suspects)
}

/// [`ghost_suspects`] of the suspects already picked, `listening` the service ports.
pub(super) fn ghost_groups<'s>(
    input: &Input,
    listening: &FxHashSet<u16>,
    suspects: impl Iterator<Item = &'s Socket>,
) -> Option<Finding> {
    let threshold = threshold_ms(input);
    #[derive(Default)]
    struct G {
        name: String,
        service: ServiceOf,
        count: u64,
        max_idle: u64,
        peers: Vec<String>,
    }
    // Server side: grouped by the listening port; client side: by the remote service port.
    let mut groups: BTreeMap<(u32, u16, u16), G> = BTreeMap::new();
    let mut total = 0u64;
    let mut idle_known = true;
    for s in suspects {
        idle_known &= s.tcp.is_some();
        total += 1;
        let (pid, name) = input.owner(s.inode);
        let key = if listening.contains(&s.local_port) {
            (pid, s.local_port, 0)
        } else {
            (pid, 0, s.remote_port)
        };
        let g = groups.entry(key).or_default();
        g.name = name;
        if g.service.is_empty() {
            g.service = input.service(s.cgroup_id);
        }
        g.count += 1;
        g.max_idle = g.max_idle.max(idle_recv_ms(s).unwrap_or(0));
        let peer = s.remote_ip().to_string();
        if g.peers.len() < 10 && !g.peers.contains(&peer) {
            g.peers.push(peer);
        }
    }
    if total == 0 {
        return None;
    }
    let mut rows: Vec<((u32, u16, u16), G)> = groups.into_iter().collect();
    rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
    let groups = rows
        .into_iter()
        .map(|((pid, local_port, remote_port), g)| GhostGroup {
            pid,
            process: g.name,
            service: g.service,
            local_port,
            remote_port,
            count: g.count,
            max_idle_ms: g.max_idle,
            peers: g.peers,
        })
        .collect();
    let e = GhostSuspects {
        suspects: total,
        threshold_ms: threshold,
        idle_known,
        groups,
    };
    Some(Finding::new(input.lang, Severity::Warning, e))
}

/// ESTABLISHED connections and those with a keepalive timer, by local port: a table indexed by
/// port (no lookup a socket).
pub(super) struct PortCounts(Vec<(u64, u64)>);

impl PortCounts {
    pub(super) fn new() -> PortCounts {
        PortCounts(vec![(0, 0); usize::from(u16::MAX) + 1])
    }

    /// Count `s`, an ESTABLISHED TCP connection.
    pub(super) fn add(&mut self, s: &Socket) {
        let c = &mut self.0[usize::from(s.local_port)];
        c.0 += 1;
        c.1 += u64::from(s.has_keepalive_timer());
    }
}

/// Who listens on each port: the first listener's owner and service.
pub(super) type Listeners = BTreeMap<u16, (u32, String, ServiceOf)>;

/// [`Listeners`] of `listening` (LISTEN sockets, in census order).
pub(super) fn listeners<'s>(
    input: &Input,
    listening: impl Iterator<Item = &'s Socket>,
) -> Listeners {
    let mut out = Listeners::new();
    for s in listening {
        out.entry(s.local_port).or_insert_with(|| {
            let (pid, name) = input.owner(s.inode);
            (pid, name, input.service(s.cgroup_id))
        });
    }
    out
}

pub fn keepalive_coverage(input: &Input) -> Option<Finding> {
    // Listening ports and who listens; connections and those with a keepalive timer by local port.
    let tcp = input.sockets.iter().filter(|s| s.proto == Proto::Tcp);
    let mut listeners = listeners(input, tcp.clone().filter(|s| s.state == State::Listen));
    let mut counts = PortCounts::new();
    for s in tcp.filter(|s| s.state == State::Established) {
        counts.add(s);
    }
    // Evidence without listeners: the ports taken from the connections, each named by the owner
    // of its first connection.
    if input.blind.listeners {
        let mut inferred = service_ports(input);
        inferred.retain(|p| !listeners.contains_key(p));
        for s in input.sockets.iter().filter(|s| {
            s.proto == Proto::Tcp
                && s.state == State::Established
                && inferred.contains(&s.local_port)
        }) {
            listeners.entry(s.local_port).or_insert_with(|| {
                let (pid, name) = input.owner(s.inode);
                (pid, name, input.service(s.cgroup_id))
            });
        }
    }
    coverage(input, listeners, &counts)
}

/// Keepalive coverage on the ports of `listeners`, from `counts`.
pub(super) fn coverage(
    input: &Input,
    listeners: Listeners,
    counts: &PortCounts,
) -> Option<Finding> {
    let counts: Vec<(u16, (u64, u64))> = listeners
        .keys()
        .map(|&port| (port, counts.0[usize::from(port)]))
        .filter(|(_, (n, _))| *n > 0)
        .collect();
    if counts.is_empty() {
        return None;
    }
    let mut ports: Vec<PortCoverage> = counts
        .into_iter()
        .map(|(port, (n, k))| {
            let (pid, name, service) = listeners.get(&port).cloned().unwrap_or_default();
            PortCoverage {
                local_port: port,
                pid,
                process: if pid == 0 { "-".into() } else { name },
                service,
                connections: n,
                with_keepalive: k,
            }
        })
        .collect();
    // Least covered first, then busiest.
    ports.sort_by(|a, b| {
        a.percent()
            .cmp(&b.percent())
            .then(b.connections.cmp(&a.connections))
            .then(a.local_port.cmp(&b.local_port))
    });
    let e = KeepaliveCoverage { ports };
    Some(Finding::new(input.lang, Severity::Info, e))
}
