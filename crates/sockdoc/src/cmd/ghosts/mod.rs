//! `sockdoc ghosts`: the half-open suspects alone, one line each with owner, peer, idle time and timer.

pub mod probe;

use std::io::Write;

use sockdoc_core::doctor::ghosts::{is_suspect, is_suspect_in};
use sockdoc_core::doctor::kernel::Sysctls;
use sockdoc_core::i18n::{text, Msg};
use sockdoc_core::session::{Needs, Protocols, Refresh};
use sockdoc_proc::Netns;

use crate::census;
use crate::cli::{GhostsArgs, Global, Select};
use crate::cmd::doctor::parse_duration;
use crate::cmd::list::{Col, NsSockets, SocketsReport};
use crate::error::{Exit, Failure};
use crate::report::Done;
use crate::scope;

/// The threshold in force inside `ns`: the user's, or that namespace's keepalive window.
fn threshold_in(ns: &Netns, user: Option<u64>) -> Result<u64, Failure> {
    if let Some(ms) = user {
        return Ok(ms);
    }
    // Recorded evidence is not entered: the kernel's default window (--idle sets another).
    if ns.recorded_index().is_some() {
        return Ok(Sysctls::default().keepalive_window_ms());
    }
    scope::in_ns(ns, || Ok(Sysctls::read().keepalive_window_ms()))
}

pub fn run(g: &Global, a: &GhostsArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let lang = g.lang();
    let user = a
        .idle
        .as_deref()
        .map(|t| parse_duration(lang, "--idle", t).map(|d| d.as_millis() as u64))
        .transpose()?;
    // No filter means every suspect; a blank one is a mistake (an unset variable), not "every".
    crate::treat::refuse_blank(g.lang(), "ghosts", &a.filter)?;
    let mut words = vec!["tcp".to_string(), "state".into(), "established".into()];
    if !a.filter.is_empty() {
        words.push("and".into());
        words.push("(".into());
        words.extend(a.filter.iter().cloned());
        words.push(")".into());
    }
    let scope = scope::resolve(g)?;
    if !a.probe {
        return crate::report::present(g, suspects(g, a, scope, user, &words), out);
    }
    let namespaces = &scope.namespaces;
    let [ns] = namespaces.as_slice() else {
        return Err(Failure::usage(text(lang, Msg::ProbeOneNamespace, &[])));
    };
    let threshold = threshold_in(ns, user)?;
    let needs = Needs {
        owners: true,
        tcp_info: true,
        cgroups: false,
    };
    let session = census::one_ns(lang, ns, Protocols::default(), &words, needs)?;
    let census = census::sample(&session, ns, None)?;
    let mut suspects = census.sockets;
    suspects.retain(|s| is_suspect(s, threshold));
    let probe_time = parse_duration(lang, "--probe-time", &a.probe_time)?;
    crate::cmd::ghosts::probe::run(
        &crate::cmd::ghosts::probe::ProbeRun {
            ns,
            session: &session,
            suspects: &suspects,
            owners: census.owners.as_ref().map(|f| &*f.map),
            threshold_ms: threshold,
            probe_time,
            reap: a.reap,
            yes: a.yes,
            audit_log: a.audit_log.as_ref(),
            json: g.json,
            lang: g.lang(),
            filter_text: a.filter.join(" "),
        },
        out,
    )
}

/// The suspects of every namespace in scope, as a listing.
fn suspects(
    g: &Global,
    a: &GhostsArgs,
    scope: sockdoc_core::session::Scope,
    user: Option<u64>,
    words: &[String],
) -> Result<Done, Failure> {
    let scope_namespaces = scope.namespaces.clone();
    let needs = Needs {
        owners: true,
        tcp_info: true,
        cgroups: false,
    };
    let plan = census::plan(&scope, &Select::default(), words, needs)?;
    let mut session = census::session(g.lang(), scope, plan, Refresh::PerRun)?;
    let mut notes = Vec::new();
    let mut denied = 0;
    let mut namespaces = Vec::new();
    for ns in &scope_namespaces {
        let threshold = threshold_in(ns, user)?;
        let Some(mut sample) = session.sample_or_skip(ns).map_err(Failure::census)? else {
            continue;
        };
        let blind = sample.blind;
        sample
            .sockets
            .retain(|s| is_suspect_in(s, threshold, blind));
        // Evidence without timers cannot tell a ghost (its notes say so).
        if sample.unjudged.contains(&"ghost-suspects") {
            sample.sockets.clear();
        }
        if let Some(o) = sample.owner_map() {
            denied = o.stats.denied;
        }
        notes.extend(sample.notes.iter().cloned());
        namespaces.push(NsSockets {
            sample,
            extra: vec![("threshold_ms", threshold)],
        });
    }
    notes.splice(0..0, session.take_notes());
    let ages = crate::age::Ages::read(g.lang(), &a.history, scope::ages_to(), &mut notes);
    scope::print_notes(g.lang(), &notes, true, denied);
    let report = SocketsReport {
        command: "ghosts",
        style: crate::cmd::list::Style::Table,
        key: "suspects",
        cols: vec![
            Col::Local,
            Col::Peer,
            Col::Timer,
            Col::Idle,
            Col::Age,
            Col::Process,
        ],
        header: !a.no_header,
        label_ns: g.all_netns,
        show_owners: true,
        show_services: true,
        ages,
        namespaces,
    };
    Ok(Done::new(report, Exit::Ok))
}
