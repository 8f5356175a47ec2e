//! `sockdoc conntrack`: the connection-tracking table of a namespace — fill against nf_conntrack_max,
//! drop counters, and what fills it (protocols, TCP states, top sources and destinations).

use std::io::Write;

use serde::Serialize;
use sockdoc_core::i18n::{text, Lang, Msg};
use sockdoc_core::session::Recorded;
use sockdoc_proc::conntrack::{self, Conntrack};
use sockdoc_proc::conntrack_table::{read_table, top, TableCounts};
use sockdoc_proc::Netns;

use crate::cli::{ConntrackArgs, Global};
use crate::error::{Exit, Failure};
use crate::fmt::count;
use crate::json::{write_pretty, JNetns, SCHEMA};
use crate::report::{Done, Report};
use crate::scope;

fn read_in(lang: Lang, ns: &Netns) -> Result<(Option<Conntrack>, Option<TableCounts>), Failure> {
    scope::in_ns(ns, || {
        let io = |what: Msg, e: std::io::Error| {
            let what = text(lang, what, &[]);
            Failure::new(
                Exit::Io,
                text(lang, Msg::CtUnreadable, &[&what, &e.to_string()]),
            )
        };
        let ct = conntrack::read().map_err(|e| io(Msg::CtCounters, e))?;
        let table = if ct.is_some() {
            read_table().map_err(|e| io(Msg::CtTable, e))?
        } else {
            None
        };
        Ok((ct, table))
    })
}

#[derive(Serialize)]
struct JRow {
    key: String,
    count: u64,
}

#[derive(Serialize)]
struct JStats {
    drop: u64,
    early_drop: u64,
    insert_failed: u64,
    invalid: u64,
    search_restart: u64,
}

#[derive(Serialize)]
struct JNs<'a> {
    netns: JNetns<'a>,
    active: bool,
    count: u64,
    max: u64,
    percent: u64,
    buckets: Option<u64>,
    stats: Option<JStats>,
    by_proto: Vec<JRow>,
    by_tcp_state: Vec<JRow>,
    top_sources: Vec<JRow>,
    top_destinations: Vec<JRow>,
    unreplied: u64,
}

fn rows(v: Vec<(String, u64)>) -> Vec<JRow> {
    v.into_iter()
        .map(|(key, count)| JRow { key, count })
        .collect()
}

/// The table of every namespace looked at, ready to print.
pub struct ConntrackReport {
    namespaces: Vec<(Netns, Option<Conntrack>, TableCounts)>,
    top: usize,
    label_ns: bool,
}

impl ConntrackReport {
    fn docs(&self) -> Vec<JNs<'_>> {
        self.namespaces
            .iter()
            .map(|(ns, ct, table)| {
                let (cnt, max) = ct.as_ref().map_or((0, 0), |c| (c.count, c.max));
                JNs {
                    netns: JNetns::new(ns),
                    active: ct.is_some(),
                    count: cnt,
                    max,
                    percent: (cnt.saturating_mul(100)).checked_div(max).unwrap_or(0),
                    buckets: ct.as_ref().and_then(|c| c.buckets),
                    stats: ct.as_ref().and_then(|c| c.stats.as_ref()).map(|s| JStats {
                        drop: s.drop,
                        early_drop: s.early_drop,
                        insert_failed: s.insert_failed,
                        invalid: s.invalid,
                        search_restart: s.search_restart,
                    }),
                    by_proto: rows(top(&table.by_proto, self.top)),
                    by_tcp_state: rows(top(&table.by_tcp_state, self.top)),
                    top_sources: rows(top(&table.by_source, self.top)),
                    top_destinations: rows(top(&table.by_destination, self.top)),
                    unreplied: table.unreplied,
                }
            })
            .collect()
    }
}

impl Report for ConntrackReport {
    fn json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        #[derive(Serialize)]
        struct Doc<'a> {
            schema: u32,
            command: &'static str,
            namespaces: &'a [JNs<'a>],
            /// Where the evidence came from (`--from`); absent for the live kernel.
            #[serde(skip_serializing_if = "Option::is_none")]
            source: Option<crate::json::JSource<'static>>,
        }
        let docs = self.docs();
        let doc = Doc {
            schema: SCHEMA,
            command: "conntrack",
            namespaces: &docs,
            source: crate::json::source(),
        };
        write_pretty(out, &doc)
    }

    fn text(&self, out: &mut dyn Write, lang: Lang) -> std::io::Result<()> {
        for (i, d) in self.docs().iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            let ns = &self.namespaces[i].0;
            if self.label_ns || !ns.current {
                writeln!(out, "== {} ==", ns.label())?;
            }
            write_ns_text(out, lang, d)?;
        }
        Ok(())
    }
}

fn write_ns_text(out: &mut dyn Write, lang: Lang, d: &JNs<'_>) -> std::io::Result<()> {
    if !d.active {
        return writeln!(out, "{}", text(lang, Msg::CtInactive, &[]));
    }
    if d.max == 0 {
        let n = count(d.count);
        writeln!(out, "{}", text(lang, Msg::CtCountOnly, &[&n]))?;
    } else {
        writeln!(
            out,
            "conntrack: {} / {} ({}%){}",
            count(d.count),
            count(d.max),
            d.percent,
            d.buckets
                .map_or(String::new(), |b| format!(", {} buckets", count(b)))
        )?;
    }
    if let Some(s) = &d.stats {
        writeln!(
            out,
            "  drop {}  early_drop {}  insert_failed {}  invalid {}  search_restart {}",
            s.drop, s.early_drop, s.insert_failed, s.invalid, s.search_restart
        )?;
    }
    let sections = [
        (Msg::CtByProto, &d.by_proto),
        (Msg::CtByTcpState, &d.by_tcp_state),
        (Msg::CtTopSources, &d.top_sources),
        (Msg::CtTopDestinations, &d.top_destinations),
    ];
    for (title, rows) in sections {
        if rows.is_empty() {
            continue;
        }
        writeln!(out, "{}", text(lang, title, &[]))?;
        for r in rows {
            writeln!(out, "  {:>10}  {}", count(r.count), r.key)?;
        }
    }
    if d.unreplied > 0 {
        let n = count(d.unreplied);
        writeln!(out, "{}", text(lang, Msg::CtUnreplied, &[&n]))?;
    }
    Ok(())
}

pub fn run(g: &Global, a: &ConntrackArgs) -> Result<Done, Failure> {
    let mut namespaces = Vec::new();
    if let Some(r) = scope::recording(g)? {
        // Evidence: the fill from `sysctl -a` or a snapshot, the entries from the table's dump.
        for (ns, e) in r.namespaces().into_iter().zip(&r.evidence.namespaces) {
            let ct = e.kernel.as_ref().and_then(|k| k.conntrack_after);
            if ct.is_some() || e.conntrack_table.is_some() {
                let table = e.conntrack_table.clone().unwrap_or_default();
                let ct = ct.unwrap_or(Conntrack {
                    count: table.entries,
                    ..Conntrack::default()
                });
                namespaces.push((ns, Some(ct), table));
            }
        }
        if namespaces.is_empty() {
            return Err(Failure::new(
                Exit::DataErr,
                text(g.lang(), Msg::CtNotInEvidence, &[]),
            ));
        }
    } else {
        for ns in scope::namespaces(g)? {
            let (ct, table) = read_in(g.lang(), &ns)?;
            namespaces.push((ns, ct, table.unwrap_or_default()));
        }
    }
    let report = ConntrackReport {
        namespaces,
        top: a.top,
        label_ns: g.all_netns,
    };
    Ok(Done::new(report, Exit::Ok))
}
