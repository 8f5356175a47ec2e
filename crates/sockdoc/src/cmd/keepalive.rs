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
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use sockdoc_act::audit::{run_id, AuditLog, WriteAhead};
use sockdoc_act::keepalive::{Change, Keepalive, Opt};
use sockdoc_act::treat::keepalive::{Options, Written};
use sockdoc_act::treat::{self, AuditStop, Context};
use sockdoc_core::i18n::treat::{text as tr, TreatMsg};
use sockdoc_core::i18n::Lang;
use sockdoc_diag::{Proto, Socket, State, TimerKind};
use sockdoc_proc::SocketOwners;

use crate::cli::{Global, KeepaliveArgs};
use crate::cmd::kill::NOT_REACHED;
use crate::cmd::list::{write_text, Col, Who};
use crate::error::{Exit, Failure};
use crate::json::{write_pretty, JSocket, SCHEMA};
use crate::report::Report;
use crate::treat::{
    confirm, ends, finish, now_rfc3339, open_audit, owner_of, select, show, uid, AuditStopped,
    Progress, Selection, Staged,
};

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
pub fn change_of(lang: Lang, a: &KeepaliveArgs) -> Result<Change, Failure> {
    let change = Change {
        user_timeout_ms: a.user_timeout,
        ..Change::keepalive(a.idle, a.intvl, a.cnt)
    };
    change.validate().map_err(|e| {
        let (lo, hi, limit) = e.opt.range();
        let unit = match e.opt {
            Opt::Idle | Opt::Intvl => tr(lang, TreatMsg::KaUnitSeconds, &[]),
            Opt::UserTimeout => tr(lang, TreatMsg::KaUnitMs, &[]),
            _ => String::new(),
        };
        let (value, lo, hi) = (e.value.to_string(), lo.to_string(), hi.to_string());
        let args = [flag(e.opt), &value, &lo, &hi, &unit, e.opt.name(), limit];
        Failure::usage(tr(lang, TreatMsg::KaOutOfRange, &args))
    })?;
    Ok(change)
}

/// `--every`, at least [`MIN_EVERY`].
fn every_of(lang: Lang, a: &KeepaliveArgs) -> Result<Duration, Failure> {
    let every = crate::cmd::doctor::parse_duration(lang, "--every", &a.every)?;
    if every < MIN_EVERY {
        return Err(Failure::usage(tr(
            lang,
            TreatMsg::KaEveryShort,
            &[&a.every],
        )));
    }
    Ok(every)
}

/// Whether keepalive can be set on `s`.
pub fn eligible(s: &Socket) -> Result<(), &'static str> {
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
    let lang = g.lang();
    // Everything the user typed is checked before the first census, let alone the first socket.
    let change = change_of(lang, a)?;
    let every = if a.watch {
        Some(every_of(lang, a)?)
    } else {
        None
    };
    crate::treat::refuse_blank(lang, "keepalive", &a.filter)?;
    let words = a.words().map_err(Failure::usage)?;
    let sel = select(g, &words, "keepalive", eligible)?;
    let mut report = KaReport {
        a,
        sockets: &sel.sockets,
        excluded: &sel.excluded,
        owners: sel.owners(),
        done: None,
    };
    show(g, &report, out)?;
    if a.dry_run {
        finish(g, &report, out)?;
        return Ok(Exit::Ok);
    }
    confirm(lang, TreatMsg::ActSetKeepalive, sel.sockets.len(), a.yes)?;
    let mut log = Log {
        audit: open_audit(lang, a.audit_log.as_ref())?,
        run: run_id(),
    };
    let filter_text = words.join(" ");
    let SetOn {
        done,
        verified,
        stopped,
    } = set_on(&sel, &change, &filter_text, &mut log)?;
    let set = done.iter().filter(|d| d.outcome == "set").count();
    report.done = Some(KaDone {
        done,
        verified,
        audit: log.audit.path().to_path_buf(),
    });
    finish(g, &report, out)?;
    if let Some(st) = stopped {
        return Err(st.failure(lang));
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

/// What `keepalive` shows: the selection and the options it sets, then, after acting, each
/// socket's result and how many connections the kernel, read again, shows with a keepalive timer.
struct KaReport<'a> {
    a: &'a KeepaliveArgs,
    sockets: &'a [Socket],
    excluded: &'a [(Socket, &'static str)],
    owners: Option<&'a SocketOwners>,
    done: Option<KaDone>,
}

/// What the run did: per socket reached, the connections verified, the audit log.
struct KaDone {
    done: Vec<Done>,
    verified: usize,
    audit: PathBuf,
}

impl Staged for KaReport<'_> {
    fn selection(&self, out: &mut dyn Write, lang: Lang) -> io::Result<()> {
        let a = self.a;
        let ut = a.user_timeout.map_or(String::new(), |t| {
            tr(lang, TreatMsg::KaUserTimeout, &[&t.to_string()])
        });
        let head = if a.dry_run {
            TreatMsg::KaWould
        } else {
            TreatMsg::KaSetting
        };
        let n = [a.idle, a.intvl, a.cnt].map(|v| v.to_string());
        let count = self.sockets.len().to_string();
        let line = tr(lang, head, &[&n[0], &n[1], &n[2], &ut, &count]);
        writeln!(out, "{line}")?;
        write_text(
            out,
            lang,
            &COLS,
            self.sockets,
            Who {
                owners: self.owners,
                services: None,
                ages: None,
            },
            true,
        )
    }

    fn results(&self, out: &mut dyn Write, lang: Lang) -> io::Result<()> {
        let Some(d) = &self.done else {
            return Ok(());
        };
        for (s, r) in self.sockets.iter().zip(&d.done) {
            if r.outcome == "failed" {
                let (l, rem) = ends(&JSocket::new(s, self.owners));
                let why = r.reason.as_deref().unwrap_or("?");
                writeln!(out, "{}", tr(lang, TreatMsg::KaNotSet, &[&l, &rem, why]))?;
            }
        }
        let n = self.sockets.len();
        let set = d
            .done
            .iter()
            .filter(|r| r.outcome == "set")
            .count()
            .to_string();
        let left = if d.done.len() < n {
            tr(
                lang,
                TreatMsg::NotActedOn,
                &[&(n - d.done.len()).to_string()],
            )
        } else {
            String::new()
        };
        let (n, verified) = (n.to_string(), d.verified.to_string());
        let audit = d.audit.display().to_string();
        let args = [set.as_str(), &n, &left, &verified, &audit];
        writeln!(out, "{}", tr(lang, TreatMsg::KaDone, &args))
    }

    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        let owners = self.owners;
        let plain = |s: &Socket, outcome: &'static str, reason: Option<String>| JResult {
            socket: JSocket::new(s, owners),
            pid: None,
            fd: None,
            outcome,
            reason,
            before: None,
            after: None,
        };
        let (set, verified, mut results) = match &self.done {
            None => (
                0,
                0,
                self.sockets
                    .iter()
                    .map(|s| plain(s, "planned", None))
                    .collect(),
            ),
            Some(d) => {
                let mut results: Vec<JResult> = self
                    .sockets
                    .iter()
                    .zip(&d.done)
                    .map(|(s, r)| JResult {
                        socket: JSocket::new(s, owners),
                        pid: r.pid,
                        fd: r.fd,
                        outcome: r.outcome,
                        reason: r.reason.clone(),
                        before: r.before.as_ref().map(JKeepalive::from),
                        after: r.after.as_ref().map(JKeepalive::from),
                    })
                    .collect();
                let not_reached = &self.sockets[d.done.len()..];
                results.extend(
                    not_reached
                        .iter()
                        .map(|s| plain(s, "skipped", Some(NOT_REACHED.to_string()))),
                );
                let set = d.done.iter().filter(|r| r.outcome == "set").count();
                (set, d.verified, results)
            }
        };
        results.extend(
            self.excluded
                .iter()
                .map(|(s, why)| plain(s, "skipped", Some(why.to_string()))),
        );
        let doc = JDoc {
            schema: SCHEMA,
            command: "keepalive",
            dry_run: self.a.dry_run,
            selected: self.sockets.len(),
            set,
            verified,
            results,
        };
        write_pretty(out, &doc).map_err(io::Error::other)
    }
}

/// The audit log, and the id of this run in it (one for the whole invocation, `--watch` rounds
/// included).
/// The audit log a run writes to, and the run's id.
pub struct Log {
    pub audit: AuditLog,
    pub run: String,
}

/// What happened to one socket.
pub struct Done {
    pub pid: Option<u32>,
    pub fd: Option<u32>,
    /// `set`, `failed`, or `skipped`.
    pub outcome: &'static str,
    pub reason: Option<String>,
    pub before: Option<Keepalive>,
    pub after: Option<Keepalive>,
}

/// What [`set_on`] did: per socket reached (in the selection's order), the connections the kernel
/// now shows with a keepalive timer, and the audit log's failure when the run stopped on it.
pub struct SetOn {
    pub done: Vec<Done>,
    pub verified: usize,
    pub stopped: Option<AuditStopped>,
}

/// Set `change` on every socket of `sel` through the treat path (recorded ahead in `log`), then read
/// the kernel again: an ESTABLISHED connection with keepalive on shows the keepalive timer. For
/// `keepalive` and for `top`'s keepalive action (typed, no JSON in between).
pub fn set_on(
    sel: &Selection,
    change: &Change,
    filter_text: &str,
    log: &mut Log,
) -> Result<SetOn, Failure> {
    let targets: Vec<&Socket> = sel.sockets.iter().collect();
    let Acted { done, stopped } = act(&targets, sel.owners(), change, filter_text, false, log);
    let after = sel.reread()?;
    let timers: HashMap<u64, TimerKind> = after.iter().map(|s| (s.cookie, s.timer.kind)).collect();
    let verified = sel
        .sockets
        .iter()
        .filter(|s| s.state == State::Established)
        .filter(|s| timers.get(&s.cookie) == Some(&TimerKind::Keepalive))
        .count();
    Ok(SetOn {
        done,
        verified,
        stopped,
    })
}

/// What [`act`] did.
struct Acted {
    /// The sockets acted on, in the order given: all of them, or the first ones when `stopped`.
    done: Vec<Done>,
    /// The audit log could not be written: nothing after `done` was acted on.
    stopped: Option<AuditStopped>,
}

/// What the CLI's keepalive records say besides the socket: whether a `--watch` round wrote them.
#[derive(Serialize)]
struct KaAbout<'a> {
    socket: JSocket<'a>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    watch: bool,
}

/// The run stopped on an audit write after changing `changed` of `of` sockets.
fn audit_stopped(path: PathBuf, st: AuditStop, changed: usize, of: usize) -> AuditStopped {
    AuditStopped {
        path,
        error: st.error,
        unrecorded: st.unrecorded,
        progress: Progress::Changed { changed, of },
    }
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
        audit_stopped(path, st, changed, targets.len())
    });
    Acted { done, stopped }
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
    say(g, &WatchLine::Watching(every), out)?;
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
        if n > 0 {
            say(g, &WatchLine::Set(now_rfc3339(), n), out)?;
        }
        if let Some(st) = stopped {
            return Err(st.failure(g.lang()));
        }
    }
    Ok(())
}

/// What `--watch` says as it goes: a line of text; the JSON has the run's document and no more.
enum WatchLine {
    /// The watch is on, every this often.
    Watching(Duration),
    /// At this time, keepalive was set on this many new sockets.
    Set(String, usize),
}

impl Report for WatchLine {
    fn text(&self, out: &mut dyn Write, lang: Lang) -> io::Result<()> {
        let line = match self {
            WatchLine::Watching(every) => tr(lang, TreatMsg::KaWatching, &[&format!("{every:?}")]),
            WatchLine::Set(time, n) => tr(lang, TreatMsg::KaWatchSet, &[time, &n.to_string()]),
        };
        writeln!(out, "{line}")
    }
    fn json(&self, _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
}

/// Write a `--watch` line as the user asked, at once.
fn say(g: &Global, line: &WatchLine, out: &mut dyn Write) -> Result<(), Failure> {
    crate::report::write(g, line, out)
        .and_then(|()| out.flush())
        .map_err(Failure::output)
}
