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
use sockdoc_diag::{Proto, Socket};
use sockdoc_proc::SocketOwners;

use super::from_audit::{read_audit, Recorded};
use super::JKeepalive;
use sockdoc_core::session::{Needs, Protocols};

use crate::census;
use crate::cli::{Global, KeepaliveArgs};
use crate::cmd::kill::NOT_REACHED;
use crate::cmd::treat::{confirm, now_rfc3339, open_audit, uid};
use crate::error::{Exit, Failure};
use crate::json::{write_pretty, JSocket, SCHEMA};
use crate::scope;

/// An audit line longer than this is not a record of ours (counted as malformed, not read whole).
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
fn moved(r: &Recorded, change: &Change, now: &Keepalive) -> Option<String> {
    let moved: Vec<String> = ORDER
        .iter()
        .filter(|&&o| change.get(o).is_some() && o.of(now) != o.of(&r.after))
        .map(|&o| format!("{} is {}, not {}", o.name(), o.of(now), o.of(&r.after)))
        .collect();
    (!moved.is_empty()).then(|| {
        format!(
            "changed since sockdoc set it ({}): left alone",
            moved.join(", ")
        )
    })
}

/// "SO_KEEPALIVE off, TCP_KEEPIDLE 7200" for a change.
fn describe(c: &Change) -> String {
    let parts: Vec<String> = ORDER
        .iter()
        .filter_map(|&o| {
            c.get(o).map(|v| match o {
                Opt::Enabled => format!("SO_KEEPALIVE {}", if v != 0 { "on" } else { "off" }),
                _ => format!("{} {v}", o.name()),
            })
        })
        .collect();
    if parts.is_empty() {
        "nothing to put back".to_string()
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
    let Some(path) = a.from_audit.as_ref() else {
        return Err(Failure::usage(
            "--restore needs --from-audit FILE: the audit log of the run to undo",
        ));
    };
    if !a.filter.is_empty() && a.filter.iter().all(|w| w.trim().is_empty()) {
        return Err(Failure::usage(
            "the filter is empty: give one (e.g. `sport = :21`) or none to restore every recorded socket",
        ));
    }
    let from = read_audit(path)?;
    let mut namespaces = scope::namespaces(g)?;
    if namespaces.len() != 1 {
        return Err(Failure::usage(
            "keepalive --restore works in one namespace at a time: use --netns NAME or --netns-pid PID, not --all-netns",
        ));
    }
    let ns = namespaces.remove(0);
    let words = a.words().map_err(Failure::usage)?;
    let needs = Needs {
        owners: true,
        tcp_info: false,
    };
    let session = census::one_ns(&ns, Protocols::TCP, &[], needs)?;
    let narrow = if words.is_empty() {
        None
    } else {
        Some(
            census::one_ns(&ns, Protocols::TCP, &words, needs)?
                .plan
                .filter,
        )
    };
    let census = census::sample(&session, &ns, None)?;
    let live = &census.sockets;
    let owners: Option<&SocketOwners> = census.owner_map();
    let live: HashMap<u64, &Socket> = live
        .iter()
        .filter(|s| s.proto == Proto::Tcp)
        .map(|s| (s.cookie, s))
        .collect();

    let mut results: Vec<JResult> = Vec::new();
    let mut plans: Vec<Plan1> = Vec::new();
    let left = |r: &Recorded, outcome: &'static str, reason: String| JResult {
        socket: r.socket.clone(),
        pid: Some(r.pid),
        fd: Some(r.fd),
        outcome,
        reason: Some(reason),
        before: None,
        restore_to: super::change_json(&restore_change(r)),
        after: None,
    };
    for r in &from.records {
        let change = restore_change(r);
        // A closed socket may linger as TIME-WAIT with the same cookie, but no file: gone too.
        let Some(&s) = live.get(&r.cookie).filter(|s| s.inode != 0) else {
            if narrow.is_none() {
                results.push(left(
                    r,
                    "gone",
                    "closed (or not in this namespace): nothing to put back".into(),
                ));
            }
            continue;
        };
        if let Some(f) = &narrow {
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
            let now: Vec<String> = owners
                .map(|o| {
                    o.owners(s.inode)
                        .map(|w| format!("pid {} fd {}", w.pid, w.fd))
                        .collect()
                })
                .unwrap_or_default();
            results.push(left(
                r,
                "owner-changed",
                format!(
                    "held by {} now, recorded as pid {} fd {}: left alone",
                    if now.is_empty() {
                        "no process".to_string()
                    } else {
                        now.join(", ")
                    },
                    r.pid,
                    r.fd
                ),
            ));
            continue;
        }
        if change == Change::default() {
            results.push(left(
                r,
                "unchanged",
                "the recorded change left every option as it was".into(),
            ));
            continue;
        }
        // What the socket holds now: read through a borrowed fd (nothing is written).
        let now = match borrow(r.pid, r.fd, r.inode)
            .and_then(|fd| read(&fd).map_err(|error| Failed::at(Step::Read, error)))
        {
            Ok(k) => k,
            Err(f) => {
                results.push(left(r, "failed", f.to_string()));
                continue;
            }
        };
        // Only while every option sockdoc changed still holds what sockdoc set.
        if let Some(why) = moved(r, &change, &now) {
            let mut res = left(r, "changed", why);
            res.before = Some(JKeepalive::from(&now));
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

    if !g.json {
        writeln!(
            out,
            "{} keepalive from {} ({} record(s){}) on {} socket(s):",
            if a.dry_run {
                "would restore"
            } else {
                "restoring"
            },
            path.display(),
            from.read,
            if from.malformed > 0 {
                format!(", {} malformed line(s) skipped", from.malformed)
            } else {
                String::new()
            },
            plans.len()
        )
        .map_err(Failure::output)?;
        for p in &plans {
            writeln!(
                out,
                "  {}:{} -> {} (pid {} fd {}): {}",
                p.socket.local_ip(),
                p.socket.local_port,
                if p.socket.state == sockdoc_diag::State::Listen {
                    "*:* (listener)".to_string()
                } else {
                    format!("{}:{}", p.socket.remote_ip(), p.socket.remote_port)
                },
                p.rec.pid,
                p.rec.fd,
                describe(&p.change)
            )
            .map_err(Failure::output)?;
        }
        out.flush().map_err(Failure::output)?;
    }

    let selected = plans.len();
    let mut restored = 0;
    let mut audit_path = None;
    let mut stopped = None;
    if a.dry_run {
        for p in &plans {
            results.push(JResult {
                socket: serde_json::to_value(JSocket::new(&p.socket, owners))
                    .unwrap_or(Value::Null),
                pid: Some(p.rec.pid),
                fd: Some(p.rec.fd),
                outcome: "planned",
                reason: None,
                before: Some(JKeepalive::from(&p.now)),
                restore_to: super::change_json(&p.change),
                after: None,
            });
        }
    } else {
        confirm("restore keepalive on", plans.len(), a.yes)?;
        let mut audit = open_audit(a.audit_log.as_ref())?;
        audit_path = Some(audit.path().to_path_buf());
        let filter_text = words.join(" ");
        let (done, failed) = act(&plans, owners, path, &filter_text, &mut audit);
        stopped = failed;
        let reached = done.len();
        for (p, (outcome, reason, before, after)) in plans.iter().zip(done) {
            if outcome == "restored" {
                restored += 1;
            }
            results.push(JResult {
                socket: serde_json::to_value(JSocket::new(&p.socket, owners))
                    .unwrap_or(Value::Null),
                pid: Some(p.rec.pid),
                fd: Some(p.rec.fd),
                outcome,
                reason,
                before: before.as_ref().map(JKeepalive::from),
                restore_to: super::change_json(&p.change),
                after: after.as_ref().map(JKeepalive::from),
            });
        }
        for p in &plans[reached..] {
            results.push(JResult {
                socket: serde_json::to_value(JSocket::new(&p.socket, owners))
                    .unwrap_or(Value::Null),
                pid: Some(p.rec.pid),
                fd: Some(p.rec.fd),
                outcome: "skipped",
                reason: Some(NOT_REACHED.to_string()),
                before: Some(JKeepalive::from(&p.now)),
                restore_to: super::change_json(&p.change),
                after: None,
            });
        }
    }

    let trouble = results
        .iter()
        .any(|r| matches!(r.outcome, "failed" | "changed" | "owner-changed"));
    if g.json {
        let doc = JDoc {
            schema: SCHEMA,
            command: "keepalive-restore",
            dry_run: a.dry_run,
            from_audit: path.display().to_string(),
            records: from.read,
            malformed: from.malformed,
            selected,
            restored,
            results,
        };
        write_pretty(out, &doc).map_err(Failure::output)?;
    } else {
        for r in results
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
            writeln!(
                out,
                "  {}: {} -> {} ({})",
                r.outcome,
                end("local"),
                end("remote"),
                r.reason.as_deref().unwrap_or("")
            )
            .map_err(Failure::output)?;
        }
        if !a.dry_run {
            writeln!(
                out,
                "restored {restored} of {selected}; recorded in {}",
                audit_path
                    .as_deref()
                    .map_or_else(String::new, |p| p.display().to_string())
            )
            .map_err(Failure::output)?;
        }
    }
    if let Some(f) = stopped {
        return Err(f);
    }
    Ok(if trouble { Exit::Warning } else { Exit::Ok })
}

type Restored = (
    &'static str,
    Option<String>,
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
                        Some(format!("{} read back different", off.join(", "))),
                        Some(applied.before),
                        Some(applied.after),
                    )
                }
            }
            Err(f) => ("failed", Some(f.to_string()), f.before, None),
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
            reason: d.1.clone(),
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
