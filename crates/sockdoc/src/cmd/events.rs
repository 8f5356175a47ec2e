//! `sockdoc events`: a live stream of connection ends, from the kernel's sock_diag destroy broadcasts
//! (TCP and UDP, IPv4 and IPv6): who, peer, state at the end, bytes and retransmissions; text or JSON
//! lines; filterable like `list`. Needs root (CAP_NET_ADMIN) to subscribe.

use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;
use sockdoc_core::filter::Filter;
use sockdoc_core::NoOwners;
use sockdoc_diag::{DiagSocket, Proto, Socket};

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
    socket: JSocket<'a>,
}

pub fn run(g: &Global, a: &EventsArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let filter = Filter::parse(&a.filter).map_err(|e| Failure::usage(e.to_string()))?;
    if filter.needs_processes() {
        return Err(Failure::usage(
            "events cannot filter by process: a socket's owner is gone by the time it ends",
        ));
    }
    let limit = a
        .r#for
        .as_deref()
        .map(|t| parse_duration("--for", t))
        .transpose()?;
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
    signals::install();
    let (tx, rx) = mpsc::channel::<Socket>();
    let started = Instant::now();
    let mut seen = 0u64;
    std::thread::scope(|scope| -> Result<(), Failure> {
        for (proto, mut sock) in subs {
            let tx = tx.clone();
            scope.spawn(move || listen(proto, &mut sock, &tx));
        }
        drop(tx);
        // On stderr, so JSON lines stay clean; it also tells scripts the subscription is in place.
        eprintln!("watching connection ends in {}; Ctrl-C to stop", ns.label());
        loop {
            if signals::stopped()
                || limit.is_some_and(|l| started.elapsed() >= l)
                || a.count.is_some_and(|c| seen >= c)
            {
                break;
            }
            let s = match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(s) => s,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            if !filter.matches(&s, &NoOwners) {
                continue;
            }
            seen += 1;
            write_event(out, g.json, &s).map_err(Failure::output)?;
            out.flush().map_err(Failure::output)?;
        }
        STOP_LISTENERS.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    })?;
    Ok(Exit::Ok)
}

/// Tells the listener threads to end.
static STOP_LISTENERS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn listen(proto: Proto, sock: &mut DiagSocket, tx: &mpsc::Sender<Socket>) {
    while !STOP_LISTENERS.load(std::sync::atomic::Ordering::SeqCst) {
        let mut batch = Vec::new();
        match sock.next_broadcast(proto, Duration::from_millis(100), &mut |s| batch.push(*s)) {
            Ok(_) => {
                for s in batch {
                    if tx.send(s).is_err() {
                        return;
                    }
                }
            }
            // A burst too large for the receive buffer loses events; keep listening.
            Err(sockdoc_diag::DiagError::Overrun) => continue,
            Err(e) => {
                eprintln!("sockdoc: {} events stopped: {e}", proto.name());
                return;
            }
        }
    }
}

fn write_event(out: &mut dyn Write, json: bool, s: &Socket) -> std::io::Result<()> {
    if json {
        let ev = JEvent {
            schema: SCHEMA,
            command: "events",
            time: now_rfc3339(),
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
    writeln!(
        out,
        "{} {} {:<10} {} -> {}{}",
        now_rfc3339(),
        s.proto.name(),
        // A destroyed TCP socket is always CLOSED by then (ss would print UNCONN).
        if s.proto == Proto::Tcp {
            "CLOSED"
        } else {
            s.state.ss_name()
        },
        s.local_addr(),
        s.remote_addr(),
        bytes
    )
}
