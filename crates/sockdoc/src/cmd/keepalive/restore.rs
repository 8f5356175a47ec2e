//! `sockdoc keepalive --restore --from-audit FILE [FILTER]`: undo keepalive runs. The audit log's
//! keepalive outcome records (read by [`super::from_audit`]; `sockdoc reap`'s action log too) say, per
//! socket (by cookie), which options sockdoc changed and what they were before; each socket still
//! alive in the namespace, held by the same process at the same fd, gets exactly those previous
//! values back (SO_KEEPALIVE off again if it was off) — but only the options sockdoc changed, and only
//! while they still hold what sockdoc set: an option changed since by someone else is left alone, as
//! are sockets that are gone or changed owner. Same safety rules as the run it undoes (`--dry-run`,
//! `--yes`, root), its own audit records written ahead as every act's (`keepalive-restore`, through
//! [`WriteAhead`]), and the options read back to verify.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use sockdoc_act::audit::{run_id, AuditLog, WriteAhead};
use sockdoc_act::keepalive::{apply, borrow, read, Change, Failed, Keepalive, Opt, Step, ORDER};
use sockdoc_core::i18n::treat::{skip_reason, text as tr, TreatMsg};
use sockdoc_core::i18n::Lang;
use sockdoc_diag::{Proto, Socket};
use sockdoc_proc::SocketOwners;

use super::from_audit::{read_audit, Recorded};
use super::JKeepalive;
use sockdoc_core::session::{Needs, Protocols};

use crate::census;
use crate::cli::{Global, KeepaliveArgs};
use crate::cmd::kill::NOT_REACHED;
use crate::cmd::treat::{
    confirm, finish, now_rfc3339, one_namespace, open_audit, show, uid, Staged,
};
use crate::error::{Exit, Failure};
use crate::json::{write_pretty, JSocket, SCHEMA};

#[derive(Serialize)]
struct JResult {
    socket: Value,
    pid: Option<u32>,
    fd: Option<u32>,
    /// planned, restored, failed, unchanged, gone, owner-changed, changed, skipped.
    outcome: &'static str,
    reason: Option<String>,
    /// The options found on the socket now (null when it is gone).
    before: Option<JKeepalive>,
    /// The values put back (only the options sockdoc had changed).
    restore_to: Value,
    /// The options read back after the restore.
    after: Option<JKeepalive>,
}

#[derive(Serialize)]
struct JDoc {
    schema: u32,
    command: &'static str,
    dry_run: bool,
    from_audit: String,
    /// Keepalive outcome records read, and lines that could not be used.
    records: usize,
    malformed: usize,
    /// Sockets that can be put back (alive, same owner, still as sockdoc left them).
    selected: usize,
    restored: usize,
    results: Vec<JResult>,
}

/// Why a recorded socket is not put back as planned. Worded by the catalog; the JSON and the audit
/// log keep the English.
enum Why {
    /// Closed, or not in this namespace.
    Gone,
    /// Held by these (pid, fd) now, not by the recorded owner.
    OwnerChanged(Vec<(u32, u32)>, u32, u32),
    /// The recorded change changed nothing.
    Unchanged,
    /// These options (name, now, as sockdoc set it) changed since.
    Moved(Vec<(&'static str, u32, u32)>),
    /// These options read back different after the restore.
    ReadBack(Vec<&'static str>),
    /// As the kernel (or the borrowing of the fd) said it.
    Error(String),
    /// The audit log stopped the run before it.
    NotReached,
}

impl Why {
    fn words(&self, lang: Lang) -> String {
        let t = |m, args: &[&str]| tr(lang, m, args);
        match self {
            Why::Gone => t(TreatMsg::RsWhyGone, &[]),
            Why::OwnerChanged(now, pid, fd) => {
                let now: Vec<String> = now
                    .iter()
                    .map(|(p, f)| t(TreatMsg::RsPidFd, &[&p.to_string(), &f.to_string()]))
                    .collect();
                let now = if now.is_empty() {
                    t(TreatMsg::RsNoProcess, &[])
                } else {
                    now.join(", ")
                };
                t(
                    TreatMsg::RsWhyOwner,
                    &[&now, &pid.to_string(), &fd.to_string()],
                )
            }
            Why::Unchanged => t(TreatMsg::RsWhyUnchanged, &[]),
            Why::Moved(m) => {
                let m: Vec<String> = m
                    .iter()
                    .map(|(o, now, set)| {
                        t(
                            TreatMsg::RsMovedOne,
                            &[o, &now.to_string(), &set.to_string()],
                        )
                    })
                    .collect();
                t(TreatMsg::RsWhyMoved, &[&m.join(", ")])
            }
            Why::ReadBack(off) => t(TreatMsg::RsReadBack, &[&off.join(", ")]),
            Why::Error(e) => e.clone(),
            Why::NotReached => skip_reason(lang, NOT_REACHED),
        }
    }
}

/// One recorded socket's result.
struct Res {
    /// The socket as recorded (left alone) or as found now.
    socket: Value,
    pid: u32,
    fd: u32,
    outcome: &'static str,
    why: Option<Why>,
    before: Option<Keepalive>,
    restore_to: Change,
    after: Option<Keepalive>,
}

impl Res {
    /// A recorded socket left alone, and why.
    fn left(r: &Recorded, outcome: &'static str, why: Why) -> Res {
        Res {
            socket: r.socket.clone(),
            pid: r.pid,
            fd: r.fd,
            outcome,
            why: Some(why),
            before: None,
            restore_to: restore_change(r),
            after: None,
        }
    }

    /// A planned socket, with what happened to it.
    fn of(p: &Plan1, owners: Option<&SocketOwners>, outcome: &'static str) -> Res {
        Res {
            socket: serde_json::to_value(JSocket::new(&p.socket, owners)).unwrap_or(Value::Null),
            pid: p.rec.pid,
            fd: p.rec.fd,
            outcome,
            why: None,
            before: Some(p.now),
            restore_to: p.change,
            after: None,
        }
    }

    fn json(&self) -> JResult {
        JResult {
            socket: self.socket.clone(),
            pid: Some(self.pid),
            fd: Some(self.fd),
            outcome: self.outcome,
            reason: self.why.as_ref().map(|w| w.words(Lang::En)),
            before: self.before.as_ref().map(JKeepalive::from),
            restore_to: super::change_json(&self.restore_to),
            after: self.after.as_ref().map(JKeepalive::from),
        }
    }
}

/// The restore for one recorded socket: the options sockdoc changed, back to their previous values.
fn restore_change(r: &Recorded) -> Change {
    let mut c = Change::default();
    for opt in ORDER {
        let (was, set) = (opt.of(&r.before), opt.of(&r.after));
        if was != set {
            match opt {
                Opt::Idle => c.idle = Some(was),
                Opt::Intvl => c.intvl = Some(was),
                Opt::Cnt => c.cnt = Some(was),
                Opt::UserTimeout => c.user_timeout_ms = Some(was),
                Opt::Enabled => c.enabled = Some(was != 0),
            }
        }
    }
    c
}

/// Why a socket is left alone when an option sockdoc changed no longer holds what sockdoc set.
fn moved(r: &Recorded, change: &Change, now: &Keepalive) -> Option<Why> {
    let moved: Vec<(&'static str, u32, u32)> = ORDER
        .iter()
        .filter(|&&o| change.get(o).is_some() && o.of(now) != o.of(&r.after))
        .map(|&o| (o.name(), o.of(now), o.of(&r.after)))
        .collect();
    (!moved.is_empty()).then_some(Why::Moved(moved))
}

/// "SO_KEEPALIVE off, TCP_KEEPIDLE 7200" for a change.
fn describe(lang: Lang, c: &Change) -> String {
    let parts: Vec<String> = ORDER
        .iter()
        .filter_map(|&o| {
            c.get(o).map(|v| match o {
                Opt::Enabled if v != 0 => tr(lang, TreatMsg::SoKeepaliveOn, &[]),
                Opt::Enabled => tr(lang, TreatMsg::SoKeepaliveOff, &[]),
                _ => format!("{} {v}", o.name()),
            })
        })
        .collect();
    if parts.is_empty() {
        tr(lang, TreatMsg::RsNothingBack, &[])
    } else {
        parts.join(", ")
    }
}

/// A planned restore: a live socket, its owner as recorded, and what to write.
struct Plan1<'a> {
    rec: &'a Recorded,
    socket: Socket,
    change: Change,
    now: Keepalive,
}

pub fn run(g: &Global, a: &KeepaliveArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let lang = g.lang();
    let Some(path) = a.from_audit.as_ref() else {
        return Err(Failure::usage(tr(lang, TreatMsg::RsNeedsAudit, &[])));
    };
    if !a.filter.is_empty() && a.filter.iter().all(|w| w.trim().is_empty()) {
        return Err(Failure::usage(tr(lang, TreatMsg::RsEmptyFilter, &[])));
    }
    let from = read_audit(path)?;
    let ns = one_namespace(g, "keepalive --restore")?;
    let words = a.words().map_err(Failure::usage)?;
    let needs = Needs {
        owners: true,
        tcp_info: false,
    };
    let session = census::one_ns(&ns, Protocols::TCP, &[], needs)?;
    let narrow = if words.is_empty() {
        None
    } else {
        let s = census::one_ns(&ns, Protocols::TCP, &words, needs)?;
        Some(s.plan.filter)
    };
    let census = census::sample(&session, &ns, None)?;
    let owners: Option<&SocketOwners> = census.owner_map();
    let live: HashMap<u64, &Socket> = census
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp)
        .map(|s| (s.cookie, s))
        .collect();
    let (left, plans) = plan(&from.records, &live, owners, narrow.as_ref());
    let mut report = RsReport {
        dry_run: a.dry_run,
        from: path,
        read: from.read,
        malformed: from.malformed,
        plans: &plans,
        results: left,
        audit: None,
    };
    show(g, &report, out)?;
    let mut stopped = None;
    if a.dry_run {
        let planned = plans.iter().map(|p| Res::of(p, owners, "planned"));
        report.results.extend(planned);
    } else {
        confirm(lang, TreatMsg::ActRestoreKeepalive, plans.len(), a.yes)?;
        let mut audit = open_audit(a.audit_log.as_ref())?;
        report.audit = Some(audit.path().to_path_buf());
        let (done, failed) = act(&plans, owners, path, &words.join(" "), &mut audit);
        stopped = failed;
        let reached = done.len();
        for (p, (outcome, why, before, after)) in plans.iter().zip(done) {
            report.results.push(Res {
                why,
                before,
                after,
                ..Res::of(p, owners, outcome)
            });
        }
        for p in &plans[reached..] {
            report.results.push(Res {
                why: Some(Why::NotReached),
                ..Res::of(p, owners, "skipped")
            });
        }
    }
    finish(g, &report, out)?;
    if let Some(f) = stopped {
        return Err(f);
    }
    let trouble = report
        .results
        .iter()
        .any(|r| matches!(r.outcome, "failed" | "changed" | "owner-changed"));
    Ok(if trouble { Exit::Warning } else { Exit::Ok })
}

/// The recorded sockets that can be put back (alive, held by the same process at the same fd,
/// still as sockdoc left them, within `narrow`), and the results of those left alone.
fn plan<'a>(
    records: &'a [Recorded],
    live: &HashMap<u64, &Socket>,
    owners: Option<&SocketOwners>,
    narrow: Option<&sockdoc_core::filter::Filter>,
) -> (Vec<Res>, Vec<Plan1<'a>>) {
    let mut results = Vec::new();
    let mut plans = Vec::new();
    for r in records {
        let change = restore_change(r);
        // A closed socket may linger as TIME-WAIT with the same cookie, but no file: gone too.
        let Some(&s) = live.get(&r.cookie).filter(|s| s.inode != 0) else {
            if narrow.is_none() {
                results.push(Res::left(r, "gone", Why::Gone));
            }
            continue;
        };
        if let Some(f) = narrow {
            let o: &dyn sockdoc_core::Owners = match owners {
                Some(o) => o,
                None => &sockdoc_core::NoOwners,
            };
            if !f.matches(s, o) {
                continue;
            }
        }
        let same_owner = s.inode == r.inode
            && owners.is_some_and(|o| o.owners(s.inode).any(|w| w.pid == r.pid && w.fd == r.fd));
        if !same_owner {
            let now: Vec<(u32, u32)> = owners
                .map(|o| o.owners(s.inode).map(|w| (w.pid, w.fd)).collect())
                .unwrap_or_default();
            let why = Why::OwnerChanged(now, r.pid, r.fd);
            results.push(Res::left(r, "owner-changed", why));
            continue;
        }
        if change == Change::default() {
            results.push(Res::left(r, "unchanged", Why::Unchanged));
            continue;
        }
        // What the socket holds now: read through a borrowed fd (nothing is written).
        let now = match borrow(r.pid, r.fd, r.inode)
            .and_then(|fd| read(&fd).map_err(|error| Failed::at(Step::Read, error)))
        {
            Ok(k) => k,
            Err(f) => {
                results.push(Res::left(r, "failed", Why::Error(f.to_string())));
                continue;
            }
        };
        // Only while every option sockdoc changed still holds what sockdoc set.
        if let Some(why) = moved(r, &change, &now) {
            let mut res = Res::left(r, "changed", why);
            res.before = Some(now);
            results.push(res);
            continue;
        }
        plans.push(Plan1 {
            rec: r,
            socket: *s,
            change,
            now,
        });
    }
    (results, plans)
}

/// What `keepalive --restore` shows: the audit log read and the sockets it puts back, then the
/// sockets left alone (and why) and how many were put back.
struct RsReport<'a> {
    dry_run: bool,
    from: &'a Path,
    read: usize,
    malformed: usize,
    plans: &'a [Plan1<'a>],
    results: Vec<Res>,
    /// The audit log of the restore (none for a dry run).
    audit: Option<PathBuf>,
}

impl Staged for RsReport<'_> {
    fn selection(&self, out: &mut dyn Write, lang: Lang) -> io::Result<()> {
        let malformed = if self.malformed > 0 {
            tr(lang, TreatMsg::RsMalformed, &[&self.malformed.to_string()])
        } else {
            String::new()
        };
        let head = if self.dry_run {
            TreatMsg::RsWould
        } else {
            TreatMsg::RsRestoring
        };
        let (from, read) = (self.from.display().to_string(), self.read.to_string());
        let n = self.plans.len().to_string();
        writeln!(out, "{}", tr(lang, head, &[&from, &read, &malformed, &n]))?;
        for p in self.plans {
            let local = format!("{}:{}", p.socket.local_ip(), p.socket.local_port);
            let remote = if p.socket.state == sockdoc_diag::State::Listen {
                tr(lang, TreatMsg::RsListener, &[])
            } else {
                format!("{}:{}", p.socket.remote_ip(), p.socket.remote_port)
            };
            let (pid, fd) = (p.rec.pid.to_string(), p.rec.fd.to_string());
            let what = describe(lang, &p.change);
            let line = tr(lang, TreatMsg::RsPlan, &[&local, &remote, &pid, &fd, &what]);
            writeln!(out, "{line}")?;
        }
        Ok(())
    }

    fn results(&self, out: &mut dyn Write, lang: Lang) -> io::Result<()> {
        for r in self
            .results
            .iter()
            .filter(|r| !matches!(r.outcome, "restored" | "planned"))
        {
            let end = |k: &str| {
                format!(
                    "{}:{}",
                    r.socket[k]["ip"].as_str().unwrap_or("?"),
                    r.socket[k]["port"]
                )
            };
            let why = r.why.as_ref().map_or(String::new(), |w| w.words(lang));
            let outcome = outcome_word(lang, r.outcome);
            let line = tr(
                lang,
                TreatMsg::RsResult,
                &[&outcome, &end("local"), &end("remote"), &why],
            );
            writeln!(out, "{line}")?;
        }
        if !self.dry_run {
            let restored = self.restored().to_string();
            let n = self.plans.len().to_string();
            let audit = self
                .audit
                .as_deref()
                .map_or_else(String::new, |p| p.display().to_string());
            writeln!(
                out,
                "{}",
                tr(lang, TreatMsg::RsDone, &[&restored, &n, &audit])
            )?;
        }
        Ok(())
    }

    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        let doc = JDoc {
            schema: SCHEMA,
            command: "keepalive-restore",
            dry_run: self.dry_run,
            from_audit: self.from.display().to_string(),
            records: self.read,
            malformed: self.malformed,
            selected: self.plans.len(),
            restored: self.restored(),
            results: self.results.iter().map(Res::json).collect(),
        };
        write_pretty(out, &doc)
    }
}

impl RsReport<'_> {
    fn restored(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome == "restored")
            .count()
    }
}

/// A result's outcome, in `lang` (the JSON keeps the English key).
fn outcome_word(lang: Lang, outcome: &str) -> String {
    let m = match outcome {
        "gone" => TreatMsg::OutGone,
        "owner-changed" => TreatMsg::OutOwnerChanged,
        "failed" => TreatMsg::OutFailed,
        "changed" => TreatMsg::OutChanged,
        "unchanged" => TreatMsg::OutUnchanged,
        "skipped" => TreatMsg::OutSkipped,
        other => return other.to_string(),
    };
    tr(lang, m, &[])
}

type Restored = (
    &'static str,
    Option<Why>,
    Option<Keepalive>,
    Option<Keepalive>,
);

/// What every audit record of a restore says (the intent; the outcome adds to it).
#[derive(Serialize)]
struct RestoreRecord<'a> {
    time: String,
    action: &'static str,
    socket: JSocket<'a>,
    filter: &'a str,
    uid: u32,
    pid: u32,
    fd: u32,
    from_audit: String,
    /// The options put back (only those sockdoc had changed).
    restore_to: Value,
}

/// The outcome record.
#[derive(Serialize)]
struct RestoreOutcome<'a> {
    #[serde(flatten)]
    record: RestoreRecord<'a>,
    outcome: &'static str,
    reason: Option<String>,
    before: Option<JKeepalive>,
    after: Option<JKeepalive>,
}

/// Put the plans back, write-ahead as every act ([`WriteAhead`]): batch by batch, intent records
/// synced before a socket of the batch changes, then per socket the restore and the values read
/// back, and the outcome records synced before the next batch. A record that cannot be written
/// stops the run: what was done, and the failure.
fn act(
    plans: &[Plan1],
    owners: Option<&SocketOwners>,
    from: &Path,
    filter_text: &str,
    audit: &mut AuditLog,
) -> (Vec<Restored>, Option<Failure>) {
    let uid = uid();
    let record = |p: &Plan1| RestoreRecord {
        time: now_rfc3339(),
        action: "keepalive-restore",
        socket: JSocket::new(&p.socket, owners),
        filter: filter_text,
        uid,
        pid: p.rec.pid,
        fd: p.rec.fd,
        from_audit: from.display().to_string(),
        restore_to: super::change_json(&p.change),
    };
    let one = |p: &Plan1| -> Restored {
        // Checked again on the borrowed fd just before writing: nobody changed it since the plan.
        let applied = borrow(p.rec.pid, p.rec.fd, p.rec.inode).and_then(|dup| {
            match read(&dup) {
                Ok(now) => {
                    if let Some(why) = moved(p.rec, &p.change, &now) {
                        return Ok(Err((why, now)));
                    }
                }
                Err(error) => return Err(Failed::at(Step::Read, error)),
            }
            apply(&dup, &p.change).map(Ok)
        });
        match applied {
            Ok(Err((why, now))) => ("changed", Some(why), Some(now), None),
            Ok(Ok(applied)) => {
                // Verify: every option put back reads back as recorded.
                let off: Vec<&str> = ORDER
                    .iter()
                    .filter(|&&o| p.change.get(o).is_some_and(|v| o.of(&applied.after) != v))
                    .map(|o| o.name())
                    .collect();
                if off.is_empty() {
                    ("restored", None, Some(applied.before), Some(applied.after))
                } else {
                    (
                        "failed",
                        Some(Why::ReadBack(off)),
                        Some(applied.before),
                        Some(applied.after),
                    )
                }
            }
            Err(f) => ("failed", Some(Why::Error(f.to_string())), f.before, None),
        }
    };
    let path = audit.path().to_path_buf();
    let acted = WriteAhead::new(audit, run_id()).act(
        plans,
        |p| record(p),
        |batch| batch.iter().map(&one).collect(),
        |p, d: &Restored| RestoreOutcome {
            record: record(p),
            outcome: d.0,
            reason: d.1.as_ref().map(|w| w.words(Lang::En)),
            before: d.2.as_ref().map(JKeepalive::from),
            after: d.3.as_ref().map(JKeepalive::from),
        },
    );
    match acted {
        Ok(done) => (done, None),
        Err(st) => {
            // Written: put back, or put back but read back different.
            let changed = st.done.iter().filter(|d| d.3.is_some()).count();
            let f = super::audit_failed(&path, st.error, changed, plans.len(), st.unrecorded);
            (st.done, Some(f))
        }
    }
}
