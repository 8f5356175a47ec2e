//! `sockdoc kill FILTER`: close matching connections in any state, by the kill ladder (SOCK_DESTROY, then
//! shutdown through the owner's fd, then a forged RST), showing the selection first, asking for more
//! than `--confirm-above` sockets, recording every socket in the audit log ahead of acting on it (intent
//! records synced before each batch, outcome records after; a record that cannot be written stops the
//! run), and reading the kernel again to report what is really gone.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use serde::Serialize;
use sockdoc_act::audit::{run_id, AuditLog, WriteAhead};
use sockdoc_act::kill::{Method, RstOptions};
use sockdoc_act::treat::kill::{Killed, Ladder, Nothing, Says};
use sockdoc_act::treat::{self, Context};
use sockdoc_core::i18n::treat::{skip_reason, text as tr, TreatMsg};
use sockdoc_core::i18n::Lang;
use sockdoc_diag::{Socket, State};
use sockdoc_proc::SocketOwners;

use crate::cli::{Global, KillArgs, KillMethod};
use crate::cmd::list::{write_text, Col, Who};
use crate::error::{Exit, Failure};
use crate::json::{write_pretty, JSocket, SCHEMA};
use crate::scope;
use crate::treat::{
    confirm, ends, finish, open_audit, owner_of, read_answer, select, show, uid, About,
    AuditStopped, Progress, Selection, Staged, Target,
};

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

/// What `kill` shows: the selection (what it acts on, what `--max` leaves, what the safety rules
/// keep out), then, after acting, each socket's result. Text or JSON is chosen at the edge.
struct KillView<'a> {
    dry_run: bool,
    max: usize,
    /// Every socket the filter selected (acted on, or left by `--max`).
    selected: usize,
    acted: &'a [Socket],
    over_max: &'a [Socket],
    excluded: &'a [(Socket, &'static str)],
    owners: Option<&'a SocketOwners>,
    /// After acting: what was done, and the audit log it is recorded in.
    done: Option<(Vec<Killed>, PathBuf)>,
}

pub fn run(g: &Global, a: &KillArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let lang = g.lang();
    let listen = a.listen;
    let sel = select(g, &a.filter, "kill", |s| {
        if s.state == State::Listen && !listen {
            Err(LISTENER)
        } else {
            Ok(())
        }
    })?;
    let (acted, over_max) = sel.sockets.split_at(a.max.min(sel.sockets.len()));
    let mut report = KillView {
        dry_run: a.dry_run,
        max: a.max,
        selected: sel.sockets.len(),
        acted,
        over_max,
        excluded: &sel.excluded,
        owners: sel.owners(),
        done: None,
    };
    show(g, &report, out)?;
    if a.dry_run {
        finish(g, &report, out)?;
        return Ok(Exit::Ok);
    }
    let typed = confirm_above(lang, acted.len(), a.confirm_above, a.yes)?;
    confirm(lang, TreatMsg::ActKill, acted.len(), a.yes || typed)?;
    let mut audit = open_audit(lang, a.audit_log.as_ref())?;
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
    let filter = a.filter.join(" ");
    let Executed { done, stopped } =
        execute(&sel, acted, methods, &rst, &filter, None, &mut audit)?;
    let killed = done.iter().filter(|k| k.killed()).count();
    report.done = Some((done, audit.path().to_path_buf()));
    finish(g, &report, out)?;
    if let Some(st) = stopped {
        return Err(st.failure(lang));
    }
    Ok(if killed == acted.len() {
        Exit::Ok
    } else {
        Exit::Warning
    })
}

/// Why a listener is left alone without `--listen` (the JSON's words).
const LISTENER: &str = "listener (add --listen)";

impl Staged for KillView<'_> {
    fn selection(&self, out: &mut dyn Write, lang: Lang) -> io::Result<()> {
        let over = if self.over_max.is_empty() {
            String::new()
        } else {
            let (n, max) = (self.over_max.len().to_string(), self.max.to_string());
            tr(lang, TreatMsg::OverMax, &[&n, &max])
        };
        let head = if self.dry_run {
            TreatMsg::KillWould
        } else {
            TreatMsg::Killing
        };
        let n = self.acted.len().to_string();
        writeln!(out, "{}", tr(lang, head, &[&n, &over]))?;
        write_text(
            out,
            lang,
            &COLS,
            self.acted,
            Who {
                owners: self.owners,
                services: None,
                ages: None,
            },
            true,
        )?;
        for (s, why) in self.excluded {
            let (l, r) = (s.local_addr().to_string(), s.remote_addr().to_string());
            let why = skip_reason(lang, why);
            writeln!(out, "{}", tr(lang, TreatMsg::LeftAlone, &[&why, &l, &r]))?;
        }
        Ok(())
    }

    fn results(&self, out: &mut dyn Write, lang: Lang) -> io::Result<()> {
        let Some((done, audit)) = &self.done else {
            return Ok(());
        };
        for k in done.iter().filter(|k| !k.killed()) {
            let ok = tr(lang, TreatMsg::RungOk, &[]);
            let tried: Vec<String> = k
                .attempts
                .iter()
                .map(|t| format!("{}: {}", t.method.name(), t.error.as_deref().unwrap_or(&ok)))
                .collect();
            let (l, r) = ends(&JSocket::new(&k.socket, self.owners));
            let tried = tried.join("; ");
            writeln!(out, "{}", tr(lang, TreatMsg::NotKilled, &[&l, &r, &tried]))?;
        }
        let killed = done.iter().filter(|k| k.killed()).count().to_string();
        let reached = done.len();
        let left = if reached < self.acted.len() {
            let n = (self.acted.len() - reached).to_string();
            tr(lang, TreatMsg::NotActedOn, &[&n])
        } else {
            String::new()
        };
        let (reached, audit) = (reached.to_string(), audit.display().to_string());
        let line = tr(
            lang,
            TreatMsg::KillDone,
            &[&killed, &reached, &left, &audit],
        );
        writeln!(out, "{line}")
    }

    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        let owners = self.owners;
        let (acted, killed, mut results) = match &self.done {
            None => (0, 0, planned(self.acted, owners)),
            Some((done, _)) => {
                let killed = done.iter().filter(|k| k.killed()).count();
                let mut results: Vec<JResult> = done.iter().map(|k| result(k, owners)).collect();
                let not_reached: Vec<(Socket, &'static str)> = self.acted[done.len()..]
                    .iter()
                    .map(|s| (*s, NOT_REACHED))
                    .collect();
                results.extend(skipped(&[], &not_reached, owners));
                (done.len(), killed, results)
            }
        };
        results.extend(skipped(self.over_max, self.excluded, owners));
        let doc = JKill {
            schema: SCHEMA,
            command: "kill",
            dry_run: self.dry_run,
            selected: self.selected,
            acted,
            killed,
            results,
        };
        write_pretty(out, &doc).map_err(io::Error::other)
    }
}

/// One socket's result, as the JSON says it.
fn result<'a>(k: &Killed, owners: Option<&'a SocketOwners>) -> JResult<'a> {
    JResult {
        socket: JSocket::new(&k.socket, owners),
        outcome: if k.killed() { "killed" } else { "failed" },
        method: k.method.map(Method::name),
        reason: k.error.clone(),
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
    }
}

/// What [`execute`] did.
pub struct Executed {
    /// The sockets acted on, in the order given: all of them, or the first ones when `stopped`.
    pub done: Vec<Killed>,
    /// The audit log could not be written: nothing after `done` was acted on.
    pub stopped: Option<AuditStopped>,
}

/// Why a socket [`execute`] did not reach is not in the report's kill results.
pub const NOT_REACHED: &str = "not acted on: the audit log could not be written";

/// Kill `sockets` (from `sel`) with the ladder `methods`, through the one treat path
/// ([`sockdoc_act::treat::kill`]): recorded ahead in the audit log (with `filter` and `via`), then
/// each batch read again as soon as it is acted on. For `kill` and for `top`'s kill action.
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
        &Says {
            intent: &|i| About::new(&sockets[i], owners),
            why: &|_| Nothing {},
        },
        how,
        &ctx,
        &mut wa,
        &mut treat::Lookup,
    );
    let left = sockets.len() - report.done.len();
    let stopped = report.stopped.map(|st| AuditStopped {
        path,
        error: st.error,
        unrecorded: st.unrecorded,
        progress: Progress::NotActed(left),
    });
    Ok(Executed {
        done: report.done,
        stopped,
    })
}

/// More than `limit` sockets need `--yes`, or the count typed back on a terminal: a filter that
/// matched far more than meant is the likeliest way to do damage. True when the count was typed.
fn confirm_above(lang: Lang, n: usize, limit: usize, yes: bool) -> Result<bool, Failure> {
    if yes || n <= limit {
        return Ok(false);
    }
    let (count, limit) = (n.to_string(), limit.to_string());
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(tr(
            lang,
            TreatMsg::RefuseAbove,
            &[&count, &limit],
        )));
    }
    if read_answer(lang, &tr(lang, TreatMsg::PromptAbove, &[&count, &limit]))? == count {
        Ok(true)
    } else {
        let act = tr(lang, TreatMsg::ActKill, &[]);
        Err(Failure::new(
            Exit::Ok,
            tr(lang, TreatMsg::NotConfirmed, &[&act]),
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

/// A dry run's results: what would be acted on.
fn planned<'a>(acted: &[Socket], owners: Option<&'a SocketOwners>) -> Vec<JResult<'a>> {
    acted
        .iter()
        .map(|s| JResult {
            socket: JSocket::new(s, owners),
            outcome: "planned",
            method: None,
            reason: None,
            attempts: Vec::new(),
        })
        .collect()
}
