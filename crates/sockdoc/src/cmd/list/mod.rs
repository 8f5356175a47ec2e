//! `sockdoc list` and `sockdoc ss`: one line per socket — ss-like columns plus owner, timer and
//! idle time — as a table, ss's own lines, CSV or JSON. Text is written straight into one buffer
//! per line: at a million sockets the printing is the cost.
//!
//! Parts: [`col`] the columns, [`habits`] what ss's flags mean here, [`text`] the table and CSV,
//! [`ss`] ss's output.

mod col;
pub mod habits;
mod ss;
mod text;

use crate::age::Ages;
use std::io::Write;

use sockdoc_core::i18n::{text, Lang, Msg};
use sockdoc_core::service::Services;
use sockdoc_diag::Socket;
use sockdoc_proc::SocketOwners;

use sockdoc_core::session::{Needs, Refresh, Sample};

pub(crate) use col::Col;
pub(crate) use habits::Style;
pub(crate) use text::write as write_text;

use crate::census;
use crate::cli::{Global, ListArgs};
use crate::error::{Exit, Failure};
use crate::json::{JNetns, JSocket, SCHEMA};
use crate::report::{Done, Report};
use crate::scope;

/// `sockdoc list --help` text after the options.
pub fn long_help() -> String {
    format!(
        "Examples:\n  \
         # ss -aoen | grep :21 | grep ESTAB\n  \
         sockdoc list state established '( sport = :21 )'\n  \
         # connections the kernel will never reap\n  \
         sockdoc list -p state established '!keepalive'\n  \
         # lsof -p PID + ls -l /proc/PID/fd\n  \
         sockdoc list -p proc vsftpd and 'idle > 1h'\n  \
         sockdoc list --columns local,peer,timer,idle,process dst 10.0.0.0/8\n  \
         # as ss -tanp, -ltn, -tn (ss's flags: see README)\n  \
         sockdoc list -tanp\n  \
         # which unit holds what\n  \
         sockdoc list -o local,peer,state,unit,container unit nginx\n\n{}",
        sockdoc_core::filter::help_text()
    )
}

/// One namespace's sockets as a listing shows them.
pub struct NsSockets {
    pub sample: Sample,
    /// Extra numbers for the JSON entry (ghosts' threshold).
    pub extra: Vec<(&'static str, u64)>,
}

/// The sockets of every namespace looked at, ready to print: `list`, and `ghosts` with its suspects.
pub struct SocketsReport {
    pub command: &'static str,
    /// A table (`list`, `ghosts`) or ss's lines (`ss`).
    pub style: Style,
    /// The JSON key of the socket array (`sockets`, `suspects`).
    pub key: &'static str,
    pub cols: Vec<Col>,
    pub header: bool,
    /// Title each namespace (`--all-netns`, or one that is not the caller's).
    pub label_ns: bool,
    /// Show owners (a column or `-p` asked for them).
    pub show_owners: bool,
    /// Show services in the JSON (the census named them for a column or a filter).
    pub show_services: bool,
    /// Connection ages from the recorder's index.
    pub ages: Ages,
    pub namespaces: Vec<NsSockets>,
}

impl SocketsReport {
    /// What of `s`'s owners and services the report shows.
    fn who<'a>(&'a self, s: &'a Sample) -> Who<'a> {
        Who {
            owners: s.owner_map().filter(|_| self.show_owners),
            services: s.services.as_ref().filter(|_| self.show_services),
            ages: Some(&self.ages),
        }
    }
}

/// What a listing shows of who holds each socket: processes (`-p`), services (their columns).
#[derive(Clone, Copy, Default)]
pub(crate) struct Who<'a> {
    pub owners: Option<&'a SocketOwners>,
    pub services: Option<&'a Services>,
    pub ages: Option<&'a Ages>,
}

impl Report for SocketsReport {
    fn text(&self, out: &mut dyn Write, lang: Lang) -> std::io::Result<()> {
        for n in &self.namespaces {
            let s = &n.sample;
            // `-H` is rows only, as `ss -H` is: no banner for the one namespace looked at
            // (`--all-netns` keeps them: they tell the namespaces apart).
            // ss names no namespace it was asked to look in (`ss -N NAME`).
            let banner = !s.ns.current && self.header && self.style == Style::Table;
            if self.label_ns || banner {
                writeln!(out, "{}", text(lang, Msg::Namespace, &[&s.ns.label()]))?;
            }
            let who = self.who(s);
            match self.style {
                Style::Ss(flags) => ss::write(out, flags, &s.sockets, who, self.header)?,
                Style::Table => text::write(out, lang, &self.cols, &s.sockets, who, self.header)?,
            }
        }
        Ok(())
    }

    fn csv(&self, out: &mut dyn Write) -> std::io::Result<()> {
        text::write_csv(out, self)
    }

    fn json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        write!(
            out,
            "{{\"schema\":{SCHEMA},\"command\":\"{}\",\"namespaces\":[",
            self.command
        )?;
        for (i, n) in self.namespaces.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            let s = &n.sample;
            let who = self.who(s);
            write_json_ns(out, &s.ns, &s.sockets, who, &s.notes, self.key, &n.extra)?;
        }
        out.write_all(b"]")?;
        // Where the evidence came from (`--from`); absent for the live kernel.
        if let Some(source) = crate::json::source() {
            out.write_all(b",\"source\":")?;
            serde_json::to_writer(&mut *out, &source)?;
        }
        out.write_all(b"}\n")
    }
}

/// `sockdoc list`, or `sockdoc ss` when `ss` (ss's output, and its default states always).
pub fn run(g: &Global, a: &ListArgs, ss: bool) -> Result<Done, Failure> {
    let lang = g.lang();
    let style = habits::style(a, ss);
    let cols = habits::columns(lang, a, style)?;
    let want_owners = a.processes || cols.iter().any(|c| c.needs_owners());
    let want_info = g.json || cols.iter().any(|c| c.needs_tcp_info());
    let want_services = cols.iter().any(|c| c.service_part().is_some());
    let words = habits::filter_words(a, ss);
    let scope = scope::resolve(g)?;
    let needs = Needs {
        owners: want_owners,
        tcp_info: want_info,
        cgroups: want_services,
    };
    let plan = census::plan(&scope, &a.select, &words, needs)?;
    let wanted_owners = plan.owners;
    let mut session = census::session(lang, scope, plan, Refresh::PerRun)?;
    let samples = session.samples().map_err(Failure::census)?;
    let denied = samples
        .iter()
        .find_map(|s| s.owner_map())
        .map_or(0, |o| o.stats.denied);
    let mut notes = session.take_notes();
    notes.extend(samples.iter().flat_map(|s| s.notes.iter().cloned()));
    let ages = if g.json || cols.contains(&Col::Age) {
        let mut said = Vec::new();
        let ages = Ages::read(lang, &a.history, scope::ages_to(), &mut said);
        // Only a column asked for is worth a line about its source.
        if cols.contains(&Col::Age) {
            notes.extend(said);
        }
        ages
    } else {
        Ages::none(lang)
    };
    scope::print_notes(g.lang(), &notes, wanted_owners, denied);
    let report = SocketsReport {
        command: if ss { "ss" } else { "list" },
        style,
        key: "sockets",
        cols,
        header: !a.no_header,
        label_ns: g.all_netns,
        show_owners: want_owners,
        show_services: true,
        ages,
        namespaces: samples
            .into_iter()
            .map(|sample| NsSockets {
                sample,
                extra: Vec::new(),
            })
            .collect(),
    };
    Ok(Done::new(report, Exit::Ok))
}

/// One namespace's entry: `{"netns":..,<extra>,"notes":[..],"<key>":[sockets]}`, streamed.
pub(crate) fn write_json_ns(
    out: &mut dyn Write,
    ns: &sockdoc_proc::Netns,
    sockets: &[Socket],
    who: Who<'_>,
    notes: &[String],
    key: &str,
    extra: &[(&str, u64)],
) -> std::io::Result<()> {
    out.write_all(b"{\"netns\":")?;
    serde_json::to_writer(&mut *out, &JNetns::new(ns))?;
    for (k, v) in extra {
        write!(out, ",\"{k}\":{v}")?;
    }
    out.write_all(b",\"notes\":")?;
    serde_json::to_writer(&mut *out, notes)?;
    write!(out, ",\"{key}\":[")?;
    for (i, s) in sockets.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(b"\n")?;
        let j = JSocket::new(s, who.owners)
            .with_service(s, who.services)
            .with_age(s, who.ages);
        serde_json::to_writer(&mut *out, &j)?;
    }
    out.write_all(b"]}")
}
