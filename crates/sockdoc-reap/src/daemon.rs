//! The daemon's life: start (metrics, signals, the start record and line), the loop (follow a
//! recreated namespace, scan, wait, reload on SIGHUP), and the stop record, also when a failure ends
//! it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use sockdoc_act::audit::uid;
use sockdoc_core::i18n::serve::{text, ServeMsg};
use sockdoc_core::i18n::{self, ReapMsg};
use sockdoc_core::reap::{Config, OwnSsh, Tracker};
use sockdoc_core::session::{Needs, Plan, Protocols, Refresh, Scope, Session};
use sockdoc_diag::DiagSocket;
use sockdoc_proc::Netns;
use sockdoc_runtime::log_line;
use sockdoc_runtime::signals;
use sockdoc_runtime::watch::{NsWatch, OnLost};
use sockdoc_serve::http;

use crate::error::{log_name, ReapError};
use crate::metrics::{rss_bytes, Metrics};
use crate::scan::ScanError;
use crate::sink::{rules, Records, Sink};
use crate::{Hooks, Options, Reload, ShowSocket};

/// Keep the daemon's memory flat across scans (glibc): buffers of 256 KiB and more (the census) are
/// mmapped and given back to the kernel when freed, instead of growing the heap arenas of the dump
/// threads that filled them; at most two arenas.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before the daemon's threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Give freed heap pages back to the kernel after a scan (glibc).
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The census of a scan: every socket some rule selects (the rules' selectors as one tree).
fn plan(cfg: &Config) -> Plan {
    let needs = Needs {
        owners: cfg.needs_processes(),
        tcp_info: true,
        cgroups: cfg.needs_services(),
    };
    Plan::for_filter(Protocols::default(), cfg.census_selector(), needs)
}

/// The running daemon: what a scan reads, decides with and writes to.
pub(crate) struct Daemon<'a> {
    pub ns: Netns,
    pub cfg: Config,
    pub out: Records<'a>,
    pub opts: Options,
    pub socket: ShowSocket,
    reload: Reload,
    pub metrics: Metrics,
    /// Owners are read with a scan only when a rule's selector needs them, else lazily, at most once
    /// per scan, when an act does.
    pub session: Session,
    pub tracker: Tracker,
    /// Opened in the namespace at the first live kill; dropped when the namespace changes.
    pub diag: Option<DiagSocket>,
    pub own_ssh: Option<OwnSsh>,
    pub epoch: Instant,
    /// The wall clock (ms since the epoch) at `epoch`: the daemon's clock is `base_ms` plus the
    /// monotonic time since, so the recorder's first-seen times read on it.
    pub base_ms: u64,
    /// The `/metrics` endpoint, when on (a reloaded web configuration goes to it).
    endpoint: Option<http::Endpoint>,
}

/// Run the daemon with `cfg` (loaded and checked by the caller) in `ns`, its records to `sink`,
/// until SIGINT/SIGTERM or its namespace goes away (see the crate's doc).
pub fn run(
    ns: Netns,
    cfg: Config,
    sink: Sink<'_>,
    opts: Options,
    hooks: Hooks,
) -> Result<(), ReapError> {
    tune_allocator();
    let metrics = Metrics::default();
    let served = opts
        .metrics
        .as_deref()
        .map(|a| metrics.serve(a, opts.web.clone()))
        .transpose()?;
    let (bound, endpoint) = served.map_or((None, None), |(b, e)| (Some(b), Some(e)));
    signals::install();
    signals::install_hup();
    let session = Session::new(Scope::one(ns.clone()), plan(&cfg), Refresh::Lazy)
        .map_err(ReapError::OwnerReader)?;
    let (tracker, known) = remembered(opts.history.as_deref());
    let mut d = Daemon {
        ns,
        cfg,
        out: Records {
            sink,
            schema: hooks.schema,
        },
        opts,
        socket: hooks.socket,
        reload: hooks.reload,
        metrics,
        session,
        tracker,
        diag: None,
        own_ssh: OwnSsh::from_env(),
        epoch: Instant::now(),
        base_ms: sockdoc_record::when::now_ms(),
        endpoint,
    };
    d.start_record(bound, known)?;
    let r = d.announce(bound).and_then(|()| d.run_loop());
    if let Err(e) = &r {
        // A daemon that started leaves a stop record however it ends; when the failure was the log
        // itself this one may fail too, and the failure already says why.
        let _ = d.out.write(json!({
            "action": "stop",
            "scans": d.metrics.scans.get(),
            "reason": "error",
            "error": e.to_string(),
        }));
        let _ = d.out.flush();
    }
    r
}

/// A tracker that knows the first-seen times of the recorder's index in `history` (when there is
/// one, of this boot), and how many it knows. Ages count from them across the daemon's restarts.
fn remembered(history: Option<&std::path::Path>) -> (Tracker, usize) {
    let mut t = Tracker::new();
    let Some(Ok(Some(index))) = history.map(sockdoc_record::read_index) else {
        return (t, 0);
    };
    let map = index.into_map();
    let n = map.len();
    for (cookie, first_seen_ms) in map {
        t.know(cookie, first_seen_ms);
    }
    (t, n)
}

impl Daemon<'_> {
    fn start_record(&mut self, bound: Option<SocketAddr>, known: usize) -> Result<(), ReapError> {
        let cfg = &self.cfg;
        let own_ssh = std::env::var("SSH_CONNECTION")
            .ok()
            .filter(|_| self.own_ssh.is_some());
        self.out.write(json!({
            "action": "start",
            "pid": std::process::id(),
            "uid": uid(),
            "config": self.opts.config.display().to_string(),
            "netns": self.ns.label(),
            "rules": rules(cfg),
            "interval_ms": cfg.interval.as_millis() as u64,
            "dry_run": cfg.dry_run,
            "max_kills_per_interval": cfg.max_kills_per_interval,
            "never_kill": cfg.never_kill.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
            "metrics": bound.map(|b| b.to_string()),
            "own_ssh": own_ssh,
            "history": self.opts.history.as_ref().map(|p| p.display().to_string()),
            "first_seen_known": known,
        }))
    }

    /// The start record made durable, the start line on stderr.
    fn announce(&mut self, bound: Option<SocketAddr>) -> Result<(), ReapError> {
        self.out.flush()?;
        let lang = self.opts.lang;
        let web = self.opts.web.as_ref();
        let metrics = bound.map_or(String::new(), |b| {
            i18n::reap(
                lang,
                ReapMsg::MetricsOn,
                &[http::scheme(web), &b.to_string()],
            )
        });
        let line = i18n::reap(
            lang,
            ReapMsg::Started,
            &[
                &self.cfg.rules.len().to_string(),
                &format!("{:?}", self.cfg.interval),
                &self.ns.label(),
                &metrics,
                &log_name(lang, self.out.path()),
                &self.opts.config.display().to_string(),
            ],
        );
        log_line!("{line}");
        if let Some(w) = bound.and_then(|a| http::exposure_warning(a, lang, web)) {
            log_line!("{w}");
        }
        Ok(())
    }

    /// Scan every interval until stopped; then the stop record.
    fn run_loop(&mut self) -> Result<(), ReapError> {
        // Pinned to the namespace of the start line: a recreated name stops the daemon (exit 69) or,
        // with --follow-netns, is followed deliberately, with its own log line.
        let (follow, lang) = (self.opts.follow_netns, self.opts.lang);
        let watch = NsWatch::start(follow, &self.ns, "reap", OnLost::Stop, lang);
        loop {
            let started = Instant::now();
            if let Some(new) = watch.take_switch() {
                self.follow(new)?;
            }
            self.scan_once()?;
            self.metrics.scans.inc();
            self.metrics
                .scan_seconds
                .set(started.elapsed().as_secs_f64());
            self.metrics.rss.set(rss_bytes());
            self.out.flush()?;
            // Wait for the next scan, answering signals within 50 ms.
            let next = started + self.cfg.interval;
            while Instant::now() < next && !signals::stopped() && !signals::hup_pending() {
                std::thread::sleep(
                    Duration::from_millis(50).min(next.saturating_duration_since(Instant::now())),
                );
            }
            if signals::stopped() || watch.lost().is_some() {
                break;
            }
            if signals::take_hup() {
                self.reload_config()?;
                self.reload_web();
            }
        }
        watch.finish();
        let lost = watch.lost();
        let recorded = watch.lost_recorded();
        self.out.write(json!({
            "action": "stop",
            "scans": self.tracker.scans(),
            "reason": recorded.as_deref().unwrap_or("SIGINT or SIGTERM"),
        }))?;
        self.out.flush()?;
        match lost {
            Some(line) => Err(ReapError::Lost(line)),
            None => Ok(()),
        }
    }

    /// Move to the namespace a recreated name now means (--follow-netns).
    fn follow(&mut self, new: Netns) -> Result<(), ReapError> {
        self.out.write(json!({
            "action": "netns",
            "outcome": "followed",
            "from": self.ns.label(),
            "to": new.label(),
        }))?;
        self.out.flush()?;
        self.ns = new.clone();
        self.session.switch(new);
        // The old namespace's sock_diag socket must not act in the new one.
        self.diag = None;
        Ok(())
    }

    /// One scan: a failed census is logged and recorded, and tried again next interval.
    fn scan_once(&mut self) -> Result<(), ReapError> {
        self.metrics.dry_run.set(i64::from(self.cfg.dry_run));
        let r = self.scan();
        trim_heap();
        match r {
            Ok(()) => Ok(()),
            Err(ScanError::Fatal(e)) => Err(e),
            Err(ScanError::Census(msg)) => {
                self.metrics.scan_errors.inc();
                log_line!(
                    "{}",
                    i18n::reap(self.opts.lang, ReapMsg::ScanFailed, &[&msg])
                );
                self.out.write(json!({"action": "error", "error": msg}))
            }
        }
    }

    /// SIGHUP: read the web configuration again for the next connections to `/metrics`; a bad one
    /// is logged and the old one kept.
    fn reload_web(&mut self) {
        let (Some(endpoint), Some(old)) = (&self.endpoint, &self.opts.web) else {
            return;
        };
        let lang = self.opts.lang;
        match old.reload() {
            Ok(new) => {
                let path = new.path().display().to_string();
                endpoint.set_web(Some(new.clone()));
                self.opts.web = Some(new);
                log_line!("{}", text(lang, ServeMsg::WebReloaded, &[&path]));
            }
            Err(e) => log_line!("{}", text(lang, ServeMsg::WebRejected, &[&e.words(lang)])),
        }
    }

    /// SIGHUP: read the configuration again; a bad one is rejected and the old one kept.
    fn reload_config(&mut self) -> Result<(), ReapError> {
        let lang = self.opts.lang;
        let config = self.opts.config.display().to_string();
        match (self.reload)(&self.ns) {
            Ok(c) => {
                let restart_needed = c.metrics != self.cfg.metrics || c.log != self.cfg.log;
                self.session.plan = plan(&c);
                self.cfg = c;
                self.metrics.reload("reloaded");
                self.out.write(json!({
                    "action": "config",
                    "outcome": "reloaded",
                    "config": config,
                    "rules": rules(&self.cfg),
                    "interval_ms": self.cfg.interval.as_millis() as u64,
                    "note": restart_needed.then_some("metrics and log changes take effect at the next start"),
                }))?;
                log_line!("{}", i18n::reap(lang, ReapMsg::Reloaded, &[&config]));
            }
            Err(error) => {
                self.metrics.reload("rejected");
                self.out.write(json!({
                    "action": "config",
                    "outcome": "rejected",
                    "config": config,
                    "error": error,
                    "kept": "the previous configuration",
                }))?;
                log_line!("{}", i18n::reap(lang, ReapMsg::Rejected, &[&error]));
            }
        }
        self.out.flush()
    }
}
