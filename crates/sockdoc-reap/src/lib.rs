//! sockdoc-reap: the daemon behind `sockdoc reap --config reap.toml`, which enforces idle policies on
//! services that never set their own.
//!
//! Every `interval` it runs one census through `sockdoc_core::session::Session` (tcp_info; owners
//! only when a rule's selector needs them, else at most once per scan when an act needs them:
//! [`Refresh::Lazy`](sockdoc_core::session::Refresh::Lazy)), lets `sockdoc_core::reap::decide`
//! decide, acts through `sockdoc_act::treat` (the kill ladder: SOCK_DESTROY, then shutdown through
//! the owner's fd, then a forged RST; keepalive retrofits), and writes one JSON line per action.
//! Counters are on `/metrics`, served by `sockdoc_serve::http` (loopback by default).
//! SIGHUP reloads the configuration and the web configuration (a bad one is rejected and the old one
//! kept); SIGINT/SIGTERM stop
//! it cleanly. Every run that wrote its start record writes its stop record, also when a failure ends
//! it; its stderr lines never panic (a closed stderr loses them, nothing else).
//!
//! - [`run`]: the daemon, from a loaded configuration to its stop record;
//! - [`check`]: the `--check` lines (the configuration is valid, its rules);
//! - [`Sink`]: where the action records go (standard output or an append-only file);
//! - [`Options`] and [`Hooks`]: what the caller gives it; [`ReapError`]: why it stopped, one line in
//!   the caller's language;
//! - `daemon`: the loop (scan, wait, reload, follow a recreated namespace);
//! - `scan`: one census and its decisions; `act`: the kills and keepalive changes through the treat
//!   path; `sink`: the records; `metrics`: the counters on `/metrics`.
//!
//! It decides nothing itself (the policy is `sockdoc_core::reap`), never reads the configuration file
//! itself (the caller's [`Hooks::reload`] does), never walks /proc or enters a namespace itself (the
//! session does), and never parses flags or picks exit codes (the command line does).

mod act;
mod daemon;
mod error;
mod metrics;
mod scan;
mod sink;

use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;
use sockdoc_core::i18n::{self, Lang, ReapMsg};
use sockdoc_core::reap::Config;
use sockdoc_diag::Socket;
use sockdoc_proc::{Netns, SocketOwners};

pub use daemon::run;
pub use error::ReapError;
pub use sink::Sink;

/// What the daemon is told besides its configuration.
#[derive(Clone, Debug)]
pub struct Options {
    /// The configuration file, as records and lines name it.
    pub config: PathBuf,
    /// Where `/metrics` listens (`None`: off).
    pub metrics: Option<String>,
    /// TLS and basic authentication for `/metrics` (`--web.config.file`), loaded by the caller;
    /// read again on SIGHUP.
    pub web: Option<sockdoc_serve::web::WebConfig>,
    /// `--follow-netns`: a recreated namespace name is followed instead of stopping the daemon.
    pub follow_netns: bool,
    /// The language of its stderr lines and errors (its records are JSON, the same in every one).
    pub lang: Lang,
    /// The directory `sockdoc record` writes: connection ages count from its first-seen times
    /// (`None`, or no index there: from the daemon's first scan, as a lower bound).
    pub history: Option<PathBuf>,
}

/// The configuration read again on SIGHUP, in the namespace the daemon is in now (`dev` names
/// resolve there); the error is one line.
pub type Reload = Box<dyn FnMut(&Netns) -> Result<Config, String>>;

/// A socket as the records show it (the `--json` socket of docs/json-schema.md), with its
/// processes once they were read.
pub type ShowSocket = fn(&Socket, Option<&SocketOwners>) -> Value;

/// What the daemon is given by its caller besides options.
pub struct Hooks {
    /// Reads the configuration again (SIGHUP).
    pub reload: Reload,
    /// The socket object of every record.
    pub socket: ShowSocket,
    /// The `schema` of every record.
    pub schema: u32,
}

/// The `--check` lines of `cfg`, read from `path`: it is valid, how often it scans, its rules.
pub fn check(
    out: &mut dyn Write,
    lang: Lang,
    path: &std::path::Path,
    cfg: &Config,
) -> std::io::Result<()> {
    let t = |m: ReapMsg, args: &[&str]| i18n::reap(lang, m, args);
    let dry = |on: bool, m: ReapMsg| if on { t(m, &[]) } else { String::new() };
    let head = t(
        ReapMsg::CheckOk,
        &[
            &path.display().to_string(),
            &cfg.rules.len().to_string(),
            &format!("{:?}", cfg.interval),
            &dry(cfg.dry_run, ReapMsg::CheckDryRun),
        ],
    );
    writeln!(out, "{head}")?;
    for r in &cfg.rules {
        let line = t(
            ReapMsg::CheckRule,
            &[
                &r.name,
                &r.selector_text,
                &dry(r.dry_run, ReapMsg::RuleDryRun),
            ],
        );
        writeln!(out, "{line}")?;
    }
    Ok(())
}
