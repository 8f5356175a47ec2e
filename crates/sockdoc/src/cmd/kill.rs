//! `sockdoc kill FILTER`: close matching connections in any state, by the kill ladder (SOCK_DESTROY, then
//! shutdown through the owner's fd, then a forged RST), showing the selection first, asking for more
//! than `--confirm-above` sockets, recording every socket in the audit log ahead of acting on it (intent
//! records synced before each batch, outcome records after; a record that cannot be written stops the
//! run), and reading the kernel again to report what is really gone.

use std::io::{IsTerminal, Write};

use serde::Serialize;
use sockdoc_act::audit::{run_id, AuditLog, WriteAhead};
use sockdoc_act::kill::{Attempt, Method, RstOptions};
use sockdoc_act::treat::{self, kill::Ladder, AuditStop, Context};
use sockdoc_diag::{Socket, State};
use sockdoc_proc::SocketOwners;

use crate::cli::{Global, KillArgs, KillMethod};
use crate::cmd::list::{write_text, Col};
use crate::cmd::treat::{
    confirm, open_audit, owner_of, reread, select, uid, About, Selection, Target,
};
use crate::error::{Exit, Failure};
use crate::json::{write_pretty, JSocket, SCHEMA};
use crate::scope;

#[derive(Serialize)]
struct JAttempt {
    method: &'static str,
    ok: bool,
    error: Option<String>,
    /// What the rung did (the rst rung: sequence numbers learned and used).
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

#[derive(Serialize)]
struct JResult<'a> {
    socket: JSocket<'a>,
    outcome: &'static str,
    method: Option<&'static str>,
    reason: Option<String>,
    attempts: Vec<JAttempt>,
}

#[derive(Serialize)]
struct JKill<'a> {
    schema: u32,
    command: &'static str,
    dry_run: bool,
    selected: usize,
    acted: usize,
    killed: usize,
    results: Vec<JResult<'a>>,
}

const COLS: [Col; 6] = [
    Col::Netid,
    Col::State,
    Col::Local,
    Col::Peer,
    Col::Timer,
    Col::Process,
];

pub fn run(g: &Global, a: &KillArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let listen = a.listen;
    let sel = select(g, &a.filter, "kill", |s| {
        if s.state == State::Listen && !listen {
            Err("listener (add --listen)")
        } else {
            Ok(())
        }
    })?;
    let owners = sel.owners();
    let acted: Vec<Socket> = sel.sockets.iter().take(a.max).copied().collect();
    let over_max: Vec<Socket> = sel.sockets.iter().skip(a.max).copied().collect();
    if !g.json {
        writeln!(
            out,
            "{} {} socket(s){}:",
            if a.dry_run { "would kill" } else { "killing" },
            acted.len(),
            if over_max.is_empty() {
                String::new()
            } else {
                format!(" ({} more left by --max {})", over_max.len(), a.max)
            }
        )
        .map_err(Failure::output)?;
        write_text(out, &COLS, &acted, owners, true).map_err(Failure::output)?;
        for (s, why) in &sel.excluded {
            writeln!(
                out,
                "  left alone ({why}): {} -> {}",
                s.local_addr(),
                s.remote_addr()
            )
            .map_err(Failure::output)?;
        }
        out.flush().map_err(Failure::output)?;
    }
    if a.dry_run {
        if g.json {
            let results = plan_results(&acted, &over_max, &sel.excluded, owners);
            write_json(out, true, sel.sockets.len(), 0, 0, results)?;
        }
        return Ok(Exit::Ok);
    }
    let typed = confirm_above(acted.len(), a.confirm_above, a.yes)?;
    confirm("kill", acted.len(), a.yes || typed)?;
    let mut audit = open_audit(a.audit_log.as_ref())?;
    let methods: &[Method] = match a.method {
        KillMethod::Auto => &[Method::Destroy, Method::Shutdown, Method::Rst],
        KillMethod::Destroy => &[Method::Destroy],
        KillMethod::Shutdown => &[Method::Shutdown],
        KillMethod::Rst => &[Method::Rst],
    };
    let rst = RstOptions {
        tell_peer: a.tell_peer,
        ..RstOptions::default()
    };
    let Executed { done, stopped } = execute(
        &sel,
        &acted,
        methods,
        &rst,
        &a.filter.join(" "),
        None,
        &mut audit,
    )?;
    let killed = done.iter().filter(|k| k.killed).count();
    let reached = done.len();
    let mut results: Vec<JResult> = done
        .into_iter()
        .map(|k| JResult {
            socket: JSocket::new(&k.socket, owners),
            outcome: if k.killed { "killed" } else { "failed" },
            method: k.method.map(Method::name),
            reason: k.reason,
            attempts: k
                .attempts
                .iter()
                .map(|t| JAttempt {
                    method: t.method.name(),
                    ok: t.error.is_none(),
                    error: t.error.clone(),
                    note: t.note.clone(),
                })
                .collect(),
        })
        .collect();
    let not_reached: Vec<(Socket, &'static str)> =
        acted[reached..].iter().map(|s| (*s, NOT_REACHED)).collect();
    results.extend(skipped(&[], &not_reached, owners));
    results.extend(skipped(&over_max, &sel.excluded, owners));
    if g.json {
        write_json(out, false, sel.sockets.len(), reached, killed, results)?;
    } else {
        for r in results.iter().filter(|r| r.outcome == "failed") {
            let tried: Vec<String> = r
                .attempts
                .iter()
                .map(|t| format!("{}: {}", t.method, t.error.as_deref().unwrap_or("ok")))
                .collect();
            writeln!(
                out,
                "  not killed: {}:{} -> {}:{} ({})",
                r.socket.local.ip,
                r.socket.local.port,
                r.socket.remote.ip,
                r.socket.remote.port,
                tried.join("; ")
            )
            .map_err(Failure::output)?;
        }
        writeln!(
            out,
            "killed {killed} of {reached}{}; recorded in {}",
            if reached < acted.len() {
                format!(" ({} not acted on)", acted.len() - reached)
            } else {
                String::new()
            },
            audit.path().display()
        )
        .map_err(Failure::output)?;
    }
    if let Some(f) = stopped {
        return Err(f);
    }
    Ok(if killed == acted.len() {
        Exit::Ok
    } else {
        Exit::Warning
    })
}

/// One socket's kill, as the report and the audit log see it.
pub struct Killed {
    pub socket: Socket,
    /// The rung that worked, if one did.
    pub method: Option<Method>,
    /// The rung worked and the kernel, read again, no longer shows the socket (or, after shutdown,
    /// shows it in another state).
    pub killed: bool,
    /// Why not, when not killed.
    pub reason: Option<String>,
    pub attempts: Vec<Attempt>,
}

/// What [`execute`] did.
pub struct Executed {
    /// The sockets acted on, in the order given: all of them, or the first ones when `stopped`.
    pub done: Vec<Killed>,
    /// The audit log could not be written: nothing after `done` was acted on. One line naming the
    /// log and what to do (exit 74, or 77 for a permission problem).
    pub stopped: Option<Failure>,
}

/// Why a socket [`execute`] did not reach is not in the report's kill results.
pub const NOT_REACHED: &str = "not acted on: the audit log could not be written";

/// Kill `sockets` (from `sel`) with the ladder `methods`, through the one treat path
/// ([`sockdoc_act::treat::kill`]): recorded ahead in the audit log (with `filter` and `via`), then
/// the kernel read again once with the selection's plan. For `kill` and for `top`'s kill action.
pub fn execute(
    sel: &Selection,
    sockets: &[Socket],
    methods: &[Method],
    rst: &RstOptions,
    filter: &str,
    via: Option<&str>,
    audit: &mut AuditLog,
) -> Result<Executed, Failure> {
    let how = Ladder { methods, rst: *rst };
    let target = Target {
        ns: &sel.ns,
        session: Some(&sel.session),
        owners: sel.owners(),
    };
    kill_sockets(
        &target,
        sockets,
        &how,
        Some(filter),
        via.unwrap_or("kill"),
        audit,
    )
}

/// Kill exactly `sockets` of `t` (a caller such as `top` passes the sockets it shows, by cookie:
/// no filter words), recorded in `audit` with `filter` (when there is one) and `via` (the command).
/// The one place the CLI closes sockets.
pub fn kill_sockets(
    t: &Target,
    sockets: &[Socket],
    how: &Ladder,
    filter: Option<&str>,
    via: &str,
    audit: &mut AuditLog,
) -> Result<Executed, Failure> {
    let owners = t.owners;
    // The netlink socket must live in the target namespace: open it on a thread that entered it.
    let mut diag = scope::diag_socket(t.ns)?;
    let path = audit.path().to_path_buf();
    let ctx = Context {
        via,
        filter,
        uid: uid(),
    };
    let mut wa = WriteAhead::new(audit, run_id());
    let report = treat::kill::kill(
        &mut diag,
        sockets,
        &mut |i| owner_of(owners, &sockets[i]),
        &|i| About::new(&sockets[i], owners),
        how,
        &ctx,
        &mut wa,
        &mut reread(t)?,
    )?;
    let stopped = report
        .stopped
        .map(|st| stopped_failure(&path, st, sockets.len() - report.done.len()));
    let done = report
        .done
        .into_iter()
        .map(|k| Killed {
            socket: k.socket,
            method: k.method,
            killed: k.killed(),
            reason: k.error,
            attempts: k.attempts,
        })
        .collect();
    Ok(Executed { done, stopped })
}

/// The one line saying the run stopped on the audit log (exit 74, or 77 for a permission problem).
fn stopped_failure(path: &std::path::Path, st: AuditStop, left: usize) -> Failure {
    let mut msg = format!(
        "cannot write the audit log {}: {}; stopped with {left} socket(s) not acted on",
        path.display(),
        st.error
    );
    if st.unrecorded > 0 {
        msg.push_str(&format!(
            " ({} acted on have an intent but no outcome record)",
            st.unrecorded
        ));
    }
    msg.push_str(": free space there or choose another --audit-log, then run again");
    let exit = if st.error.kind() == std::io::ErrorKind::PermissionDenied {
        Exit::NoPerm
    } else {
        Exit::Io
    };
    Failure::new(exit, msg)
}

/// More than `limit` sockets need `--yes`, or the count typed back on a terminal: a filter that
/// matched far more than meant is the likeliest way to do damage. True when the count was typed.
fn confirm_above(n: usize, limit: usize, yes: bool) -> Result<bool, Failure> {
    if yes || n <= limit {
        return Ok(false);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "refusing to kill {n} sockets, more than --confirm-above {limit}, without --yes (check the selection with --dry-run)"
        )));
    }
    eprint!("kill {n} sockets (more than --confirm-above {limit})? type {n} to confirm: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Failure::new(Exit::Io, format!("cannot read the answer: {e}")))?;
    if answer.trim() == n.to_string() {
        Ok(true)
    } else {
        Err(Failure::new(
            Exit::Ok,
            "nothing done: kill not confirmed".to_string(),
        ))
    }
}

fn skipped<'a>(
    over_max: &[Socket],
    excluded: &[(Socket, &'static str)],
    owners: Option<&'a SocketOwners>,
) -> Vec<JResult<'a>> {
    let over = over_max.iter().map(|s| (s, "over --max"));
    over.chain(excluded.iter().map(|(s, why)| (s, *why)))
        .map(|(s, why)| JResult {
            socket: JSocket::new(s, owners),
            outcome: "skipped",
            method: None,
            reason: Some(why.to_string()),
            attempts: Vec::new(),
        })
        .collect()
}

/// A dry run's results: what would be acted on, and what would be left alone.
fn plan_results<'a>(
    acted: &[Socket],
    over_max: &[Socket],
    excluded: &[(Socket, &'static str)],
    owners: Option<&'a SocketOwners>,
) -> Vec<JResult<'a>> {
    let mut v: Vec<JResult<'a>> = acted
        .iter()
        .map(|s| JResult {
            socket: JSocket::new(s, owners),
            outcome: "planned",
            method: None,
            reason: None,
            attempts: Vec::new(),
        })
        .collect();
    v.extend(skipped(over_max, excluded, owners));
    v
}

fn write_json(
    out: &mut dyn Write,
    dry_run: bool,
    selected: usize,
    acted: usize,
    killed: usize,
    results: Vec<JResult>,
) -> Result<(), Failure> {
    let doc = JKill {
        schema: SCHEMA,
        command: "kill",
        dry_run,
        selected,
        acted,
        killed,
        results,
    };
    write_pretty(out, &doc).map_err(Failure::output)
}
