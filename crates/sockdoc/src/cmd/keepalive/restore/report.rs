//! What `keepalive --restore` shows and why it leaves a socket alone: the report value (text in
//! the user's language, or the documented JSON) and the reasons, worded by the catalog.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use sockdoc_act::keepalive::{Change, Opt, ORDER};
use sockdoc_core::i18n::treat::{outcome, skip_reason, text as tr, TreatMsg};
use sockdoc_core::i18n::Lang;

use super::{Plan1, Res};
use crate::cmd::keepalive::JKeepalive;
use crate::cmd::kill::NOT_REACHED;
use crate::json::{write_pretty, SCHEMA};
use crate::treat::Staged;

#[derive(Serialize)]
pub(super) struct JResult {
    pub(super) socket: Value,
    pub(super) pid: Option<u32>,
    pub(super) fd: Option<u32>,
    /// planned, restored, failed, unchanged, gone, owner-changed, changed, skipped.
    pub(super) outcome: &'static str,
    pub(super) reason: Option<String>,
    /// The options found on the socket now (null when it is gone).
    pub(super) before: Option<JKeepalive>,
    /// The values put back (only the options sockdoc had changed).
    pub(super) restore_to: Value,
    /// The options read back after the restore.
    pub(super) after: Option<JKeepalive>,
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
pub(super) enum Why {
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
    pub(super) fn words(&self, lang: Lang) -> String {
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

/// What `keepalive --restore` shows: the audit log read and the sockets it puts back, then the
/// sockets left alone (and why) and how many were put back.
pub(super) struct RsReport<'a> {
    pub(super) dry_run: bool,
    pub(super) from: &'a Path,
    pub(super) read: usize,
    pub(super) malformed: usize,
    pub(super) plans: &'a [Plan1<'a>],
    pub(super) results: Vec<Res>,
    /// The audit log of the restore (none for a dry run).
    pub(super) audit: Option<PathBuf>,
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
            let what = outcome(lang, r.outcome);
            let line = tr(
                lang,
                TreatMsg::RsResult,
                &[&what, &end("local"), &end("remote"), &why],
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
