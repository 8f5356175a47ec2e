//! `sockdoc serve`: a Prometheus/OpenMetrics endpoint (`/metrics`, `/healthz`) on loopback by default.
//! Each scrape runs one census (tcp_info and owners) and the doctor's detectors, and renders bounded
//! label sets: per state, per listening port and per process (top K), never a label per connection.
//! Kernel counters are exported raw as counters: Prometheus computes their rates.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sockdoc_core::doctor::{self, Input, KernelState};
use sockdoc_core::i18n::Lang;
use sockdoc_core::{NoOwners, Owners};
use sockdoc_diag::{Proto, Socket, State, TimerKind};
use sockdoc_proc::Netns;

use crate::census::Plan;
use crate::cli::{Global, Select, ServeArgs};
use crate::error::{Exit, Failure};
use crate::{scope, signals};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    proto: String,
    family: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PortLabels {
    port: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProcLabels {
    process: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    id: String,
    severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CounterLabels {
    name: String,
}

/// The kernel counters exported (group, name).
const COUNTERS: [(&str, &str); 9] = [
    ("TcpExt", "ListenOverflows"),
    ("TcpExt", "ListenDrops"),
    ("TcpExt", "TCPTimeWaitOverflow"),
    ("TcpExt", "TCPReqQFullDrop"),
    ("TcpExt", "SyncookiesSent"),
    ("TcpExt", "TCPAbortOnTimeout"),
    ("TcpExt", "TCPAbortOnClose"),
    ("Udp", "RcvbufErrors"),
    ("Udp", "InErrors"),
];

pub fn run(g: &Global, a: &ServeArgs, _out: &mut dyn Write) -> Result<Exit, Failure> {
    let mut namespaces = scope::namespaces(g)?;
    if namespaces.len() != 1 {
        return Err(Failure::usage(
            "serve watches one namespace: use --netns NAME or --netns-pid PID",
        ));
    }
    let ns = namespaces.remove(0);
    let listener = TcpListener::bind(&a.listen).map_err(|e| {
        Failure::new(
            Exit::Io,
            format!(
                "cannot listen on {}: {e} (choose another with --listen)",
                a.listen
            ),
        )
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Failure::new(Exit::Io, format!("cannot configure the listener: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::new(Exit::Io, e.to_string()))?;
    eprintln!(
        "serving http://{addr}/metrics for {}; Ctrl-C to stop",
        ns.label()
    );
    signals::install();
    let plan = Plan::new_in(
        std::slice::from_ref(&ns),
        &Select::default(),
        &[],
        true,
        true,
    )?;
    while !signals::stopped() {
        match listener.accept() {
            Ok((conn, _)) => {
                if let Err(e) = handle(conn, &ns, &plan, a.top_k) {
                    eprintln!("sockdoc: request failed: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => eprintln!("sockdoc: accept failed: {e}"),
        }
    }
    Ok(Exit::Ok)
}

fn handle(mut conn: TcpStream, ns: &Netns, plan: &Plan, top_k: usize) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("");
    let (status, ctype, body) = match path {
        "/metrics" => match scrape(ns, plan, top_k) {
            Ok(text) => (
                "200 OK",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            ),
            Err(f) => ("500 Internal Server Error", "text/plain", format!("{f}\n")),
        },
        "/healthz" => ("200 OK", "text/plain", "ok\n".to_string()),
        _ => ("404 Not Found", "text/plain", "try /metrics\n".to_string()),
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

/// One scrape: census, kernel state (one reading), detectors, rendered.
fn scrape(ns: &Netns, plan: &Plan, top_k: usize) -> Result<String, Failure> {
    let started = Instant::now();
    let (sockets, census) = plan.sockets(ns, None).map_err(Failure::census)?;
    let kernel = scope::in_ns(ns, || Ok(KernelState::start().finish(Duration::ZERO)))?;
    let owners: &dyn Owners = census
        .owners
        .as_ref()
        .map_or(&NoOwners, |o| o as &dyn Owners);
    let findings = doctor::diagnose(&Input {
        sockets: &sockets,
        owners,
        kernel: &kernel,
        idle_threshold_ms: None,
        lang: Lang::En,
    });
    let mut reg = Registry::with_prefix("sockdoc");

    let by_state = Family::<StateLabels, Gauge>::default();
    let mut counts: HashMap<(Proto, sockdoc_diag::Family, State), i64> = HashMap::new();
    for s in &sockets {
        *counts.entry((s.proto, s.family, s.state)).or_default() += 1;
    }
    for ((p, f, st), n) in counts {
        by_state
            .get_or_create(&StateLabels {
                proto: p.name().into(),
                family: f.name().into(),
                state: st.key().into(),
            })
            .set(n);
    }
    reg.register("sockets", "Sockets by protocol, family and state", by_state);

    // Per listening port: established connections, SYN-RECV, accept queue and backlog (top K by load).
    let listeners: HashMap<u16, &Socket> = sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.state == State::Listen)
        .map(|s| (s.local_port, s))
        .collect();
    let mut per_port: HashMap<u16, (i64, i64, i64)> = HashMap::new();
    for s in sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && listeners.contains_key(&s.local_port))
    {
        let e = per_port.entry(s.local_port).or_default();
        match s.state {
            State::Established => {
                e.0 += 1;
                if s.timer.kind == TimerKind::Keepalive {
                    e.1 += 1;
                }
            }
            State::SynRecv => e.2 += 1,
            _ => {}
        }
    }
    let mut ports: Vec<u16> = listeners.keys().copied().collect();
    ports.sort_by_key(|p| std::cmp::Reverse(per_port.get(p).map_or(0, |e| e.0 + e.2)));
    ports.truncate(top_k);
    let conns = Family::<PortLabels, Gauge>::default();
    let coverage = Family::<PortLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let syn_recv = Family::<PortLabels, Gauge>::default();
    let queue = Family::<PortLabels, Gauge>::default();
    let backlog = Family::<PortLabels, Gauge>::default();
    for p in ports {
        let l = PortLabels {
            port: p.to_string(),
        };
        let (est, ka, syn) = per_port.get(&p).copied().unwrap_or_default();
        conns.get_or_create(&l).set(est);
        if est > 0 {
            coverage.get_or_create(&l).set(ka as f64 / est as f64);
        }
        syn_recv.get_or_create(&l).set(syn);
        if let Some(s) = listeners.get(&p) {
            queue.get_or_create(&l).set(i64::from(s.recv_q));
            backlog.get_or_create(&l).set(i64::from(s.send_q));
        }
    }
    reg.register(
        "listen_port_established",
        "ESTABLISHED connections per listening port (top K)",
        conns,
    );
    reg.register(
        "keepalive_coverage_ratio",
        "Share of a listening port's connections with a keepalive timer",
        coverage,
    );
    reg.register(
        "listen_port_syn_recv",
        "SYN-RECV request sockets per listening port",
        syn_recv,
    );
    reg.register(
        "accept_queue",
        "Accept queue length per listening port",
        queue,
    );
    reg.register(
        "accept_backlog",
        "Accept queue limit per listening port",
        backlog,
    );

    // Per process (top K): sockets and CLOSE-WAIT.
    let mut per_proc: HashMap<String, (i64, i64)> = HashMap::new();
    for s in &sockets {
        let mut name = String::from("-");
        owners.any(s.inode, &mut |_, n| {
            name = n.to_string();
            true
        });
        let e = per_proc.entry(name).or_default();
        e.0 += 1;
        if s.state == State::CloseWait {
            e.1 += 1;
        }
    }
    let mut procs: Vec<(String, (i64, i64))> = per_proc.into_iter().collect();
    procs.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(&b.0)));
    procs.truncate(top_k);
    let proc_sockets = Family::<ProcLabels, Gauge>::default();
    let proc_cw = Family::<ProcLabels, Gauge>::default();
    for (name, (n, cw)) in procs {
        let l = ProcLabels { process: name };
        proc_sockets.get_or_create(&l).set(n);
        proc_cw.get_or_create(&l).set(cw);
    }
    reg.register(
        "process_sockets",
        "Sockets per process name (top K)",
        proc_sockets,
    );
    reg.register(
        "process_close_wait",
        "CLOSE-WAIT sockets per process name (top K)",
        proc_cw,
    );

    let ghosts = findings
        .iter()
        .find(|f| f.id == "ghost-suspects")
        .and_then(|f| f.evidence.iter().find(|(k, _)| *k == "suspects"))
        .map_or(0, |(_, v)| *v);
    let g = Gauge::<i64>::default();
    g.set(ghosts);
    reg.register(
        "ghost_suspects",
        "ESTABLISHED connections silent past the keepalive window without keepalive",
        g,
    );
    let tw = Gauge::<i64>::default();
    tw.set(
        sockets
            .iter()
            .filter(|s| s.state == State::TimeWait)
            .count() as i64,
    );
    reg.register("time_wait", "TIME-WAIT sockets", tw);
    if let Some(max) = kernel.sysctls.max_tw_buckets {
        let m = Gauge::<i64>::default();
        m.set(i64::try_from(max).unwrap_or(i64::MAX));
        reg.register("time_wait_max", "net.ipv4.tcp_max_tw_buckets", m);
    }
    if let Some(ct) = &kernel.conntrack_after {
        let c = Gauge::<i64>::default();
        c.set(i64::try_from(ct.count).unwrap_or(i64::MAX));
        reg.register("conntrack_entries", "Connection-tracking entries", c);
        let m = Gauge::<i64>::default();
        m.set(i64::try_from(ct.max).unwrap_or(i64::MAX));
        reg.register("conntrack_max", "nf_conntrack_max", m);
    }
    let counters = Family::<CounterLabels, Counter>::default();
    for (group, name) in COUNTERS {
        if let Some(v) = kernel.counters_after.get(group, name) {
            counters
                .get_or_create(&CounterLabels {
                    name: format!("{group}.{name}"),
                })
                .inc_by(u64::try_from(v).unwrap_or(0));
        }
    }
    reg.register(
        "kernel",
        "Kernel SNMP counters (/proc/net/netstat, snmp)",
        counters,
    );
    let found = Family::<FindingLabels, Gauge>::default();
    for f in &findings {
        found
            .get_or_create(&FindingLabels {
                id: f.id.into(),
                severity: f.severity.name().into(),
            })
            .set(1);
    }
    reg.register("finding", "Doctor findings present now (1)", found);
    let took = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    took.set(started.elapsed().as_secs_f64());
    reg.register("scrape_duration_seconds", "Time this scrape took", took);

    let mut text = String::new();
    encode(&mut text, &reg)
        .map_err(|e| Failure::new(Exit::Io, format!("cannot encode metrics: {e}")))?;
    Ok(text)
}
