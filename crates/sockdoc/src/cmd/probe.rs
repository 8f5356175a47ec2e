//! `sockdoc ghosts --probe [--reap]`: verdicts for ghost suspects. Probing through the owner's fd changes
//! socket options for a few seconds and puts them back; suspects no reachable process holds get raw
//! probes (forged keepalive segments, nothing changed on the socket). Every step, and any reaping, goes
//! to the audit log.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use sockdoc_act::audit::{run_id, AuditLog, WriteAhead};
use sockdoc_act::challenge::Challenger;
use sockdoc_act::kill::{Method, RstOptions};
use sockdoc_act::probe::{self, raw_probe, Probing, RawProbeOptions, RawVerdict};
use sockdoc_act::treat::{self, kill::Ladder, Context};
use sockdoc_diag::{Socket, TimerKind};
use sockdoc_proc::{Netns, SocketOwners};

use crate::cmd::treat::{confirm, now_rfc3339, open_audit, owner_of, reread, uid, Target};
use crate::error::{Exit, Failure};
use crate::json::{write_pretty, JNetns, JSocket, SCHEMA};
use crate::scope;
use sockdoc_core::session::Session;

#[derive(Serialize)]
struct JVerdict<'a> {
    socket: JSocket<'a>,
    /// `keepalive` (through the owner's fd) or `raw` (forged probes).
    method: &'static str,
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
    /// The census that selected the suspects, for the re-reads.
    pub session: &'a Session,
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

/// How one suspect is probed.
enum How {
    Keepalive(Probing),
    /// Index into the raw-probe list.
    Raw(usize),
}

pub fn run(p: &ProbeRun, out: &mut dyn Write) -> Result<Exit, Failure> {
    if !scope::is_root() {
        return Err(Failure::new(
            Exit::NoPerm,
            "--probe borrows the owners' sockets (pidfd_getfd) and sends raw probes, which needs root: run with sudo",
        ));
    }
    if p.reap {
        confirm("reap dead ghosts among", p.suspects.len(), p.yes)?;
    }
    let mut audit = open_audit(p.audit_log)?;
    // Keepalive probes change the suspects' options until the verdicts: recorded ahead like every
    // act (an intent on disk before a batch starts; what it had before in the outcome record). The
    // others get raw probes, which change nothing on the socket.
    let reachable: Vec<(usize, u32, u32)> = p
        .suspects
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            p.owners
                .and_then(|o| o.owners(s.inode).next())
                .map(|o| (i, o.pid, o.fd))
        })
        .collect();
    let record = |i: usize, more: serde_json::Value| {
        let mut r = json!({
            "time": now_rfc3339(), "action": "probe-start", "method": "keepalive",
            "socket": JSocket::new(&p.suspects[i], p.owners), "filter": p.filter_text, "uid": uid(),
        });
        if let (Some(r), serde_json::Value::Object(more)) = (r.as_object_mut(), more) {
            r.extend(more);
        }
        r
    };
    let run = run_id();
    let started_probes = WriteAhead::new(&mut audit, run.clone()).act(
        &reachable,
        |&(i, pid, fd)| record(i, json!({"pid": pid, "fd": fd})),
        |batch| {
            batch
                .iter()
                .map(|&(i, pid, fd)| probe::start(pid, fd, p.suspects[i].inode))
                .collect::<Vec<_>>()
        },
        |&(i, pid, fd), started| {
            record(
                i,
                match started {
                    Ok(pr) => json!({
                        "pid": pid, "fd": fd, "outcome": "started",
                        "before": {"keepalive": pr.original.enabled, "idle": pr.original.idle, "intvl": pr.original.intvl, "cnt": pr.original.cnt},
                    }),
                    Err(e) => json!({"pid": pid, "fd": fd, "outcome": "failed", "error": e.to_string()}),
                },
            )
        },
    );
    let started_probes = match started_probes {
        Ok(done) => done,
        Err(st) => {
            // Nothing more is started; what was started gets its options back before stopping.
            for pr in st.done.into_iter().flatten() {
                let _ = pr.restore();
            }
            return Err(Failure::new(
                Exit::Io,
                format!(
                    "cannot write the audit log {}: {}; no suspect probed (the options of those started were put back): free space there or choose another --audit-log",
                    audit.path().display(),
                    st.error
                ),
            ));
        }
    };
    let mut by_suspect: HashMap<usize, (u32, u32, std::io::Result<Probing>)> = reachable
        .iter()
        .zip(started_probes)
        .map(|(&(i, pid, fd), r)| (i, (pid, fd, r)))
        .collect();
    let mut hows: Vec<How> = Vec::new();
    let mut raw_list: Vec<Socket> = Vec::new();
    let mut fallback: HashMap<usize, String> = HashMap::new();
    for (i, s) in p.suspects.iter().enumerate() {
        let how = match by_suspect.remove(&i) {
            Some((_, _, Ok(pr))) => How::Keepalive(pr),
            Some((pid, fd, Err(e))) => {
                fallback.insert(i, format!("cannot probe through {pid}:{fd} ({e})"));
                How::Raw(raw_list.len())
            }
            None => How::Raw(raw_list.len()),
        };
        if let How::Raw(_) = how {
            raw_list.push(*s);
        }
        hows.push(how);
    }
    let started = Instant::now();
    let keepalive_n = hows
        .iter()
        .filter(|h| matches!(h, How::Keepalive(_)))
        .count();
    if !p.json && keepalive_n + raw_list.len() > 0 {
        crate::log::log_line!(
            "probing {} suspect(s) for {:?} ({keepalive_n} through their owner, {} with raw probes)...",
            keepalive_n + raw_list.len(),
            p.probe_time,
            raw_list.len()
        );
    }
    let raw_verdicts: Vec<RawVerdict> = if raw_list.is_empty() {
        Vec::new()
    } else {
        match scope::in_ns(p.ns, || {
            Challenger::open().map_err(|e| Failure::new(Exit::Unavailable, e.to_string()))
        }) {
            Ok(mut session) => {
                let opts = RawProbeOptions {
                    time: p.probe_time,
                    ..RawProbeOptions::default()
                };
                raw_probe(&mut session, &raw_list, &opts)
            }
            Err(f) => raw_list
                .iter()
                .map(|_| RawVerdict::Unknown(format!("no raw probes: {}", f.message)))
                .collect(),
        }
    };
    if keepalive_n > 0 {
        if let Some(rest) = p.probe_time.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    let after = crate::census::sample(p.session, p.ns, p.owners)?.sockets;
    let now: HashMap<u64, Socket> = after.iter().map(|s| (s.cookie, *s)).collect();
    let probe_ms = p.probe_time.as_millis() as u64;
    // Verdicts first (and the original options back on everything still there).
    let mut judged = Vec::with_capacity(hows.len());
    for (i, how) in hows.into_iter().enumerate() {
        let s = &p.suspects[i];
        let (method, verdict, mut reason) = match &how {
            How::Raw(k) => {
                let (v, r) = raw_verdict(&raw_verdicts[*k], p.probe_time);
                ("raw", v, r)
            }
            How::Keepalive(_) => {
                let (v, r) = keepalive_verdict(now.get(&s.cookie), probe_ms);
                ("keepalive", v, r)
            }
        };
        if let Some(why) = fallback.remove(&i) {
            reason = format!("{reason} ({why}; raw probes instead)");
        }
        let restored = match how {
            How::Keepalive(pr) if now.contains_key(&s.cookie) => pr.restore().is_ok(),
            _ => false,
        };
        judged.push((method, verdict, reason, restored));
    }
    // Reap the dead still there, recorded ahead (intent records on disk before each batch is acted on).
    let doomed: Vec<usize> = (0..judged.len())
        .filter(|&i| p.reap && judged[i].1 == "dead" && now.contains_key(&p.suspects[i].cookie))
        .collect();
    let mut reaped = vec![false; judged.len()];
    let mut stopped = None;
    if !doomed.is_empty() {
        let sockets: Vec<Socket> = doomed.iter().map(|&i| p.suspects[i]).collect();
        let (r, st) = reap_dead(
            p,
            &sockets,
            &|k| judged[doomed[k]].2.clone(),
            &mut audit,
            &run,
        )?;
        stopped = st;
        for (k, done) in r.into_iter().enumerate() {
            reaped[doomed[k]] = done;
        }
    }
    let mut log = |record: serde_json::Value| {
        audit
            .append(&record.to_string())
            .map_err(|e| Failure::new(Exit::Io, format!("cannot write the audit log: {e}")))
    };
    let mut results = Vec::new();
    for (i, (method, verdict, reason, restored)) in judged.into_iter().enumerate() {
        let s = &p.suspects[i];
        if stopped.is_none() {
            log(serde_json::json!({
                "time": now_rfc3339(), "action": "probe-end", "method": method, "verdict": verdict, "reason": reason,
                "restored": restored, "socket": JSocket::new(s, p.owners), "uid": uid(),
            }))?;
        }
        results.push(JVerdict {
            socket: JSocket::new(s, p.owners),
            method,
            verdict,
            reason,
            restored,
            reaped: reaped[i],
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
                "{:<8} {:<9} {}:{} -> {}:{}  {}{}",
                r.verdict.to_uppercase(),
                r.method,
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
    if let Some(f) = stopped {
        return Err(f);
    }
    Ok(if dead > 0 && !p.reap {
        Exit::Warning
    } else {
        Exit::Ok
    })
}

/// What a `ghosts --probe --reap` kill record says besides the socket: why it was chosen.
#[derive(Serialize)]
struct DeadAbout<'a> {
    socket: JSocket<'a>,
    /// `dead: ` and the probe's verdict.
    reason: String,
}

/// Reap the dead `sockets` through the treat path ([`treat::kill::kill`]): the ladder recorded ahead,
/// the kernel read again once; reaped only when the re-read no longer shows the socket (or, after a
/// shutdown, shows it in another state). `why(k)` is the verdict of `sockets[k]`. Returns per socket
/// whether it was reaped, and the failure when the audit log stopped the run.
fn reap_dead(
    p: &ProbeRun,
    sockets: &[Socket],
    why: &dyn Fn(usize) -> String,
    audit: &mut AuditLog,
    run: &str,
) -> Result<(Vec<bool>, Option<Failure>), Failure> {
    let mut diag = scope::diag_socket(p.ns)?;
    let methods = [Method::Destroy, Method::Shutdown, Method::Rst];
    let how = Ladder {
        methods: &methods,
        rst: RstOptions::default(),
    };
    let ctx = Context {
        via: "ghosts --probe --reap",
        filter: Some(&p.filter_text),
        uid: uid(),
    };
    let path = audit.path().to_path_buf();
    let target = Target {
        ns: p.ns,
        session: Some(p.session),
        owners: p.owners,
    };
    let mut wa = WriteAhead::new(audit, run);
    let report = treat::kill::kill(
        &mut diag,
        sockets,
        &mut |k| owner_of(p.owners, &sockets[k]),
        &|k| DeadAbout {
            socket: JSocket::new(&sockets[k], p.owners),
            reason: format!("dead: {}", why(k)),
        },
        &how,
        &ctx,
        &mut wa,
        &mut reread(&target)?,
    )?;
    let stopped = report.stopped.map(|st| {
        Failure::new(
            Exit::Io,
            format!(
                "cannot write the audit log {}: {}; stopped with {} dead suspect(s) not reaped: free space there or choose another --audit-log",
                path.display(),
                st.error,
                sockets.len() - report.done.len()
            ),
        )
    });
    let mut reaped: Vec<bool> = report.done.iter().map(|k| k.killed()).collect();
    reaped.resize(sockets.len(), false);
    Ok((reaped, stopped))
}

/// Verdict of a keepalive probe from the socket as the kernel shows it afterwards.
fn keepalive_verdict(now: Option<&Socket>, probe_ms: u64) -> (&'static str, String) {
    let Some(n) = now else {
        return (
            "dead",
            "gone while probed: the peer reset it or the kernel gave up".to_string(),
        );
    };
    let ack = n.tcp.map_or(u64::MAX, |t| u64::from(t.last_ack_recv_ms));
    if ack.saturating_add(500) < probe_ms {
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

/// Verdict of raw probes.
fn raw_verdict(v: &RawVerdict, probe_time: Duration) -> (&'static str, String) {
    match v {
        RawVerdict::Alive { after_ms } => (
            "alive",
            format!("the peer answered a raw probe after {after_ms} ms"),
        ),
        RawVerdict::Reset => (
            "dead",
            "the peer answered a raw probe with a RST: it no longer knows this connection (which the RST has reset)".to_string(),
        ),
        RawVerdict::Silent { probes } if *probes >= 2 => (
            "dead",
            format!("{probes} raw probes unanswered in {probe_time:?}: the peer is gone"),
        ),
        RawVerdict::Silent { probes } => (
            "unknown",
            format!("{probes} raw probe(s) unanswered; probe longer (--probe-time)"),
        ),
        RawVerdict::Unknown(why) => ("unknown", why.clone()),
    }
}
