//! The metric families `/metrics` answers, rendered once from one [`Shown`] value with
//! prometheus-client, one file per group: [`sockets`] (by state), [`ports`] (per listening port),
//! [`processes`] (per process name), [`doctor`] (findings and ghost suspects), [`kernel`] (counters,
//! conntrack, TIME-WAIT and ephemeral port limits) and [`about`] (the exporter's own state).
//! Kernel counters are exported raw as counters: Prometheus computes their rates.

mod about;
mod doctor;
mod kernel;
mod ports;
mod processes;
mod sockets;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use prometheus_client::encoding::text::encode as encode_text;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sockdoc_core::doctor::Finding;
use sockdoc_proc::SocketOwners;

use crate::counts::ScrapeCounts;
use crate::exporter::Kernel;

type FloatGauge = Gauge<f64, AtomicU64>;

/// Everything one scrape shows: this scrape's readings and the last full census, with how old each
/// cached part is.
pub(crate) struct Shown<'a> {
    /// This scrape's counts (the full census's when it ran in this scrape).
    pub now: &'a ScrapeCounts,
    /// The last full census (per-connection counts: ESTABLISHED per port, sockets per process,
    /// ephemeral ports per destination).
    pub full: &'a ScrapeCounts,
    /// Rows per bounded label set.
    pub top_k: usize,
    /// The last /proc walk (socket inode -> process), and when it finished.
    pub owners: Option<&'a SocketOwners>,
    pub owners_at: Option<Instant>,
    /// The last doctor run's findings, and when it ran.
    pub findings: &'a [Finding],
    pub doctor_at: Option<Instant>,
    /// Keepalive coverage per listening port, from the last doctor run.
    pub coverage: HashMap<u16, f64>,
    /// Ghost suspects at the last doctor run.
    pub ghosts: i64,
    /// This scrape's kernel readings.
    pub kernel: &'a Kernel,
    /// Scrapes run so far.
    pub scrapes: u64,
    /// The namespace scraped (its inode), and how often a recreated name was followed.
    pub netns_inode: u64,
    pub netns_changes: u64,
    /// When this scrape began.
    pub started: Instant,
}

/// The OpenMetrics text of a scrape.
pub(crate) fn encode(s: &Shown) -> Result<String, std::fmt::Error> {
    let mut reg = Registry::with_prefix("sockdoc");
    sockets::by_state(&mut reg, s);
    ports::register(&mut reg, s);
    processes::register(&mut reg, s);
    doctor::ghost_suspects(&mut reg, s);
    sockets::time_wait(&mut reg, s);
    kernel::register(&mut reg, s);
    doctor::findings(&mut reg, s);
    about::register(&mut reg, s);
    let mut text = String::new();
    encode_text(&mut text, &reg)?;
    Ok(text)
}

/// A gauge holding `v`.
fn gauge(v: i64) -> Gauge {
    let g = Gauge::<i64>::default();
    g.set(v);
    g
}

/// A count as a gauge value (saturating).
fn num<T: TryInto<i64>>(v: T) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}
