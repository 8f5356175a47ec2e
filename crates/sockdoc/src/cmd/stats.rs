//! `sockdoc stats`: the state histogram and `--by` groupings — every `netstat | awk | sort | uniq -c`
//! pipeline of an incident, as one command.

use std::io::Write;

use serde::Serialize;
use sockdoc_core::aggregate::{GroupBy, Grouping, Key, Tally};
use sockdoc_core::i18n::table::group_header;
use sockdoc_core::i18n::{text, Lang, Msg};
use sockdoc_core::service::{Container, Lookup, Pod, Services};
use sockdoc_core::{NoOwners, Owners};
use sockdoc_diag::State;
use sockdoc_proc::{Netns, SocketOwners};

use std::sync::Arc;

use sockdoc_core::session::{Needs, Refresh};

use crate::census;
use crate::cli::{Global, StatsArgs};
use crate::error::{Exit, Failure};
use crate::fmt::{count, display_width, pad_left};
use crate::json::{write_pretty, JNetns, SCHEMA};
use crate::report::{Done, Report};
use crate::scope;

/// One namespace's counts.
struct NsStats {
    ns: Netns,
    tally: Tally,
    /// The services of the cgroups counted (groupings by unit, container, pod or cgroup).
    services: Option<Services>,
    notes: Vec<String>,
}

/// The counts of every namespace looked at, ready to print.
pub struct StatsReport {
    results: Vec<NsStats>,
    top: usize,
    label_ns: bool,
    owners: Option<Arc<SocketOwners>>,
}

impl StatsReport {
    fn proc_name(&self, pid: u32) -> Option<String> {
        self.owners
            .as_ref()
            .and_then(|o| o.process(pid))
            .map(|p| p.name.clone())
    }
}

impl Report for StatsReport {
    fn text(&self, out: &mut dyn Write, lang: Lang) -> std::io::Result<()> {
        let name = |pid| self.proc_name(pid);
        write_text(out, lang, &self.results, self.top, self.label_ns, &name)
    }

    fn json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let name = |pid| self.proc_name(pid);
        write_json(out, &self.results, self.top, &name)
    }

    fn csv(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let name = |pid| self.proc_name(pid);
        write_csv(out, &self.results, self.top, &name)
    }
}

/// The counts as CSV, one record per count: `netns,by,key,state,count`. The histogram's records
/// are `by` `proto` (`key` tcp or udp); each grouping's rows are by its name, with `state` `all`
/// for a row's total and the rows past `--top` under the key `(other)`.
fn write_csv(
    out: &mut dyn Write,
    results: &[NsStats],
    top: usize,
    proc_name: &dyn Fn(u32) -> Option<String>,
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["netns", "by", "key", "state", "count"])?;
    for r in results {
        let ns = r.ns.label();
        for (proto, counts) in [("tcp", &r.tally.tcp), ("udp", &r.tally.udp)] {
            let total = counts.total().to_string();
            w.write_record([ns.as_str(), "proto", proto, "all", &total])?;
            for (state, n) in counts.nonzero() {
                w.write_record([ns.as_str(), "proto", proto, state.ss_name(), &n.to_string()])?;
            }
        }
        for g in r.tally.groupings(top) {
            let by = g.by.name();
            for row in &g.rows {
                let key = row.key_text(proc_name, r.services.as_ref());
                w.write_record([ns.as_str(), by, &key, "all", &row.count.to_string()])?;
                for (state, n) in row.states.nonzero() {
                    w.write_record([ns.as_str(), by, &key, state.ss_name(), &n.to_string()])?;
                }
            }
            if g.other > 0 {
                w.write_record([ns.as_str(), by, "(other)", "all", &g.other.to_string()])?;
            }
        }
    }
    w.flush()
}

pub fn run(g: &Global, a: &StatsArgs) -> Result<Done, Failure> {
    let mut by = Vec::new();
    for word in &a.by {
        let k = GroupBy::parse(word, a.prefix4, a.prefix6)
            .ok_or_else(|| Failure::usage(text(g.lang(), Msg::UnknownBy, &[word])))?;
        by.push(k);
    }
    let by_owner = by.iter().any(|b| b.needs_owners());
    let by_cgroup = by.iter().any(|b| b.needs_cgroups());
    let scope = scope::resolve(g)?;
    let needs = Needs {
        owners: by_owner,
        tcp_info: false,
        cgroups: by_cgroup,
    };
    let plan = census::plan(&scope, &a.select, &a.filter, needs)?;
    let late = plan.filter.decided_late();
    let wanted_owners = plan.owners;
    let mut session = census::session(g.lang(), scope, plan, Refresh::PerRun)?;
    let mut results = Vec::new();
    let mut owners: Option<Arc<SocketOwners>> = None;
    if late {
        // A filter on processes or services needs them before it can decide: keep the matching
        // sockets.
        for sample in session.samples().map_err(Failure::census)? {
            let mut t = Tally::new(&by);
            for s in &sample.sockets {
                t.add(s, sample.owners());
            }
            if let Some(services) = &sample.services {
                t.resolve_services(services);
            }
            owners = owners.or(sample.owners.map(|f| f.map));
            results.push(NsStats {
                ns: sample.ns,
                tally: t,
                services: sample.services,
                notes: sample.notes,
            });
        }
    } else {
        // Streaming: each dump thread counts what passes the filter and forgets it; a grouping by
        // process keeps 8 bytes per socket until the owner read (running alongside) is done.
        let filter = session.plan.filter.clone();
        let counted = session
            .counts(
                |_| Tally::new(&by),
                |t, s| {
                    if filter.matches(s, &NoOwners) {
                        t.add_deferred(s);
                    }
                },
            )
            .map_err(Failure::census)?;
        for c in counted {
            let mut t = Tally::new(&by);
            for d in c.census.dumps {
                t.merge(d.acc);
            }
            owners = owners.or(c.owners.map(|f| f.map));
            let o: &dyn Owners = owners.as_deref().map_or(&NoOwners, |o| o as &dyn Owners);
            t.resolve(o);
            let mut notes = c.census.notes;
            // Groupings by unit, container, pod or cgroup counted cgroup ids: name the ones seen,
            // once.
            let services = by_cgroup.then(|| {
                let services = session.services(t.cgroup_ids());
                t.resolve_services(&services);
                notes.extend(services.notes.iter().cloned());
                services
            });
            results.push(NsStats {
                ns: c.ns,
                tally: t,
                services,
                notes,
            });
        }
    }
    let session_notes = session.take_notes();
    let denied = owners.as_ref().map_or(0, |o| o.stats.denied);
    let notes: Vec<String> = session_notes
        .into_iter()
        .chain(results.iter().flat_map(|r| r.notes.iter().cloned()))
        .collect();
    scope::print_notes(g.lang(), &notes, wanted_owners, denied);
    let report = StatsReport {
        results,
        top: a.top,
        label_ns: g.all_netns,
        owners,
    };
    Ok(Done::new(report, Exit::Ok))
}

fn write_text(
    out: &mut dyn Write,
    lang: Lang,
    results: &[NsStats],
    top: usize,
    label_ns: bool,
    proc_name: &dyn Fn(u32) -> Option<String>,
) -> std::io::Result<()> {
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        if label_ns || !r.ns.current {
            writeln!(out, "{}", text(lang, Msg::Namespace, &[&r.ns.label()]))?;
        }
        for (name, counts) in [("TCP", &r.tally.tcp), ("UDP", &r.tally.udp)] {
            let n = count(counts.total());
            writeln!(out, "{}", text(lang, Msg::ProtoTotal, &[name, &n]))?;
            for (state, n) in counts.nonzero() {
                writeln!(out, "  {:<12} {:>10}", state.ss_name(), count(n))?;
            }
        }
        for g in r.tally.groupings(top) {
            write_grouping(out, lang, &g, proc_name, r.services.as_ref())?;
        }
    }
    Ok(())
}

fn write_grouping(
    out: &mut dyn Write,
    lang: Lang,
    g: &Grouping,
    proc_name: &dyn Fn(u32) -> Option<String>,
    services: Option<&Services>,
) -> std::io::Result<()> {
    writeln!(out)?;
    let title = text(
        lang,
        Msg::GroupTitle,
        &[
            match lang {
                Lang::En => g.by.name(),
                _ => group_header(lang, g.by.name()).unwrap_or(g.by.name()),
            },
            &g.rows.len().to_string(),
            &count(g.distinct as u64),
        ],
    );
    writeln!(out, "{title}")?;
    let keys: Vec<String> = g
        .rows
        .iter()
        .map(|r| match r.key {
            Key::NoContainer => text(lang, Msg::NoContainer, &[]),
            Key::NoPod => text(lang, Msg::NoPod, &[]),
            Key::NoPeer => text(lang, Msg::NoPeer, &[]),
            _ => r.key_text(proc_name, services),
        })
        .collect();
    let width = keys
        .iter()
        .map(|k| display_width(k))
        .max()
        .unwrap_or(0)
        .max(display_width(
            group_header(lang, g.by.name()).unwrap_or(g.by.name()),
        ));
    let key_header = match lang {
        Lang::En => g.by.name().to_uppercase(),
        _ => {
            group_header(lang, g.by.name()).map_or_else(|| g.by.name().to_uppercase(), String::from)
        }
    };
    let pad = " ".repeat(width.saturating_sub(display_width(&key_header)));
    writeln!(
        out,
        "  {}  {key_header}{pad}  {}",
        pad_left(&text(lang, Msg::Count, &[]), 10),
        text(lang, Msg::States, &[])
    )?;
    for (row, key) in g.rows.iter().zip(&keys) {
        let key = format!(
            "{key}{}",
            " ".repeat(width.saturating_sub(display_width(key)))
        );
        let states: Vec<String> = row
            .states
            .nonzero()
            .iter()
            .map(|(s, n)| format!("{} {}", s.ss_name(), count(*n)))
            .collect();
        writeln!(
            out,
            "  {:>10}  {key}  {}",
            count(row.count),
            states.join(", ")
        )?;
    }
    if g.other > 0 {
        let rest = g.distinct - g.rows.len();
        let more = text(lang, Msg::More, &[&count(rest as u64)]);
        writeln!(out, "  {:>10}  {more}", count(g.other))?;
    }
    // Say what the rows without a named cgroup are, rather than leave a bare `-`.
    let unnamed = g
        .rows
        .iter()
        .any(|r| r.cgroup_id().is_some() && !matches!(r.lookup(services), Lookup::Found(_)));
    if unnamed {
        writeln!(out, "{}", text(lang, Msg::CgroupRowsNote, &[]))?;
    }
    Ok(())
}

#[derive(Serialize)]
struct JProtoStats {
    total: u64,
    states: std::collections::BTreeMap<&'static str, u64>,
}

#[derive(Serialize)]
struct JRow {
    key: String,
    count: u64,
    states: std::collections::BTreeMap<&'static str, u64>,
    /// `--by container`: the row's container.
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<JContainer>,
    /// `--by pod`: the row's pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pod: Option<JPod>,
    /// `--by container|pod`: the row of sockets outside any container (pod).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    outside: bool,
}

#[derive(Serialize)]
pub struct JContainer {
    pub runtime: &'static str,
    pub id: String,
    /// As the runtime names it; null when it could not say.
    pub name: Option<String>,
}

impl JContainer {
    pub fn new(c: &Container) -> JContainer {
        JContainer {
            runtime: c.runtime.name(),
            id: c.id.clone(),
            name: c.name.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct JPod {
    pub uid: String,
    /// The pod's Kubernetes namespace and name; null when the node could not say.
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl JPod {
    pub fn new(p: &Pod) -> JPod {
        JPod {
            uid: p.uid.clone(),
            namespace: p.name.as_ref().map(|n| n.namespace.clone()),
            name: p.name.as_ref().map(|n| n.name.clone()),
        }
    }
}

/// A row as JSON: its key, counts, and the typed container or pod of the groupings by them.
fn json_row(
    row: &sockdoc_core::aggregate::Row,
    proc_name: &dyn Fn(u32) -> Option<String>,
    services: Option<&Services>,
) -> JRow {
    let found = match row.lookup(services) {
        Lookup::Found(s) => Some(s),
        _ => None,
    };
    JRow {
        key: row.key_text(proc_name, services),
        count: row.count,
        states: states_map(&row.states),
        container: match row.key {
            Key::Container(_) => found
                .and_then(|s| s.container.as_ref())
                .map(JContainer::new),
            _ => None,
        },
        pod: match row.key {
            Key::Pod(_) => found.and_then(|s| s.pod.as_ref()).map(JPod::new),
            _ => None,
        },
        outside: matches!(row.key, Key::NoContainer | Key::NoPod),
    }
}

#[derive(Serialize)]
struct JGrouping {
    by: &'static str,
    rows: Vec<JRow>,
    other: u64,
    distinct: usize,
}

#[derive(Serialize)]
struct JNsStats<'a> {
    netns: JNetns<'a>,
    total: u64,
    tcp: JProtoStats,
    udp: JProtoStats,
    groups: Vec<JGrouping>,
    notes: &'a [String],
}

#[derive(Serialize)]
struct JStats<'a> {
    schema: u32,
    command: &'static str,
    namespaces: Vec<JNsStats<'a>>,
    /// Where the evidence came from (`--from`); absent for the live kernel.
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<crate::json::JSource<'static>>,
}

fn states_map(
    c: &sockdoc_core::aggregate::StateCounts,
) -> std::collections::BTreeMap<&'static str, u64> {
    State::ALL
        .iter()
        .filter(|s| c.get(**s) > 0)
        .map(|s| (s.key(), c.get(*s)))
        .collect()
}

fn write_json(
    out: &mut dyn Write,
    results: &[NsStats],
    top: usize,
    proc_name: &dyn Fn(u32) -> Option<String>,
) -> std::io::Result<()> {
    let doc = JStats {
        schema: SCHEMA,
        command: "stats",
        namespaces: results
            .iter()
            .map(|r| JNsStats {
                netns: JNetns::new(&r.ns),
                total: r.tally.total(),
                tcp: JProtoStats {
                    total: r.tally.tcp.total(),
                    states: states_map(&r.tally.tcp),
                },
                udp: JProtoStats {
                    total: r.tally.udp.total(),
                    states: states_map(&r.tally.udp),
                },
                groups: r
                    .tally
                    .groupings(top)
                    .iter()
                    .map(|g| JGrouping {
                        by: g.by.name(),
                        rows: g
                            .rows
                            .iter()
                            .map(|row| json_row(row, proc_name, r.services.as_ref()))
                            .collect(),
                        other: g.other,
                        distinct: g.distinct,
                    })
                    .collect(),
                notes: &r.notes,
            })
            .collect(),
        source: crate::json::source(),
    };
    write_pretty(out, &doc)
}
