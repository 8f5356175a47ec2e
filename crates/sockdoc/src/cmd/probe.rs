//! `sockdoc ghosts --probe [--reap]`: verdicts for ghost suspects. Probing changes socket options for a
//! few seconds and puts them back; both steps, and any reaping, go to the audit log.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use serde::Serialize;
use sockdoc_act::kill::{kill, Method};
use sockdoc_act::probe::{self, Probing};
use sockdoc_diag::{DiagSocket, Socket, TimerKind};
use sockdoc_proc::{Netns, SocketOwners};

use crate::census::Plan;
use crate::cmd::treat::{confirm, now_rfc3339, open_audit, uid};
use crate::error::{Exit, Failure};
use crate::json::{write_pretty, JNetns, JSocket, SCHEMA};
use crate::scope;

#[derive(Serialize)]
struct JVerdict<'a> {
    socket: JSocket<'a>,
    verdict: &'static str,
    reason: String,
    restored: bool,
    reaped: bool,
}

#[derive(Serialize)]
struct JDoc<'a> {
    schema: u32,
    command: &'static str,
    netns: JNetns<'a>,
    threshold_ms: u64,
    probe_ms: u64,
    alive: usize,
    dead: usize,
    unknown: usize,
    results: Vec<JVerdict<'a>>,
}

pub struct ProbeRun<'a> {
    pub ns: &'a Netns,
    pub plan: &'a Plan,
    pub suspects: &'a [Socket],
    pub owners: Option<&'a SocketOwners>,
    pub threshold_ms: u64,
    pub probe_time: Duration,
    pub reap: bool,
    pub yes: bool,
    pub audit_log: Option<&'a std::path::PathBuf>,
    pub json: bool,
    pub filter_text: String,
}

pub fn run(p: &ProbeRun, out: &mut dyn Write) -> Result<Exit, Failure> {
    if !scope::is_root() {
        return Err(Failure::new(
            Exit::NoPerm,
            "--probe borrows the owners' sockets (pidfd_getfd), which needs root: run with sudo",
        ));
    }
    if p.reap {
        confirm("reap dead ghosts among", p.suspects.len(), p.yes)?;
    }
    let mut audit = open_audit(p.audit_log)?;
    let mut log = |record: serde_json::Value| {
        audit
            .append(&record.to_string())
            .map_err(|e| Failure::new(Exit::Io, format!("cannot write the audit log: {e}")))
    };
    // Start probing every suspect at once, so the whole run takes one probe time.
    let mut probing: Vec<(usize, Option<Probing>, Option<String>)> = Vec::new();
    for (i, s) in p.suspects.iter().enumerate() {
        let owner = p.owners.and_then(|o| o.owners(s.inode).next());
        let started = match owner {
            None => (
                None,
                Some("no process holds it: nothing to probe through".to_string()),
            ),
            Some(o) => match probe::start(o.pid, o.fd, s.inode) {
                Ok(pr) => (Some(pr), None),
                Err(e) => (
                    None,
                    Some(format!("cannot probe through {}:{}: {e}", o.pid, o.fd)),
                ),
            },
        };
        if let Some(pr) = &started.0 {
            log(serde_json::json!({
                "time": now_rfc3339(), "action": "probe-start", "socket": JSocket::new(s, p.owners),
                "before": {"keepalive": pr.original.enabled, "idle": pr.original.idle, "intvl": pr.original.intvl, "cnt": pr.original.cnt},
                "filter": p.filter_text, "uid": uid(),
            }))?;
        }
        probing.push((i, started.0, started.1));
    }
    if probing.iter().any(|x| x.1.is_some()) {
        if !p.json {
            eprintln!(
                "probing {} suspect(s) for {:?}...",
                probing.iter().filter(|x| x.1.is_some()).count(),
                p.probe_time
            );
        }
        std::thread::sleep(p.probe_time);
    }
    let (after, _) = p.plan.sockets(p.ns, p.owners).map_err(Failure::census)?;
    let now: HashMap<u64, Socket> = after.iter().map(|s| (s.cookie, *s)).collect();
    let probe_ms = p.probe_time.as_millis() as u64;
    let mut diag: Option<DiagSocket> = None;
    let mut results = Vec::new();
    for (i, pr, why_not) in probing {
        let s = &p.suspects[i];
        let (verdict, reason) = match (&pr, now.get(&s.cookie)) {
            (None, _) => ("unknown", why_not.unwrap_or_default()),
            (Some(_), None) => (
                "dead",
                "gone while probed: the peer reset it or the kernel gave up".to_string(),
            ),
            (Some(_), Some(n)) => {
                let ack = n.tcp.map_or(u64::MAX, |t| u64::from(t.last_ack_recv_ms));
                if ack + 500 < probe_ms {
                    (
                        "alive",
                        format!("the peer acknowledged a probe {ack} ms ago"),
                    )
                } else if n.timer.kind == TimerKind::Keepalive && n.timer.count >= 2 {
                    (
                        "dead",
                        format!("{} keepalive probes unanswered", n.timer.count),
                    )
                } else {
                    (
                        "unknown",
                        "no answer yet and too few probes sent; probe longer".to_string(),
                    )
                }
            }
        };
        // Put the original options back on everything still there.
        let restored = match pr {
            Some(pr) if now.contains_key(&s.cookie) => pr.restore().is_ok(),
            _ => false,
        };
        let mut reaped = false;
        if p.reap && verdict == "dead" && now.contains_key(&s.cookie) {
            if diag.is_none() {
                diag = Some(scope::diag_socket(p.ns)?);
            }
            if let Some(d) = diag.as_mut() {
                let owner = p
                    .owners
                    .and_then(|o| o.owners(s.inode).next())
                    .map(|o| (o.pid, o.fd));
                let tries = kill(d, s, owner, &[Method::Destroy, Method::Shutdown]);
                reaped = tries.iter().any(|t| t.error.is_none());
                log(serde_json::json!({
                    "time": now_rfc3339(), "action": "kill", "method": tries.iter().find(|t| t.error.is_none()).map(|t| t.method.name()),
                    "outcome": if reaped { "killed" } else { "failed" }, "reason": "ghosts --probe --reap: dead",
                    "socket": JSocket::new(s, p.owners), "filter": p.filter_text, "uid": uid(),
                }))?;
            }
        }
        log(serde_json::json!({
            "time": now_rfc3339(), "action": "probe-end", "verdict": verdict, "reason": reason,
            "restored": restored, "socket": JSocket::new(s, p.owners), "uid": uid(),
        }))?;
        results.push(JVerdict {
            socket: JSocket::new(s, p.owners),
            verdict,
            reason,
            restored,
            reaped,
        });
    }
    let count = |v: &str| results.iter().filter(|r| r.verdict == v).count();
    let (alive, dead, unknown) = (count("alive"), count("dead"), count("unknown"));
    if p.json {
        let doc = JDoc {
            schema: SCHEMA,
            command: "ghosts-probe",
            netns: JNetns::new(p.ns),
            threshold_ms: p.threshold_ms,
            probe_ms,
            alive,
            dead,
            unknown,
            results,
        };
        write_pretty(out, &doc).map_err(Failure::output)?;
    } else {
        for r in &results {
            writeln!(
                out,
                "{:<8} {}:{} -> {}:{}  {}{}",
                r.verdict.to_uppercase(),
                r.socket.local.ip,
                r.socket.local.port,
                r.socket.remote.ip,
                r.socket.remote.port,
                r.reason,
                if r.reaped { " (reaped)" } else { "" }
            )
            .map_err(Failure::output)?;
        }
        writeln!(out, "{dead} dead, {alive} alive, {unknown} unknown").map_err(Failure::output)?;
    }
    Ok(if dead > 0 && !p.reap {
        Exit::Warning
    } else {
        Exit::Ok
    })
}
