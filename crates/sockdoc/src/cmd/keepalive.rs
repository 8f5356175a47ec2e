//! `sockdoc keepalive FILTER`: retrofit TCP keepalive onto a running service without restarting it —
//! through a borrowed fd (pidfd_getfd) on each ESTABLISHED connection and listener (accepted connections
//! inherit it) — then read the kernel again to show the keepalive timers now running.
//!
//! Only the options asked for are written (TCP_USER_TIMEOUT only with `--user-timeout`), every value is
//! checked against the kernel's limits before the first socket is touched, and a socket whose write
//! fails part-way gets its previous values back. The audit log is written ahead, as for `kill`
//! ([`WriteAhead`]): batch by batch, the intent records are synced before a socket of the batch
//! changes and the outcome records before the next batch; a record that cannot be written stops the
//! run before its next change. `--restore --from-audit FILE` ([`restore`]) undoes a run.

mod from_audit;
mod restore;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::Duration;

use serde::Serialize;
use sockdoc_act::audit::{run_id, AuditLog, WriteAhead};
use sockdoc_act::keepalive::{Change, Keepalive, Opt};
use sockdoc_act::treat::keepalive::{Options, Written};
use sockdoc_act::treat::{self, Context};
use sockdoc_diag::{Proto, Socket, State, TimerKind};
use sockdoc_proc::SocketOwners;

use crate::cli::{Global, KeepaliveArgs};
use crate::cmd::kill::NOT_REACHED;
use crate::cmd::list::{write_text, Col};
use crate::cmd::treat::{confirm, now_rfc3339, open_audit, owner_of, select, uid};
use crate::error::{Exit, Failure};
use crate::json::{write_pretty, JSocket, SCHEMA};

/// The shortest `--every`: as in `top -d` and reap's interval.
const MIN_EVERY: Duration = Duration::from_millis(100);

/// A socket's keepalive options, as JSON (results and audit records).
pub(crate) type JKeepalive = Options;

/// The options a change writes, as JSON (absent keys are left as they are).
fn change_json(c: &Change) -> serde_json::Value {
    serde_json::to_value(Written::from(c)).unwrap_or_default()
}

#[derive(Serialize)]
struct JResult<'a> {
    socket: JSocket<'a>,
    pid: Option<u32>,
    fd: Option<u32>,
    outcome: &'static str,
    reason: Option<String>,
    /// The options read before writing (null only when they could not be read).
    before: Option<JKeepalive>,
    /// The options read back after writing ("set" only).
    after: Option<JKeepalive>,
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

/// The flag that sets `opt`.
fn flag(opt: Opt) -> &'static str {
    match opt {
        Opt::Idle => "--idle",
        Opt::Intvl => "--intvl",
        Opt::Cnt => "--cnt",
        Opt::UserTimeout => "--user-timeout",
        Opt::Enabled => "--restore",
    }
}

/// What the arguments ask for, checked against the kernel's limits (a usage error naming the limit).
fn change_of(a: &KeepaliveArgs) -> Result<Change, Failure> {
    let change = Change {
        user_timeout_ms: a.user_timeout,
        ..Change::keepalive(a.idle, a.intvl, a.cnt)
    };
    change.validate().map_err(|e| {
        let (lo, hi, limit) = e.opt.range();
        let unit = match e.opt {
            Opt::Idle | Opt::Intvl => " seconds",
            Opt::UserTimeout => " ms",
            _ => "",
        };
        Failure::usage(format!(
            "{} {} is out of range: the kernel takes {lo} to {hi}{unit} for {} ({limit}); choose a value in that range",
            flag(e.opt),
            e.value,
            e.opt.name()
        ))
    })?;
    Ok(change)
}

/// `--every`, at least [`MIN_EVERY`].
fn every_of(a: &KeepaliveArgs) -> Result<Duration, Failure> {
    let every = crate::cmd::doctor::parse_duration("--every", &a.every)?;
    if every < MIN_EVERY {
        return Err(Failure::usage(format!(
            "--every {} is too short: it is at least 100ms (each round is a full census)",
            a.every
        )));
    }
    Ok(every)
}

/// Whether keepalive can be set on `s`.
fn eligible(s: &Socket) -> Result<(), &'static str> {
    if s.proto != Proto::Tcp || !matches!(s.state, State::Established | State::Listen) {
        Err("not an ESTABLISHED or LISTEN TCP socket")
    } else if s.inode == 0 {
        Err("no process holds it")
    } else {
        Ok(())
    }
}

pub fn run(g: &Global, a: &KeepaliveArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    if a.restore {
        return restore::run(g, a, out);
    }
    // Everything the user typed is checked before the first census, let alone the first socket.
    let change = change_of(a)?;
    let every = if a.watch { Some(every_of(a)?) } else { None };
    crate::cmd::treat::refuse_blank("keepalive", &a.filter)?;
    let words = a.words().map_err(Failure::usage)?;
    let sel = select(g, &words, "keepalive", eligible)?;
    let owners = sel.owners();
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
        after: None,
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
                    after: None,
                })
                .collect();
            results.extend(skipped);
            write_json(out, true, sel.sockets.len(), 0, 0, results)?;
        }
        return Ok(Exit::Ok);
    }
    confirm("set keepalive on", sel.sockets.len(), a.yes)?;
    let mut log = Log {
        audit: open_audit(a.audit_log.as_ref())?,
        run: run_id(),
    };
    let filter_text = words.join(" ");
    let targets: Vec<&Socket> = sel.sockets.iter().collect();
    let Acted { done, stopped } = act(&targets, owners, &change, &filter_text, false, &mut log);
    let set = done.iter().filter(|d| d.outcome == "set").count();
    let reached = done.len();
    let not_reached = sel.sockets[reached..].iter().map(|s| JResult {
        socket: JSocket::new(s, owners),
        pid: None,
        fd: None,
        outcome: "skipped",
        reason: Some(NOT_REACHED.to_string()),
        before: None,
        after: None,
    });
    let mut results: Vec<JResult> = sel
        .sockets
        .iter()
        .zip(done)
        .map(|(s, d)| JResult {
            socket: JSocket::new(s, owners),
            pid: d.pid,
            fd: d.fd,
            outcome: d.outcome,
            reason: d.reason,
            before: d.before.as_ref().map(JKeepalive::from),
            after: d.after.as_ref().map(JKeepalive::from),
        })
        .collect();
    results.extend(not_reached);
    results.extend(skipped);
    // Read the kernel again: an ESTABLISHED connection with keepalive on shows the keepalive timer.
    let after = sel.reread()?;
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
            "set on {set} of {}{}; {verified} connection(s) now show timer:(keepalive,...) in `ss -o`; recorded in {}",
            sel.sockets.len(),
            if reached < sel.sockets.len() {
                format!(" ({} not acted on)", sel.sockets.len() - reached)
            } else {
                String::new()
            },
            log.audit.path().display()
        )
        .map_err(Failure::output)?;
    }
    if let Some(f) = stopped {
        return Err(f);
    }
    if let Some(every) = every {
        let mut seen: HashSet<u64> = sel.sockets.iter().map(|s| s.cookie).collect();
        watch(g, &words, &change, every, &mut seen, &mut log, out)?;
    }
    Ok(if set == sel.sockets.len() {
        Exit::Ok
    } else {
        Exit::Warning
    })
}

/// The audit log, and the id of this run in it (one for the whole invocation, `--watch` rounds
/// included).
struct Log {
    audit: AuditLog,
    run: String,
}

/// What happened to one socket.
struct Done {
    pid: Option<u32>,
    fd: Option<u32>,
    outcome: &'static str,
    reason: Option<String>,
    before: Option<Keepalive>,
    after: Option<Keepalive>,
}

/// What [`act`] did.
struct Acted {
    /// The sockets acted on, in the order given: all of them, or the first ones when `stopped`.
    done: Vec<Done>,
    /// The audit log could not be written: nothing after `done` was acted on (exit 74, or 77).
    stopped: Option<Failure>,
}

/// What the CLI's keepalive records say besides the socket: whether a `--watch` round wrote them.
#[derive(Serialize)]
struct KaAbout<'a> {
    socket: JSocket<'a>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    watch: bool,
}

/// The run stopped on an audit write: one line naming the log, what was changed, and what to do.
fn audit_failed(
    path: &std::path::Path,
    e: std::io::Error,
    changed: usize,
    of: usize,
    unrecorded: usize,
) -> Failure {
    let mut f = Failure::io("write the audit log", path, e);
    if f.exit != Exit::NoPerm {
        f.exit = Exit::Io;
    }
    f.message.push_str(&format!(
        "; stopped after changing {changed} of {of} socket(s)"
    ));
    if unrecorded > 0 {
        f.message.push_str(&format!(
            " ({unrecorded} acted on have an intent but no outcome record)"
        ));
    }
    f.message
        .push_str(": free space there or choose another --audit-log, then run again");
    f
}

/// Apply `change` to `targets` through the treat path ([`treat::keepalive::keepalive`]): batch by
/// batch, the intents (with each socket's options before) are on disk before a socket of the batch
/// changes and the outcome records before the next batch starts; a record that cannot be written
/// stops the run there ([`Acted::stopped`]).
fn act(
    targets: &[&Socket],
    owners: Option<&SocketOwners>,
    change: &Change,
    filter_text: &str,
    watch: bool,
    log: &mut Log,
) -> Acted {
    let sockets: Vec<Socket> = targets.iter().map(|s| **s).collect();
    let ctx = Context {
        via: "keepalive",
        filter: Some(filter_text),
        uid: uid(),
    };
    let path = log.audit.path().to_path_buf();
    let mut wa = WriteAhead::new(&mut log.audit, log.run.as_str());
    let report = treat::keepalive::keepalive(
        &sockets,
        &|i| owner_of(owners, &sockets[i]),
        &|i| KaAbout {
            socket: JSocket::new(&sockets[i], owners),
            watch,
        },
        change,
        &ctx,
        &mut wa,
    );
    let done: Vec<Done> = report
        .done
        .into_iter()
        .map(|d| Done {
            pid: d.owner.map(|o| o.0),
            fd: d.owner.map(|o| o.1),
            outcome: d.outcome(),
            reason: d.error,
            before: d.before,
            after: d.after,
        })
        .collect();
    let stopped = report.stopped.map(|st| {
        let changed = done.iter().filter(|d| d.outcome == "set").count();
        audit_failed(&path, st.error, changed, targets.len(), st.unrecorded)
    });
    Acted { done, stopped }
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
    change: &Change,
    every: Duration,
    seen: &mut HashSet<u64>,
    log: &mut Log,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    crate::signals::install();
    writeln!(
        out,
        "watching for new sockets every {every:?}; Ctrl-C to stop"
    )
    .map_err(Failure::output)?;
    out.flush().map_err(Failure::output)?;
    let filter_text = words.join(" ");
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
            eligible(s).map_err(|_| "not eligible")
        })?;
        let owners = sel.owners();
        let new: Vec<&Socket> = sel
            .sockets
            .iter()
            .filter(|s| s.timer.kind != TimerKind::Keepalive && seen.insert(s.cookie))
            .filter(|s| owners.and_then(|o| o.owners(s.inode).next()).is_some())
            .collect();
        if new.is_empty() {
            continue;
        }
        let Acted { done, stopped } = act(&new, owners, change, &filter_text, true, log);
        let n = done.iter().filter(|d| d.outcome == "set").count();
        if n > 0 && !g.json {
            writeln!(out, "{} set keepalive on {n} new socket(s)", now_rfc3339())
                .map_err(Failure::output)?;
            out.flush().map_err(Failure::output)?;
        }
        if let Some(f) = stopped {
            return Err(f);
        }
    }
    Ok(())
}
