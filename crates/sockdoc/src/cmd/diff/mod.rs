//! `sockdoc diff BEFORE AFTER`: the doctor's census of two sides (each `now`, a snapshot or a dump),
//! namespaces paired by name, compared by `sockdoc_core::diff`: connections new, gone and
//! persisting by state, port, process, service and peer, and the findings' fates. Exit 0 when
//! nothing changed, 1 when something did (as diff(1)).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use sockdoc_core::diff::{self, Diff, FindingChange, Row, Side, Table};
use sockdoc_core::i18n::diff::{text as dt, DiffMsg as D};
use sockdoc_core::i18n::{self, Lang};
use sockdoc_core::session::recorded::NEEDS_TIMERS;
use sockdoc_core::session::{KernelPlan, Needs, Recorded, Scope};
use sockdoc_core::{NoOwners, WithServices};
use sockdoc_evidence::Recording;

use crate::cli::{DiffArgs, Global, Select};
use crate::cmd::doctor::{durations, judge, Judged};
use crate::error::{Exit, Failure};
use crate::fmt::count;

use crate::report::Report;
use crate::{census, scope};

mod json;

/// One side, censused and judged.
struct Loaded {
    /// What it is, one line (`now (the live kernel)`, `before.sdsnap, taken ...`).
    what: String,
    judged: Vec<Judged>,
    /// Each namespace's name for pairing, in `judged`'s order.
    names: Vec<String>,
    recording: Option<Arc<Recording>>,
    notes: Vec<String>,
    denied: usize,
}

pub fn run(g: &Global, a: &DiffArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let lang = g.lang();
    if a.before == "now" && a.after == "now" {
        return Err(Failure::usage(dt(lang, D::SameNow, &[])));
    }
    let before = load(g, a, &a.before)?;
    let after = load(g, a, &a.after)?;
    let report = DiffReport::new(lang, a, &before, &after);
    crate::report::write(g, &report, out).map_err(Failure::output)?;
    let mut notes = Vec::new();
    for (side, word) in [(&before, "before"), (&after, "after")] {
        notes.extend(side.notes.iter().map(|n| format!("{word}: {n}")));
    }
    scope::print_notes(lang, &notes, true, before.denied.max(after.denied));
    // As diff(1): 1 when the sides differ.
    Ok(if report.changed() {
        Exit::Warning
    } else {
        Exit::Ok
    })
}

/// Census and judge one side: `now`, or the evidence at `spec`.
fn load(g: &Global, a: &DiffArgs, spec: &str) -> Result<Loaded, Failure> {
    let lang = g.lang();
    let (idle, interval) = durations(lang, a.idle.as_deref(), &a.interval)?;
    let recording = match spec {
        "now" => None,
        path => Some(Arc::new(
            sockdoc_evidence::open(&[PathBuf::from(path)])
                .map_err(|e| Failure::evidence(lang, e))?,
        )),
    };
    let scope = match &recording {
        Some(r) => Scope {
            namespaces: r.namespaces(),
            all: false,
        },
        None => scope::resolve(g)?,
    };
    let plan = census::plan(&scope, &Select::default(), &a.filter, Needs::DOCTOR)?;
    let from = recording.clone().map(|r| r as Arc<dyn Recorded>);
    let refresh = sockdoc_core::session::Refresh::PerRun;
    let mut session = census::session_of(lang, scope, plan, refresh, from)?
        .with_kernel(KernelPlan::Doctor { interval });
    let (judged, denied) = judge(&mut session, idle, lang)?;
    let mut notes = session.take_notes();
    notes.extend(judged.iter().flat_map(|j| j.sample.notes.iter().cloned()));
    let names = judged
        .iter()
        .map(|j| {
            let label = match (&recording, j.sample.ns.recorded_index()) {
                (Some(r), Some(i)) => r.evidence.namespaces.get(i).map(|n| n.label.clone()),
                _ => None,
            };
            pair_name(&label.unwrap_or_else(|| j.sample.ns.label()))
        })
        .collect();
    let what = match &recording {
        None => dt(lang, D::Now, &[]),
        Some(r) => {
            let s = &r.evidence.source;
            let mut parts = vec![spec.to_string()];
            parts.extend(s.host.clone());
            let line = parts.join(", ");
            match &s.taken {
                Some(t) => dt(lang, D::Taken, &[&line, t]),
                None => line,
            }
        }
    };
    Ok(Loaded {
        what,
        judged,
        names,
        recording,
        notes,
        denied: if spec == "now" { denied } else { 0 },
    })
}

/// The name a namespace is paired by: its label without the inode and pid sockdoc adds
/// (`blue [net:4026532001]` → `blue`; `current (pid 42) [net:…]` → `current`).
fn pair_name(label: &str) -> String {
    let cut = [" [net:", " (pid "]
        .iter()
        .filter_map(|m| label.find(m))
        .min()
        .unwrap_or(label.len());
    label[..cut].to_string()
}

/// Namespaces paired: one on each side with each other, else by name; the rest alone.
fn pair(before: &Loaded, after: &Loaded) -> Vec<(Option<usize>, Option<usize>)> {
    if before.judged.len() == 1 && after.judged.len() == 1 {
        return vec![(Some(0), Some(0))];
    }
    let mut taken = vec![false; after.judged.len()];
    let mut out = Vec::new();
    for (i, name) in before.names.iter().enumerate() {
        let j = (0..after.names.len()).find(|&j| !taken[j] && after.names[j] == *name);
        if let Some(j) = j {
            taken[j] = true;
        }
        out.push((Some(i), j));
    }
    out.extend(
        (0..after.judged.len())
            .filter(|&j| !taken[j])
            .map(|j| (None, Some(j))),
    );
    out
}

/// One pair of namespaces compared.
struct NsDiff {
    before: Option<String>,
    after: Option<String>,
    diff: Diff,
}

/// Everything `diff` shows.
struct DiffReport<'a> {
    lang: Lang,
    top: usize,
    verbose: bool,
    before: &'a Loaded,
    after: &'a Loaded,
    pairs: Vec<NsDiff>,
}

impl<'a> DiffReport<'a> {
    fn new(lang: Lang, a: &DiffArgs, before: &'a Loaded, after: &'a Loaded) -> DiffReport<'a> {
        let pairs = pair(before, after)
            .into_iter()
            .map(|(i, j)| {
                let b = i.and_then(|i| before.judged.get(i));
                let f = j.and_then(|j| after.judged.get(j));
                NsDiff {
                    before: i.and_then(|i| before.names.get(i).cloned()),
                    after: j.and_then(|j| after.names.get(j).cloned()),
                    diff: compare(b, f),
                }
            })
            .collect();
        DiffReport {
            lang,
            top: a.top,
            verbose: a.verbose,
            before,
            after,
            pairs,
        }
    }

    fn changed(&self) -> bool {
        self.pairs.iter().any(|p| p.diff.changed())
    }
}

/// Compare two judged namespaces (a missing one as an empty census).
fn compare(before: Option<&Judged>, after: Option<&Judged>) -> Diff {
    let judges = [before, after].map(|j| j.map(|j| j.sample.judge()));
    let [b, a] = [0, 1].map(|k| side([before, after][k], judges[k].as_ref()));
    diff::compare(&b, &a)
}

/// The side of `j` judged with `owners` (a missing namespace: an empty census).
fn side<'s>(j: Option<&'s Judged>, owners: Option<&'s WithServices<'s>>) -> Side<'s> {
    match (j, owners) {
        (Some(j), Some(owners)) => Side {
            sockets: &j.sample.sockets,
            owners,
            findings: &j.findings,
            unjudged: &j.sample.unjudged,
            timers: !j.sample.unjudged.iter().any(|u| NEEDS_TIMERS.contains(u)),
        },
        _ => Side {
            sockets: &[],
            owners: &NoOwners,
            findings: &[],
            unjudged: &[],
            timers: true,
        },
    }
}

impl Report for DiffReport<'_> {
    fn text(&self, out: &mut dyn Write, _lang: Lang) -> std::io::Result<()> {
        let lang = self.lang;
        writeln!(out, "{}", dt(lang, D::Before, &[&self.before.what]))?;
        writeln!(out, "{}", dt(lang, D::After, &[&self.after.what]))?;
        for p in &self.pairs {
            writeln!(out)?;
            if self.pairs.len() > 1 || p.before != p.after {
                let line = match (&p.before, &p.after) {
                    (Some(b), Some(a)) => dt(lang, D::Paired, &[b, a]),
                    (Some(b), None) => dt(lang, D::OnlyBefore, &[b]),
                    (None, a) => dt(lang, D::OnlyAfter, &[a.as_deref().unwrap_or("-")]),
                };
                writeln!(out, "{line}")?;
            }
            self.write_ns(out, &p.diff)?;
        }
        if !self.changed() {
            writeln!(out, "\n{}", dt(lang, D::NothingChanged, &[]))?;
        }
        Ok(())
    }

    fn json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        json::write(self, out)
    }
}

impl DiffReport<'_> {
    fn write_ns(&self, out: &mut dyn Write, d: &Diff) -> std::io::Result<()> {
        let lang = self.lang;
        let matched = dt(
            lang,
            if d.by_cookie {
                D::ByCookie
            } else {
                D::ByAddress
            },
            &[],
        );
        let line = dt(
            lang,
            D::Connections,
            &[
                &count(d.before),
                &count(d.after),
                &count(d.new),
                &count(d.gone),
                &count(d.persisting),
            ],
        );
        writeln!(out, "{line} {matched}")?;
        if !d.state_changes.is_empty() {
            let list: Vec<String> = d
                .state_changes
                .iter()
                .map(|((from, to), n)| {
                    format!("{} → {} {}", from.ss_name(), to.ss_name(), count(*n))
                })
                .collect();
            writeln!(out, "{}", dt(lang, D::StateChanged, &[&list.join(", ")]))?;
        }
        match d.keepalive {
            Some((0, 0)) => {}
            Some((gained, lost)) => writeln!(
                out,
                "{}",
                dt(lang, D::Keepalive, &[&count(gained), &count(lost)])
            )?,
            None => writeln!(out, "{}", dt(lang, D::KeepaliveUnknown, &[]))?,
        }
        for (table, rows) in &d.tables {
            self.write_table(out, *table, rows)?;
        }
        self.write_findings(out, &d.findings)
    }

    fn write_table(&self, out: &mut dyn Write, table: Table, rows: &[Row]) -> std::io::Result<()> {
        let lang = self.lang;
        let shown: Vec<&Row> = rows
            .iter()
            .filter(|r| self.verbose || r.changed())
            .collect();
        if shown.is_empty() {
            return Ok(());
        }
        let title = match table {
            Table::State => D::State,
            Table::Port => D::Port,
            Table::Process => D::Process,
            Table::Service => D::Service,
            Table::Peer => D::Peer,
        };
        writeln!(out, "\n{}", dt(lang, title, &[]))?;
        let moves = rows.iter().any(|r| r.moved_in + r.moved_out > 0);
        let signed = |n: i128| match n {
            0 => "0".to_string(),
            n if n > 0 => format!("+{}", count(n as u64)),
            n => format!("-{}", count(n.unsigned_abs() as u64)),
        };
        let mut cells: Vec<Vec<String>> = vec![{
            let mut h = vec![String::new()];
            for c in [
                D::ColBefore,
                D::ColAfter,
                D::ColChange,
                D::ColNew,
                D::ColGone,
            ] {
                h.push(dt(lang, c, &[]));
            }
            if moves {
                h.push(dt(lang, D::ColMoved, &[]));
            }
            h
        }];
        for r in shown.iter().take(self.top.max(1)) {
            let mut c = vec![
                r.key.clone(),
                count(r.before),
                count(r.after),
                signed(i128::from(r.after) - i128::from(r.before)),
                count(r.new),
                count(r.gone),
            ];
            if moves {
                c.push(signed(i128::from(r.moved_in) - i128::from(r.moved_out)));
            }
            cells.push(c);
        }
        write_cells(out, &cells)?;
        let more = shown.len().saturating_sub(self.top.max(1));
        if more > 0 {
            let m = more.to_string();
            writeln!(out, "    {}", i18n::text(lang, i18n::Msg::MoreRows, &[&m]))?;
        }
        let unchanged = rows.len() - shown.len();
        if unchanged > 0 {
            let u = count(unchanged as u64);
            writeln!(out, "    {}", dt(lang, D::Unchanged, &[&u]))?;
        }
        Ok(())
    }

    fn write_findings(
        &self,
        out: &mut dyn Write,
        changes: &[FindingChange],
    ) -> std::io::Result<()> {
        let lang = self.lang;
        writeln!(out, "\n{}", dt(lang, D::Findings, &[]))?;
        if changes.is_empty() {
            return writeln!(out, "  {}", dt(lang, D::NoFindings, &[]));
        }
        let sev = |s| i18n::severity(lang, s);
        for c in changes {
            let (fate, severity, title, more) = match c {
                FindingChange::Appeared { after } => {
                    (D::Appeared, sev(after.severity), &after.title, None)
                }
                FindingChange::Cleared { before } => {
                    (D::Cleared, sev(before.severity), &before.title, None)
                }
                FindingChange::Changed { before, after } => {
                    let severity = if before.severity == after.severity {
                        sev(after.severity)
                    } else {
                        format!("{} → {}", sev(before.severity), sev(after.severity))
                    };
                    let moved: Vec<String> = after
                        .numbers()
                        .into_iter()
                        .filter_map(|(k, v)| {
                            let was = before.numbers().into_iter().find(|(bk, _)| *bk == k)?.1;
                            (was != v).then(|| format!("{k} {was} → {v}"))
                        })
                        .take(4)
                        .collect();
                    let mut more = moved.join(" · ");
                    if before.title != after.title {
                        more = [dt(lang, D::Was, &[&before.title]), more]
                            .into_iter()
                            .filter(|m| !m.is_empty())
                            .collect::<Vec<_>>()
                            .join(" · ");
                    }
                    (D::Changed, severity, &after.title, Some(more))
                }
                FindingChange::Same { after } if self.verbose => {
                    (D::Same, sev(after.severity), &after.title, None)
                }
                FindingChange::Same { .. } => continue,
                FindingChange::Unjudged {
                    found,
                    before_blind,
                } => {
                    let why = if *before_blind {
                        D::BlindBefore
                    } else {
                        D::BlindAfter
                    };
                    (
                        D::NotCompared,
                        sev(found.severity),
                        &found.title,
                        Some(dt(lang, why, &[])),
                    )
                }
            };
            writeln!(
                out,
                "  {:<12} {severity}  {title}  [{}]",
                dt(lang, fate, &[]),
                c.id()
            )?;
            if let Some(more) = more.filter(|m| !m.is_empty()) {
                writeln!(out, "               {more}")?;
            }
        }
        Ok(())
    }
}

/// Rows of cells, the first a header; the first column left-aligned, the rest right-aligned.
fn write_cells(out: &mut dyn Write, cells: &[Vec<String>]) -> std::io::Result<()> {
    let cols = cells.first().map_or(0, Vec::len);
    let width = |i: usize| {
        cells
            .iter()
            .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..cols).map(width).collect();
    for r in cells {
        let mut line = String::from("    ");
        for (i, (c, w)) in r.iter().zip(&widths).enumerate() {
            let pad = w.saturating_sub(c.chars().count());
            if i == 0 {
                line.push_str(c);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str("  ");
                line.push_str(&" ".repeat(pad));
                line.push_str(c);
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_pair_by_name_without_inode_or_pid() {
        assert_eq!(pair_name("blue [net:4026532001]"), "blue");
        assert_eq!(pair_name("current (pid 42) [net:4026531840]"), "current");
        assert_eq!(pair_name("ss-tan.txt"), "ss-tan.txt");
    }
}
