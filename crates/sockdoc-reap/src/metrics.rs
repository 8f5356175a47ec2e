//! The daemon's counters on `/metrics` (prefix `sockdoc_reap_`), rendered with prometheus-client and
//! served by `sockdoc_serve::http` on a thread of its own. Bounded labels only: rules, reasons and
//! outcomes, never a socket.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sockdoc_serve::http;
use sockdoc_serve::web::WebConfig;

use crate::error::ReapError;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RuleLabels {
    pub rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KillLabels {
    pub rule: String,
    pub reason: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OutcomeLabels {
    pub rule: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SpareLabels {
    pub rule: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReloadLabels {
    pub outcome: String,
}

type GaugeF = Gauge<f64, AtomicU64>;

/// The daemon's counters; clones share their values with the registry the HTTP thread renders.
#[derive(Clone, Default)]
pub(crate) struct Metrics {
    pub scans: Counter,
    pub scan_errors: Counter,
    pub scan_seconds: GaugeF,
    pub census_sockets: Gauge,
    pub tracked: Gauge,
    pub forgotten: Counter,
    pub matched: Family<RuleLabels, Gauge>,
    pub connections: Family<RuleLabels, Gauge>,
    pub kills: Family<KillLabels, Counter>,
    pub keepalive: Family<OutcomeLabels, Counter>,
    pub spared: Family<SpareLabels, Counter>,
    pub deferred: Counter,
    pub reloads: Family<ReloadLabels, Counter>,
    pub dry_run: Gauge,
    pub rss: Gauge,
}

impl Metrics {
    fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix("sockdoc_reap");
        sockdoc_serve::build_info(&mut r);
        let m = self.clone();
        r.register("scans", "Scans run", m.scans);
        r.register(
            "scan_errors",
            "Scans that failed (census error)",
            m.scan_errors,
        );
        r.register(
            "scan_duration_seconds",
            "Time the last scan took (census, decisions, actions)",
            m.scan_seconds,
        );
        r.register(
            "census_sockets",
            "Sockets the last census returned (after the kernel filter)",
            m.census_sockets,
        );
        r.register(
            "tracked_sockets",
            "Sockets remembered by cookie (age, flags)",
            m.tracked,
        );
        r.register(
            "forgotten_sockets",
            "Cookies forgotten because they vanished",
            m.forgotten,
        );
        r.register(
            "rule_sockets",
            "Sockets each rule selected in the last scan",
            m.matched,
        );
        r.register(
            "rule_connections",
            "ESTABLISHED and CLOSE-WAIT connections of each rule in the last scan",
            m.connections,
        );
        r.register(
            "kills",
            "Kill decisions by rule, reason and outcome (killed, gone, failed, would-kill)",
            m.kills,
        );
        r.register(
            "keepalive",
            "Keepalive retrofits by rule and outcome (set, failed, would-set)",
            m.keepalive,
        );
        r.register(
            "spared",
            "Sockets a rule would close that were spared (never-kill, own-ssh), counted once each",
            m.spared,
        );
        r.register(
            "deferred",
            "Kills left for a later scan by max_kills_per_interval",
            m.deferred,
        );
        r.register(
            "config_reloads",
            "SIGHUP reloads by outcome (reloaded, rejected)",
            m.reloads,
        );
        r.register(
            "dry_run",
            "1 when the whole configuration is a dry run",
            m.dry_run,
        );
        r.register(
            "resident_memory_bytes",
            "The daemon's resident memory at the last scan",
            m.rss,
        );
        r
    }

    /// Count one reload by its outcome (`reloaded`, `rejected`).
    pub fn reload(&self, outcome: &str) {
        self.reloads
            .get_or_create(&ReloadLabels {
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Serve these counters on `/metrics` (and `/healthz`) at `addr` from a thread of their own,
    /// until the process exits, with TLS and authentication when `web` says so; the address bound,
    /// and the endpoint (to give it a reloaded web configuration).
    pub fn serve(
        &self,
        addr: &str,
        web: Option<WebConfig>,
    ) -> Result<(SocketAddr, http::Endpoint), ReapError> {
        let listen_err = |source| ReapError::MetricsListen {
            addr: addr.to_string(),
            source,
        };
        let listener = TcpListener::bind(addr).map_err(listen_err)?;
        let local = listener.local_addr().map_err(listen_err)?;
        let registry = self.registry();
        let render: http::Render = Arc::new(move || {
            let mut text = String::new();
            encode(&mut text, &registry)
                .map(|()| text)
                .map_err(|e| format!("cannot encode metrics: {e}"))
        });
        let endpoint = http::spawn(listener, render, web).map_err(ReapError::MetricsHttp)?;
        Ok((local, endpoint))
    }
}

/// The daemon's resident memory, from /proc/self/statm.
pub(crate) fn rss_bytes() -> i64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|t| t.split_whitespace().nth(1)?.parse::<i64>().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * i64::from(page.max(1) as i32)
}
