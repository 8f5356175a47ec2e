//! `sockdoc serve`: the flags wired to the exporter (`sockdoc_serve::serve`), which answers
//! `/metrics` and `/healthz` on loopback by default; its failures mapped to exit codes.

use std::io::Write;

use sockdoc_core::i18n::{text, Msg};
use sockdoc_proc::Netns;
use std::path::Path;

use sockdoc_core::i18n::Lang;
use sockdoc_serve::web::WebConfig;
use sockdoc_serve::{Hooks, NamespaceWatch, Options, ServeError};

use crate::cli::{Global, ServeArgs};
use crate::cmd::doctor::parse_duration;
use crate::error::{Exit, Failure};
use crate::{scope, signals};

pub fn run(g: &Global, a: &ServeArgs, _out: &mut dyn Write) -> Result<Exit, Failure> {
    let lang = g.lang();
    let opts = Options {
        listen: a.listen.clone(),
        top_k: a.top_k,
        owners_every: parse_duration(lang, "--owners-every", &a.owners_every)?,
        doctor_every: parse_duration(lang, "--doctor-every", &a.doctor_every)?,
        idle_ms: a
            .idle
            .as_deref()
            .map(|t| parse_duration(lang, "--idle", t))
            .transpose()?
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        lang,
        history: Some(a.history.clone()),
        web: a
            .web_config_file
            .as_deref()
            .map(|p| web_config(lang, p))
            .transpose()?,
    };
    let ns = scope::one_namespace(g, || {
        Failure::usage(text(lang, Msg::ServeOneNamespace, &[]))
    })?;
    // Pinned: a recreated name stops the exporter (exit 69) unless --follow-netns.
    let watch = scope::watch(g, &ns, "serve", scope::OnLost::Stop);
    signals::install();
    signals::install_hup();
    let hooks = Hooks {
        watch: Box::new(Watch(watch.clone())),
        stopped: signals::stopped,
        hup: signals::take_hup,
        log: crate::log::line,
    };
    let served = sockdoc_serve::serve(ns, opts, hooks);
    watch.finish();
    served.map_err(failure)?;
    match scope::lost(&watch) {
        Some(f) => Err(f),
        None => Ok(Exit::Ok),
    }
}

/// The web configuration file (`--web.config.file`), read and checked: a file that cannot be read
/// exits as the reap configuration's would (missing 66, not permitted 77), anything wrong in it 64.
pub(crate) fn web_config(lang: Lang, path: &Path) -> Result<WebConfig, Failure> {
    WebConfig::load(path).map_err(|e| match e.file_error() {
        Some((file, error)) => crate::cmd::reap::unreadable(lang, file, error),
        None => Failure::usage(e.words(lang)),
    })
}

/// The command line's namespace watch, as the exporter sees it.
struct Watch(scope::NsWatch);

impl NamespaceWatch for Watch {
    fn take_switch(&self) -> Option<Netns> {
        self.0.take_switch()
    }

    fn changes(&self) -> u64 {
        self.0.changes()
    }
}

/// The exporter's failures as exit codes: the census's and the namespace's as every command maps
/// them, the rest (listening, the HTTP server, the owner walk) 74.
fn failure(e: ServeError) -> Failure {
    match e {
        ServeError::Census(c) => Failure::census(c),
        ServeError::Netns(n) => Failure::netns(n),
        other => Failure::new(Exit::Io, other.to_string()),
    }
}
