//! `sockdoc events`: a live stream of connection ends, from the kernel's sock_diag destroy broadcasts
//! (TCP and UDP, IPv4 and IPv6): who, peer, the state it ended from, lifetime, bytes and
//! retransmissions; text or JSON lines; filterable like `list`. Needs root (CAP_NET_ADMIN) to subscribe.
//!
//! The broadcast carries no start time and always says CLOSE, so a scanner thread dumps the namespace
//! every `--scan` interval (no tcp_info; owners only with `-p`) into a [`Tracker`]: an end is then
//! reported with the state last seen and a lifetime known to within one scan interval.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use sockdoc_core::collect::{self, CensusSpec};
use sockdoc_core::filter::Filter;
use sockdoc_core::lifetimes::{Ended, Lifetime, Seen, Tracker};
use sockdoc_core::NoOwners;
use sockdoc_diag::{DiagSocket, Proto, Socket, State, ALL_STATES_MASK};
use sockdoc_proc::Netns;

use crate::cli::{EventsArgs, Global};
use crate::cmd::doctor::parse_duration;
use crate::cmd::treat::now_rfc3339;
use crate::error::{Exit, Failure};
use crate::json::{JSocket, SCHEMA};
use crate::{scope, signals};

#[derive(Serialize)]
struct JEvent<'a> {
    schema: u32,
    command: &'static str,
    time: String,
    /// The state the last scan saw (null when no scan saw the socket).
    last_state: Option<&'static str>,
    lifetime: JLifetime,
    /// The owner the scans saw (with -p).
    process: Option<JOwner<'a>>,
    socket: JSocket<'a>,
}

#[derive(Serialize)]
struct JLifetime {
    /// between | at_least | under | unknown
    kind: &'static str,
    min_s: Option<f64>,
    max_s: Option<f64>,
}

#[derive(Serialize)]
struct JOwner<'a> {
    pid: u32,
    name: Option<&'a str>,
}

impl JLifetime {
    fn new(l: Lifetime) -> JLifetime {
        let s = |d: Duration| Some((d.as_secs_f64() * 1000.0).round() / 1000.0);
        match l {
            Lifetime::Between { min, max } => JLifetime {
                kind: "between",
                min_s: s(min),
                max_s: s(max),
            },
            Lifetime::AtLeast(d) => JLifetime {
                kind: "at_least",
                min_s: s(d),
                max_s: None,
            },
            Lifetime::Under(d) => JLifetime {
                kind: "under",
                min_s: None,
                max_s: s(d),
            },
            Lifetime::Unknown => JLifetime {
                kind: "unknown",
                min_s: None,
                max_s: None,
            },
        }
    }
}

/// What the scanner thread shares with the event loop.
struct Shared {
    tracker: Tracker,
    /// Names of the processes the scans saw owning sockets.
    names: HashMap<u32, String>,
}

pub fn run(g: &Global, a: &EventsArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let filter = Filter::parse(&a.filter).map_err(|e| Failure::usage(e.to_string()))?;
    if filter.needs_processes() {
        return Err(Failure::usage(
            "events cannot filter by process: a socket's owner is gone by the time it ends (use -p to show the owner the scans saw)",
        ));
    }
    let limit = a
        .r#for
        .as_deref()
        .map(|t| parse_duration("--for", t))
        .transpose()?;
    let scan = parse_duration("--scan", &a.scan)?;
    if a.processes && scan.is_zero() {
        return Err(Failure::usage(
            "-p needs the scans that see owners: drop --scan 0",
        ));
    }
    let mut namespaces = scope::namespaces(g)?;
    if namespaces.len() != 1 {
        return Err(Failure::usage(
            "events watches one namespace: use --netns NAME or --netns-pid PID",
        ));
    }
    let ns = namespaces.remove(0);
    if !scope::is_root() {
        return Err(Failure::new(Exit::NoPerm, "events subscribes to the kernel's destroy broadcasts, which needs root (CAP_NET_ADMIN): run with sudo"));
    }
    let (tcp, udp) = filter.protocols();
    let mut subs = Vec::new();
    for (proto, on) in [(Proto::Tcp, tcp), (Proto::Udp, udp)] {
        if on {
            let mut sock = scope::diag_socket(&ns)?;
            sock.subscribe_destroy(proto).map_err(|e| {
                Failure::new(
                    Exit::NoPerm,
                    format!("cannot subscribe to {} destroy events: {e}", proto.name()),
                )
            })?;
            subs.push((proto, sock));
        }
    }
    // The scanner dumps what the filter could match in any state: the state that matters is the one a
    // socket ends from, which only the scans know.
    let (v4, v6) = filter.families();
    let spec = CensusSpec {
        tcp,
        udp,
        v4,
        v6,
        tcp_info: false,
        states: ALL_STATES_MASK,
        bytecode: filter.kernel_filter().and_then(|bc| bc.compile()),
    };
    let shared = Mutex::new(Shared {
        tracker: Tracker::new(Instant::now()),
        names: HashMap::new(),
    });
    signals::install();
    STOP.store(false, Ordering::SeqCst);
    let (tx, rx) = mpsc::channel::<(Socket, Instant)>();
    let started = Instant::now();
    let mut seen = 0u64;
    let result = std::thread::scope(|scope| -> Result<(), Failure> {
        for (proto, mut sock) in subs {
            let tx = tx.clone();
            scope.spawn(move || listen(proto, &mut sock, &tx));
        }
        drop(tx);
        if !scan.is_zero() {
            let (spec, ns, shared) = (&spec, &ns, &shared);
            let owners = a.processes;
            let first = scan_once(spec, ns, owners, shared);
            if let Err(e) = first {
                STOP.store(true, Ordering::SeqCst);
                return Err(e);
            }
            scope.spawn(move || scanner(spec, ns, owners, scan, shared));
        }
        // On stderr, so JSON lines stay clean; it also tells scripts the subscription is in place.
        crate::log::log_line!("watching connection ends in {}; Ctrl-C to stop", ns.label());
        let r = (|| {
            loop {
                if signals::stopped()
                    || limit.is_some_and(|l| started.elapsed() >= l)
                    || a.count.is_some_and(|c| seen >= c)
                {
                    return Ok(());
                }
                let (mut s, at) = match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(e) => e,
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
                };
                let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
                let ended = shared.tracker.end(s.cookie, at);
                // Filters on state mean the state it ended from.
                if let Some(st) = ended.last_state {
                    s.state = st;
                }
                if !filter.matches(&s, &NoOwners) {
                    continue;
                }
                seen += 1;
                let name = ended
                    .pid
                    .and_then(|p| shared.names.get(&p))
                    .map(String::as_str);
                write_event(out, g.json, &s, &ended, name).map_err(Failure::output)?;
                out.flush().map_err(Failure::output)?;
            }
        })();
        STOP.store(true, Ordering::SeqCst);
        r
    });
    result?;
    Ok(Exit::Ok)
}

/// Tells the listener and scanner threads to end.
static STOP: AtomicBool = AtomicBool::new(false);

/// One scan into the tracker.
fn scan_once(
    spec: &CensusSpec,
    ns: &Netns,
    owners: bool,
    shared: &Mutex<Shared>,
) -> Result<(), Failure> {
    let begun = Instant::now();
    let census = collect::run(
        spec,
        Some(ns),
        owners,
        |_| Vec::new(),
        |v: &mut Vec<(Socket, u32)>, s| v.push((*s, 0)),
    )
    .map_err(Failure::census)?;
    let finished = Instant::now();
    let mut seen = Vec::with_capacity(census.dumps.iter().map(|d| d.acc.len()).sum());
    let mut names = Vec::new();
    for d in &census.dumps {
        for (s, _) in &d.acc {
            let pid = census
                .owners
                .as_ref()
                .and_then(|o| o.owners(s.inode).next())
                .map_or(0, |o| o.pid);
            if pid != 0 {
                names.push(pid);
            }
            seen.push(Seen {
                cookie: s.cookie,
                state: s.state,
                pid,
            });
        }
    }
    let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
    shared.tracker.merge(begun, finished, &seen);
    if let Some(o) = &census.owners {
        for pid in names {
            if let Some(info) = o.process(pid) {
                shared.names.insert(pid, info.name.clone());
            }
        }
    }
    Ok(())
}

/// Scan every `every` until stopped; a failed scan is reported and retried at the next interval.
fn scanner(spec: &CensusSpec, ns: &Netns, owners: bool, every: Duration, shared: &Mutex<Shared>) {
    let mut next = Instant::now() + every;
    while !STOP.load(Ordering::SeqCst) {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(20).min(next - Instant::now()));
            continue;
        }
        next += every;
        if let Err(e) = scan_once(spec, ns, owners, shared) {
            crate::log::log_line!(
                "sockdoc: events scan failed (lifetimes may be less precise): {e}"
            );
        }
        // A scan slower than the interval: start the next one right away, not in a burst.
        next = next.max(Instant::now());
    }
}

fn listen(proto: Proto, sock: &mut DiagSocket, tx: &mpsc::Sender<(Socket, Instant)>) {
    while !STOP.load(Ordering::SeqCst) {
        let mut batch = Vec::new();
        match sock.next_broadcast(proto, Duration::from_millis(100), &mut |s| batch.push(*s)) {
            Ok(_) => {
                let at = Instant::now();
                for s in batch {
                    if tx.send((s, at)).is_err() {
                        return;
                    }
                }
            }
            // A burst too large for the receive buffer loses events; keep listening.
            Err(sockdoc_diag::DiagError::Overrun) => continue,
            Err(e) => {
                crate::log::log_line!("sockdoc: {} events stopped: {e}", proto.name());
                return;
            }
        }
    }
}

fn lifetime_text(l: Lifetime) -> String {
    // Tenths of a second while they matter: a bound rounded down to whole seconds would be wrong.
    let f = |d: Duration| {
        if d < Duration::from_secs(10) {
            format!("{:.1}s", d.as_secs_f64())
        } else {
            sockdoc_core::units::duration_ms(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        }
    };
    match l {
        Lifetime::Between { min, max } => format!("lived {}-{}", f(min), f(max)),
        Lifetime::AtLeast(d) => format!("lived >{}", f(d)),
        Lifetime::Under(d) => format!("lived <{}", f(d)),
        Lifetime::Unknown => String::new(),
    }
}

fn write_event(
    out: &mut dyn Write,
    json: bool,
    s: &Socket,
    ended: &Ended,
    name: Option<&str>,
) -> std::io::Result<()> {
    if json {
        let ev = JEvent {
            schema: SCHEMA,
            command: "events",
            time: now_rfc3339(),
            last_state: ended.last_state.map(State::key),
            lifetime: JLifetime::new(ended.lifetime),
            process: ended.pid.map(|pid| JOwner { pid, name }),
            socket: JSocket::new(s, None),
        };
        serde_json::to_writer(&mut *out, &ev)?;
        return writeln!(out);
    }
    let bytes = s.tcp.map_or(String::new(), |t| {
        format!(
            "  acked {} B, received {} B, retransmitted {}",
            t.bytes_acked, t.bytes_received, t.total_retrans
        )
    });
    let from = match ended.last_state {
        Some(st) => format!("from {}", st.ss_name()),
        None => "ended".to_string(),
    };
    let who = match (ended.pid, name) {
        (Some(pid), Some(n)) => format!("  {n}/{pid}"),
        (Some(pid), None) => format!("  pid {pid}"),
        _ => String::new(),
    };
    let life = lifetime_text(ended.lifetime);
    writeln!(
        out,
        "{} {} {:<16} {} -> {}{}{}{}",
        now_rfc3339(),
        s.proto.name(),
        from,
        s.local_addr(),
        s.remote_addr(),
        if life.is_empty() {
            String::new()
        } else {
            format!("  {life}")
        },
        who,
        bytes
    )
}
