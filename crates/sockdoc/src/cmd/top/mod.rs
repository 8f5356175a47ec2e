//! `sockdoc top`: the command-line wiring of the live view (crate `sockdoc-top`): flags checked and
//! turned into its [`Setup`](sockdoc_top::Setup), the namespace watch, and the actions it asks for
//! (carried out by [`actions`], through the same selection and kill code as the commands).

mod actions;

use std::io::{IsTerminal, Write};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use sockdoc_core::filter::Filter;
use sockdoc_core::i18n::top::{word, TopMsg};
use sockdoc_runtime::{log, signals};
use sockdoc_top::worker::WorkerSetup;
use sockdoc_top::{Host, Outcome, Request, Setup};

use crate::cli::{Global, TopArgs};
use crate::cmd::doctor::parse_duration;
use crate::error::{Exit, Failure};
use crate::scope;

pub fn run(g: &Global, a: &TopArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let lang = g.lang();
    check_use(g)?;
    let interval = parse_duration(lang, "-d", &a.delay)?;
    if interval < Duration::from_millis(100) {
        return Err(Failure::usage(word(lang, TopMsg::DelayMin)));
    }
    let probe_time = parse_duration(lang, "--probe-time", &a.probe_time)?;
    let idle_ms = a
        .idle
        .as_deref()
        .map(|t| parse_duration(lang, "--idle", t).map(|d| d.as_millis() as u64))
        .transpose()?;
    if a.keepalive_idle == 0 || a.keepalive_intvl == 0 || a.keepalive_cnt == 0 {
        return Err(Failure::usage(word(lang, TopMsg::KeepaliveMin)));
    }
    let filter_text = a.filter.join(" ");
    let filter = Filter::parse(&a.filter).map_err(|e| Failure::usage(e.to_string()))?;
    let mut namespaces = scope::namespaces(g)?;
    let ns = namespaces.remove(0);
    let ns_label = match (ns.names.first(), ns.current) {
        (Some(n), _) => format!("netns {n}"),
        (None, true) => word(lang, TopMsg::ThisNamespace).to_string(),
        (None, false) => format!("netns pid {}", ns.pid.unwrap_or(0)),
    };
    let host = CliHost(actions::Ctx {
        global: g.clone(),
        audit_log: a.audit_log.clone(),
        listen: a.listen,
        probe_time,
        keepalive: (a.keepalive_idle, a.keepalive_intvl, a.keepalive_cnt),
        threshold_ms: 0,
        lang,
    });
    // Pinned: a deleted and recreated name shows a banner; with --follow-netns the census follows.
    let watch = scope::watch(g, &ns, "top", scope::OnLost::Notice);
    let setup = Setup {
        worker: WorkerSetup {
            ns,
            watch,
            interval,
            owners_every: parse_duration(lang, "--owners-every", &a.owners_every)?,
            doctor_every: parse_duration(lang, "--doctor-every", &a.doctor_every)?,
            idle_ms,
            prefix4: a.prefix4,
            prefix6: a.prefix6,
            lang,
            filter,
            filter_text,
        },
        ns_label,
        follow_netns: g.follow_netns,
        listen: a.listen,
        own_ssh: sockdoc_core::own_ssh::OwnSsh::from_env(),
    };
    signals::install();
    let pending = sockdoc_top::run(setup, &host, out).map_err(|e| Failure::new(Exit::Io, e.0))?;
    // An action under way finishes (its audit lines are written) before the process ends.
    if let Some(rx) = pending {
        log::log_line!("{}", word(lang, TopMsg::WaitingForAction));
        if let Ok(o) = rx.recv_timeout(probe_time + Duration::from_secs(120)) {
            log::log_line!("{}", o.title);
        }
    }
    Ok(Exit::Ok)
}

/// top is interactive and watches one namespace.
fn check_use(g: &Global) -> Result<(), Failure> {
    let refuse = |m| Err(Failure::usage(word(g.lang(), m)));
    if g.json {
        return refuse(TopMsg::NoJson);
    }
    if g.all_netns {
        return refuse(TopMsg::OneNamespace);
    }
    if !std::io::stdout().is_terminal() {
        return refuse(TopMsg::NotTerminal);
    }
    Ok(())
}

/// Actions, lent to the view.
struct CliHost(actions::Ctx);

impl Host for CliHost {
    fn act(&self, req: Request, threshold_ms: u64) -> std::io::Result<Receiver<Outcome>> {
        let mut c = self.0.clone();
        c.threshold_ms = threshold_ms;
        actions::start(c, req)
    }
}
