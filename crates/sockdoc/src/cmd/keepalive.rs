//! `sockdoc keepalive FILTER`: retrofit TCP keepalive onto a running service without restarting it —
//! through a borrowed fd (pidfd_getfd) on each ESTABLISHED connection and listener (accepted connections
//! inherit it) — then read the kernel again to show the keepalive timers now running.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::Duration;

use serde::Serialize;
use sockdoc_act::keepalive::{retrofit, Keepalive};
use sockdoc_diag::{Proto, State, TimerKind};

use crate::cli::{Global, KeepaliveArgs};
use crate::cmd::list::{write_text, Col};
use crate::cmd::treat::{confirm, now_rfc3339, open_audit, select, uid};
use crate::error::{Exit, Failure};
use crate::json::{write_pretty, JSocket, SCHEMA};

#[derive(Serialize)]
struct JBefore {
    keepalive: bool,
    idle: u32,
    intvl: u32,
    cnt: u32,
    user_timeout_ms: u32,
}

#[derive(Serialize)]
struct JResult<'a> {
    socket: JSocket<'a>,
    pid: Option<u32>,
    fd: Option<u32>,
    outcome: &'static str,
    reason: Option<String>,
    before: Option<JBefore>,
}

#[derive(Serialize)]
struct JDoc<'a> {
    schema: u32,
    command: &'static str,
    dry_run: bool,
    selected: usize,
    set: usize,
    /// ESTABLISHED sockets the second census shows with a keepalive timer.
    verified: usize,
    results: Vec<JResult<'a>>,
}

const COLS: [Col; 5] = [Col::State, Col::Local, Col::Peer, Col::Timer, Col::Process];

pub fn run(g: &Global, a: &KeepaliveArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    if a.idle == 0 || a.intvl == 0 || a.cnt == 0 {
        return Err(Failure::usage(
            "--idle, --intvl and --cnt must be at least 1",
        ));
    }
    crate::cmd::treat::refuse_blank("keepalive", &a.filter)?;
    let words = a.words().map_err(Failure::usage)?;
    let sel = select(g, &words, "keepalive", |s| {
        if s.proto != Proto::Tcp || !matches!(s.state, State::Established | State::Listen) {
            Err("not an ESTABLISHED or LISTEN TCP socket")
        } else if s.inode == 0 {
            Err("no process holds it")
        } else {
            Ok(())
        }
    })?;
    let owners = sel.owners.as_ref();
    let want = Keepalive {
        enabled: true,
        idle: a.idle,
        intvl: a.intvl,
        cnt: a.cnt,
        user_timeout_ms: a.user_timeout.unwrap_or(0),
    };
    if !g.json {
        writeln!(
            out,
            "{} keepalive (idle {} s, interval {} s, {} probes{}) on {} socket(s):",
            if a.dry_run { "would set" } else { "setting" },
            a.idle,
            a.intvl,
            a.cnt,
            a.user_timeout
                .map_or(String::new(), |t| format!(", TCP_USER_TIMEOUT {t} ms")),
            sel.sockets.len()
        )
        .map_err(Failure::output)?;
        write_text(out, &COLS, &sel.sockets, owners, true).map_err(Failure::output)?;
        out.flush().map_err(Failure::output)?;
    }
    let skipped = sel.excluded.iter().map(|(s, why)| JResult {
        socket: JSocket::new(s, owners),
        pid: None,
        fd: None,
        outcome: "skipped",
        reason: Some(why.to_string()),
        before: None,
    });
    if a.dry_run {
        if g.json {
            let mut results: Vec<JResult> = sel
                .sockets
                .iter()
                .map(|s| JResult {
                    socket: JSocket::new(s, owners),
                    pid: None,
                    fd: None,
                    outcome: "planned",
                    reason: None,
                    before: None,
                })
                .collect();
            results.extend(skipped);
            write_json(out, true, sel.sockets.len(), 0, 0, results)?;
        }
        return Ok(Exit::Ok);
    }
    confirm("set keepalive on", sel.sockets.len(), a.yes)?;
    let mut audit = open_audit(a.audit_log.as_ref())?;
    let filter_text = words.join(" ");
    let mut results = Vec::new();
    let mut set = 0;
    for s in &sel.sockets {
        let owner = owners.and_then(|o| o.owners(s.inode).next());
        let (outcome, reason, before, pid, fd) = match owner {
            None => (
                "failed",
                Some("its owner exited".to_string()),
                None,
                None,
                None,
            ),
            Some(o) => match retrofit(o.pid, o.fd, s.inode, &want) {
                Ok(b) => ("set", None, Some(b), Some(o.pid), Some(o.fd)),
                Err(e) => {
                    let why = match e.raw_os_error() {
                        Some(libc::EPERM) => {
                            "borrowing the owner's fd needs root (ptrace access)".to_string()
                        }
                        Some(libc::ENOSYS) => "pidfd_getfd needs Linux 5.6 or newer".to_string(),
                        _ => e.to_string(),
                    };
                    ("failed", Some(why), None, Some(o.pid), Some(o.fd))
                }
            },
        };
        if outcome == "set" {
            set += 1;
        }
        let jb = |b: &Keepalive| JBefore {
            keepalive: b.enabled,
            idle: b.idle,
            intvl: b.intvl,
            cnt: b.cnt,
            user_timeout_ms: b.user_timeout_ms,
        };
        let record = serde_json::json!({
            "time": now_rfc3339(),
            "action": "keepalive",
            "outcome": outcome,
            "reason": reason,
            "pid": pid,
            "fd": fd,
            "before": before.as_ref().map(jb),
            "after": jb(&want),
            "socket": JSocket::new(s, owners),
            "filter": filter_text,
            "uid": uid(),
        });
        audit
            .append(&record.to_string())
            .map_err(|e| Failure::io("write the audit log", audit.path(), e))?;
        results.push(JResult {
            socket: JSocket::new(s, owners),
            pid,
            fd,
            outcome,
            reason,
            before: before.as_ref().map(jb),
        });
    }
    audit
        .sync()
        .map_err(|e| Failure::io("sync the audit log", audit.path(), e))?;
    results.extend(skipped);
    // Read the kernel again: an ESTABLISHED connection with keepalive on shows the keepalive timer.
    let (after, _) = sel.plan.sockets(&sel.ns, owners).map_err(Failure::census)?;
    let timers: HashMap<u64, TimerKind> = after.iter().map(|s| (s.cookie, s.timer.kind)).collect();
    let verified = sel
        .sockets
        .iter()
        .filter(|s| s.state == State::Established)
        .filter(|s| timers.get(&s.cookie) == Some(&TimerKind::Keepalive))
        .count();
    if g.json {
        write_json(out, false, sel.sockets.len(), set, verified, results)?;
    } else {
        for r in results.iter().filter(|r| r.outcome == "failed") {
            writeln!(
                out,
                "  not set: {}:{} -> {}:{} ({})",
                r.socket.local.ip,
                r.socket.local.port,
                r.socket.remote.ip,
                r.socket.remote.port,
                r.reason.as_deref().unwrap_or("?")
            )
            .map_err(Failure::output)?;
        }
        writeln!(
            out,
            "set on {set} of {}; {verified} connection(s) now show timer:(keepalive,...) in `ss -o`; recorded in {}",
            sel.sockets.len(),
            audit.path().display()
        )
        .map_err(Failure::output)?;
    }
    if a.watch {
        let every = crate::cmd::doctor::parse_duration("--every", &a.every)?;
        let mut seen: HashSet<u64> = sel.sockets.iter().map(|s| s.cookie).collect();
        watch(g, &words, &want, every, &mut seen, &mut audit, out)?;
    }
    Ok(if set == sel.sockets.len() {
        Exit::Ok
    } else {
        Exit::Warning
    })
}

fn write_json(
    out: &mut dyn Write,
    dry_run: bool,
    selected: usize,
    set: usize,
    verified: usize,
    results: Vec<JResult>,
) -> Result<(), Failure> {
    let doc = JDoc {
        schema: SCHEMA,
        command: "keepalive",
        dry_run,
        selected,
        set,
        verified,
        results,
    };
    write_pretty(out, &doc).map_err(Failure::output)
}

/// `--watch`: until interrupted, give keepalive to connections and listeners that appear.
fn watch(
    g: &Global,
    words: &[String],
    want: &Keepalive,
    every: Duration,
    seen: &mut HashSet<u64>,
    audit: &mut sockdoc_act::audit::AuditLog,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    crate::signals::install();
    writeln!(
        out,
        "watching for new sockets every {every:?}; Ctrl-C to stop"
    )
    .map_err(Failure::output)?;
    out.flush().map_err(Failure::output)?;
    while !crate::signals::stopped() {
        // Sleep in small steps so a signal ends the watch promptly.
        let mut slept = Duration::ZERO;
        while slept < every && !crate::signals::stopped() {
            let step = Duration::from_millis(50).min(every - slept);
            std::thread::sleep(step);
            slept += step;
        }
        if crate::signals::stopped() {
            break;
        }
        let sel = select(g, words, "keepalive", |s| {
            if s.proto == Proto::Tcp
                && matches!(s.state, State::Established | State::Listen)
                && s.inode != 0
            {
                Ok(())
            } else {
                Err("not eligible")
            }
        })?;
        let owners = sel.owners.as_ref();
        let mut n = 0;
        for s in &sel.sockets {
            if s.timer.kind == TimerKind::Keepalive || !seen.insert(s.cookie) {
                continue;
            }
            let Some(o) = owners.and_then(|o| o.owners(s.inode).next()) else {
                continue;
            };
            let outcome = match retrofit(o.pid, o.fd, s.inode, want) {
                Ok(_) => {
                    n += 1;
                    "set"
                }
                Err(_) => "failed",
            };
            let record = serde_json::json!({
                "time": now_rfc3339(), "action": "keepalive", "outcome": outcome, "watch": true,
                "pid": o.pid, "fd": o.fd, "socket": JSocket::new(s, owners),
                "filter": words.join(" "), "uid": uid(),
            });
            audit
                .append(&record.to_string())
                .map_err(|e| Failure::io("write the audit log", audit.path(), e))?;
        }
        if n > 0 && !g.json {
            writeln!(out, "{} set keepalive on {n} new socket(s)", now_rfc3339())
                .map_err(Failure::output)?;
            out.flush().map_err(Failure::output)?;
        }
        let _ = audit.sync();
    }
    Ok(())
}
