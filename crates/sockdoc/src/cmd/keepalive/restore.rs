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
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use sockdoc_act::audit::{run_id, AuditLog, WriteAhead};
use sockdoc_act::keepalive::{apply, borrow, read, Change, Failed, Keepalive, Opt, Step, ORDER};
use sockdoc_core::i18n::treat::{text as tr, TreatMsg, RECORDED};
use sockdoc_diag::{Proto, Socket};
use sockdoc_proc::SocketOwners;

mod report;

use report::{JResult, RsReport, Why};

use super::from_audit::{read_audit, Recorded};
use super::JKeepalive;
use sockdoc_core::session::{Needs, Protocols};

use crate::census;
use crate::cli::{Global, KeepaliveArgs};
use crate::error::{Exit, Failure};
use crate::json::JSocket;
use crate::treat::{
    confirm, finish, now_rfc3339, one_namespace, open_audit, show, uid, AuditStopped, Progress,
};

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
            reason: self.why.as_ref().map(|w| w.words(RECORDED)),
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
    let from = read_audit(lang, path)?;
    let ns = one_namespace(g, "keepalive --restore")?;
    let words = a.words().map_err(Failure::usage)?;
    let mut needs = Needs {
        owners: true,
        tcp_info: false,
        cgroups: false,
    };
    // The words only narrow what is restored: parsed in the namespace, no census of their own.
    let narrow = if words.is_empty() {
        None
    } else {
        let plan = sockdoc_core::session::Plan::parse_in(
            std::slice::from_ref(&ns),
            Protocols::TCP,
            &words,
            needs,
        )
        .map_err(census::plan_failure)?;
        Some(plan.filter)
    };
    // Words on units, containers or pods are judged with the census's services.
    needs.cgroups = narrow.as_ref().is_some_and(|f| f.needs_services());
    let session = census::one_ns(lang, &ns, Protocols::TCP, &[], needs)?;
    let census = census::sample(&session, &ns, None)?;
    let owners: Option<&SocketOwners> = census.owner_map();
    let live: HashMap<u64, &Socket> = census
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp)
        .map(|s| (s.cookie, s))
        .collect();
    let judge = Judge {
        owners,
        services: census.services.as_ref(),
        narrow: narrow.as_ref(),
    };
    let (left, plans) = plan(&from.records, &live, &judge);
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
        let mut audit = open_audit(lang, a.audit_log.as_ref())?;
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
    if let Some(st) = stopped {
        return Err(st.failure(lang));
    }
    let trouble = report
        .results
        .iter()
        .any(|r| matches!(r.outcome, "failed" | "changed" | "owner-changed"));
    Ok(if trouble { Exit::Warning } else { Exit::Ok })
}

/// What a restore judges live sockets with: their owners, their services (when the words name
/// any), and the words that narrow it.
struct Judge<'a> {
    owners: Option<&'a SocketOwners>,
    services: Option<&'a sockdoc_core::service::Services>,
    narrow: Option<&'a sockdoc_core::filter::Filter>,
}

impl Judge<'_> {
    /// Within the words (every socket when there are none).
    fn within(&self, s: &Socket) -> bool {
        let Some(f) = self.narrow else {
            return true;
        };
        let o: &dyn sockdoc_core::Owners = match self.owners {
            Some(o) => o,
            None => &sockdoc_core::NoOwners,
        };
        let o = sockdoc_core::WithServices {
            owners: o,
            services: self.services,
        };
        f.matches(s, &o)
    }
}

/// The recorded sockets that can be put back (alive, held by the same process at the same fd,
/// still as sockdoc left them, within the words), and the results of those left alone.
fn plan<'a>(
    records: &'a [Recorded],
    live: &HashMap<u64, &Socket>,
    judge: &Judge<'_>,
) -> (Vec<Res>, Vec<Plan1<'a>>) {
    let (owners, narrow) = (judge.owners, judge.narrow);
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
        if !judge.within(s) {
            continue;
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
) -> (Vec<Restored>, Option<AuditStopped>) {
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
            reason: d.1.as_ref().map(|w| w.words(RECORDED)),
            before: d.2.as_ref().map(JKeepalive::from),
            after: d.3.as_ref().map(JKeepalive::from),
        },
    );
    match acted {
        Ok(done) => (done, None),
        Err(st) => {
            // Written: put back, or put back but read back different.
            let changed = st.done.iter().filter(|d| d.3.is_some()).count();
            let stopped = AuditStopped {
                path,
                error: st.error,
                unrecorded: st.unrecorded,
                progress: Progress::Changed {
                    changed,
                    of: plans.len(),
                },
            };
            (st.done, Some(stopped))
        }
    }
}
