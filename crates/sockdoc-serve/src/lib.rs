//! sockdoc-serve: the Prometheus/OpenMetrics exporter behind `sockdoc serve`, and the HTTP endpoint it
//! shares with `sockdoc reap`.
//!
//! - [`serve`]: binds the address, then answers `/metrics` with one namespace's census (through
//!   `sockdoc_core::session::Session`) until the caller's `stopped` says so;
//! - [`http`]: the hardened HTTP/1.1 endpoint (`/metrics`, `/healthz`), which knows nothing of what
//!   the metrics say (reap serves its own through [`http::spawn`]);
//! - [`exposition`]: OpenMetrics or the Prometheus text 0.0.4, as the client's `Accept` asks;
//! - [`web`]: the web configuration file (node_exporter's `--web.config.file`: TLS, basic auth);
//! - `exporter`: one scrape (cheap dumps every time, the doctor's census and the /proc owner walk on
//!   their own cadences) turned into one `metrics::Shown` value;
//! - `counts`: `ScrapeCounts`, what a scrape counts as sockets stream in (nothing kept per socket);
//! - `metrics`: the metric families, rendered once with prometheus-client, one file per group;
//! - [`ServeError`]: why it could not start or answer, one line each; [`Options`], [`Hooks`] and
//!   [`NamespaceWatch`]: what the caller gives it.
//!
//! Bounded label sets only (per state, per listening port, per process, per unit and per container,
//! top K): never a label per connection. It never changes the system, never enters a namespace itself (the session does), and
//! never prints anything but the log lines it hands to the caller's `log`.

mod counts;
mod error;
mod exporter;
pub mod exposition;
mod history;
pub mod http;
mod metrics;
pub mod web;

use std::fmt;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sockdoc_core::i18n::serve::{text, ServeMsg};
use sockdoc_core::i18n::Lang;
use sockdoc_core::session::{Needs, Plan, Refresh, Scope, Session};
use sockdoc_proc::Netns;

pub use error::ServeError;
use exporter::Exporter;
use web::WebConfig;

/// Register `build_info{version,revision,rustc} 1` (node_exporter's habit) in `reg`: `serve` has it
/// as `sockdoc_build_info`, `reap` as `sockdoc_reap_build_info`.
pub fn build_info(reg: &mut prometheus_client::registry::Registry) {
    metrics::build_info(reg);
}

/// How often the expensive parts run, how much is shown, and where.
#[derive(Clone, Debug)]
pub struct Options {
    /// Address to listen on (`127.0.0.1:9717`).
    pub listen: String,
    /// Rows per bounded label set (listening ports, processes, units, containers).
    pub top_k: usize,
    /// How often the /proc owner walk runs (zero: every scrape).
    pub owners_every: Duration,
    /// How often the doctor's census runs (zero: every scrape).
    pub doctor_every: Duration,
    /// Silence after which a connection without keepalive is a ghost suspect (default: the
    /// kernel's keepalive window).
    pub idle_ms: Option<u64>,
    /// The language of the log lines.
    pub lang: Lang,
    /// The directory `sockdoc record` writes: the first-seen time of each listening port's oldest
    /// connection is exported from its index.
    pub history: Option<std::path::PathBuf>,
    /// TLS and basic authentication (`--web.config.file`), loaded by the caller; read again on
    /// SIGHUP.
    pub web: Option<WebConfig>,
}

/// What the exporter needs from the watch on its pinned namespace, which the caller runs (it logs,
/// and stops the caller when the namespace goes away unless it follows a recreated name).
pub trait NamespaceWatch: Send + Sync {
    /// The namespace to switch to, once, when following a recreated name.
    fn take_switch(&self) -> Option<Netns>;
    /// Switches taken so far.
    fn changes(&self) -> u64;
}

/// A log line for the service log (stderr): it must never panic, a line that cannot be written is
/// dropped.
pub type Log = fn(fmt::Arguments<'_>);

/// What the exporter is given by its caller besides options.
pub struct Hooks {
    /// The watch on the namespace.
    pub watch: Box<dyn NamespaceWatch>,
    /// True once the exporter should stop (SIGINT, SIGTERM, the namespace went away).
    pub stopped: fn() -> bool,
    /// True once per SIGHUP: read the web configuration again.
    pub hup: fn() -> bool,
    /// Where log lines go.
    pub log: Log,
}

/// Serve metrics for `ns` on `opts.listen` until `hooks.stopped` says so. Work happens only when
/// scraped: an exporter nobody scrapes costs nothing.
pub fn serve(ns: Netns, opts: Options, hooks: Hooks) -> Result<(), ServeError> {
    let listen_err = |source| ServeError::Listen {
        addr: opts.listen.clone(),
        source,
    };
    let listener = TcpListener::bind(&opts.listen).map_err(listen_err)?;
    let addr = listener.local_addr().map_err(listen_err)?;
    // Every scrape runs its dumps and walks on fresh threads; with one malloc arena they reuse the
    // memory the previous scrape freed instead of each keeping an arena of its own.
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only tunes the allocator; called before any scrape thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    // The doctor's census: tcp_info, no walk of its own (it uses the cached owners, read on their
    // own cadence before a scrape's dumps, which attribute sockets as they arrive).
    let doctor_plan = Plan::everything(Needs {
        owners: false,
        tcp_info: true,
        cgroups: false,
    });
    let session = Session::new(
        Scope::one(ns.clone()),
        doctor_plan,
        Refresh::Every(opts.owners_every),
    )
    .map_err(ServeError::OwnerReader)?;
    let (label, lang) = (ns.label(), opts.lang);
    let log = hooks.log;
    let mut web = opts.web.clone();
    // The HTTP thread runs one scrape at a time; the lock only guards against a scrape that outlived
    // its client overlapping the next.
    let exporter = Mutex::new(Exporter::new(ns, hooks.watch, opts, session, log));
    let render: http::Render = Arc::new(move || {
        let mut e = exporter.lock().unwrap_or_else(|p| p.into_inner());
        e.scrape_and_trim().map_err(|f| f.to_string())
    });
    let endpoint = http::spawn(listener, render, web.clone()).map_err(ServeError::Http)?;
    let scheme = http::scheme(web.as_ref());
    let serving = text(
        lang,
        ServeMsg::Serving,
        &[scheme, &addr.to_string(), &label],
    );
    log(format_args!("{serving}"));
    if let Some(w) = http::exposure_warning(addr, lang, web.as_ref()) {
        log(format_args!("{w}"));
    }
    while !(hooks.stopped)() {
        std::thread::sleep(Duration::from_millis(50));
        if (hooks.hup)() {
            reload_web(&mut web, &endpoint, lang, log);
        }
    }
    Ok(())
}

/// SIGHUP: the web configuration read again for the next connections; a bad one is logged and the
/// old one kept (no web configuration: nothing to read).
fn reload_web(web: &mut Option<WebConfig>, endpoint: &http::Endpoint, lang: Lang, log: Log) {
    let Some(old) = web.as_ref() else {
        return;
    };
    match old.reload() {
        Ok(new) => {
            let path = new.path().display().to_string();
            endpoint.set_web(Some(new.clone()));
            *web = Some(new);
            log(format_args!(
                "{}",
                text(lang, ServeMsg::WebReloaded, &[&path])
            ));
        }
        Err(e) => log(format_args!(
            "{}",
            text(lang, ServeMsg::WebRejected, &[&e.words(lang)])
        )),
    }
}
