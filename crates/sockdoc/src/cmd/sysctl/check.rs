//! `sockdoc sysctl check`: the audit of one namespace's settings (live, or evidence's with
//! `--from`) as text or JSON, with a profile laid over it; exit 1 when anything should change.

use std::io::Write;

use serde::Serialize;
use sockdoc_core::i18n::{text, Lang, Msg};
use sockdoc_core::sysctl_audit::{AuditRow, Profile, Refused, Verdict};
use sockdoc_proc::sysctl::ConfigEntry;
use sockdoc_proc::Netns;

use super::Reading;
use crate::cli::Global;
use crate::error::{Exit, Failure};
use crate::json::{write_pretty, JNetns, SCHEMA};
use crate::report::Report;
use crate::term::Term;

/// `sysctl check`: the audit of `ns` (`missing` words a setting without a value), exit 1 when
/// anything should change.
pub(super) fn check(
    g: &Global,
    out: &mut dyn Write,
    ns: &Netns,
    profile: Option<&Profile>,
    reading: Reading,
    missing: Msg,
) -> Result<Exit, Failure> {
    let report = CheckReport {
        lang: g.lang(),
        ns,
        profile,
        rows: &reading.rows,
        refused: &reading.refused,
        unknown: &reading.unknown,
        missing,
    };
    crate::report::write(g, &report, out).map_err(Failure::output)?;
    let changes =
        reading.rows.iter().any(|r| r.verdict != Verdict::Keep) || !reading.unknown.is_empty();
    Ok(if changes { Exit::Warning } else { Exit::Ok })
}

/// What `sysctl check` shows: the audit of one namespace, with a profile's settings laid over it.
struct CheckReport<'a> {
    lang: Lang,
    ns: &'a Netns,
    profile: Option<&'a Profile>,
    rows: &'a [AuditRow],
    refused: &'a [Refused],
    unknown: &'a [ConfigEntry],
    /// How a setting without a value is worded: not in this kernel, or not in the evidence.
    missing: Msg,
}

impl Report for CheckReport<'_> {
    fn text(&self, out: &mut dyn Write, _lang: sockdoc_core::i18n::Lang) -> std::io::Result<()> {
        if let Some(p) = self.profile {
            let about = text(self.lang, Msg::ProfileAbout, &[p.name, p.about(self.lang)]);
            writeln!(out, "{about}\n")?;
        }
        write_text(out, self.lang, self, self.missing)
    }

    fn json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        write_json(
            out,
            self.ns,
            self.profile,
            self.rows,
            self.refused,
            self.unknown,
        )
    }
}

fn write_text(
    out: &mut dyn Write,
    lang: Lang,
    c: &CheckReport<'_>,
    missing: Msg,
) -> std::io::Result<()> {
    let (rows, refused, unknown) = (c.rows, c.refused, c.unknown);
    let term = Term::stdout();
    for r in rows {
        let missing = text(lang, missing, &[]);
        let cur = r.current.as_deref().unwrap_or(&missing);
        let verdict = match r.verdict {
            Verdict::Keep => term.green(&text(lang, Msg::Keep, &[])),
            Verdict::Change => term.yellow(&match &r.recommended {
                Some(v) => text(lang, Msg::ChangeTo, &[v]),
                None => text(lang, Msg::Change, &[]),
            }),
            Verdict::Remove => term.red(&text(lang, Msg::RemoveFromConfig, &[])),
        };
        writeln!(out, "{} = {cur}  → {verdict}", term.bold(r.key))?;
        for line in term.wrap(&r.reason, 4) {
            writeln!(out, "{line}")?;
        }
    }
    for r in refused {
        writeln!(
            out,
            "{} = {}  → {}",
            term.bold(r.key),
            text(lang, Msg::NotHere, &[]),
            term.red(&text(lang, Msg::Refused, &[]))
        )?;
        for line in term.wrap(&r.reason, 4) {
            writeln!(out, "{line}")?;
        }
    }
    if !unknown.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", term.bold(&text(lang, Msg::ConfigUnknown, &[])))?;
        for e in unknown {
            writeln!(
                out,
                "  {}:{}  {} = {}",
                e.file.display(),
                e.line,
                e.key,
                e.value
            )?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct JRow<'a> {
    key: &'a str,
    current: Option<&'a str>,
    verdict: &'static str,
    recommended: Option<&'a str>,
    reason: &'a str,
}

#[derive(Serialize)]
struct JEntry<'a> {
    file: String,
    line: usize,
    key: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct JCheck<'a> {
    schema: u32,
    command: &'static str,
    netns: JNetns<'a>,
    profile: Option<&'static str>,
    settings: Vec<JRow<'a>>,
    refused: Vec<JRefused<'a>>,
    config_unknown: Vec<JEntry<'a>>,
    /// Where the evidence came from (`--from`); absent for the live kernel.
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<crate::json::JSource<'static>>,
}

#[derive(Serialize)]
struct JRefused<'a> {
    key: &'a str,
    reason: &'a str,
}

fn write_json(
    out: &mut dyn Write,
    ns: &Netns,
    profile: Option<&Profile>,
    rows: &[AuditRow],
    refused: &[Refused],
    unknown: &[ConfigEntry],
) -> std::io::Result<()> {
    let doc = JCheck {
        schema: SCHEMA,
        command: "sysctl-check",
        netns: JNetns::new(ns),
        profile: profile.map(|p| p.name),
        refused: refused
            .iter()
            .map(|r| JRefused {
                key: r.key,
                reason: &r.reason,
            })
            .collect(),
        settings: rows
            .iter()
            .map(|r| JRow {
                key: r.key,
                current: r.current.as_deref(),
                verdict: r.verdict.name(),
                recommended: r.recommended.as_deref(),
                reason: &r.reason,
            })
            .collect(),
        config_unknown: unknown
            .iter()
            .map(|e| JEntry {
                file: e.file.display().to_string(),
                line: e.line,
                key: &e.key,
                value: &e.value,
            })
            .collect(),
        source: crate::json::source(),
    };
    write_pretty(out, &doc)
}
